set -x
W=dense_s0_e5.safetensors
./bpr-convert to-checkpoint --model lenet5 --weights $W --out dense_s0_e5.ckpt
for s in 0.98 0.99; do ./bpr-convert prune --model lenet5 --weights $W --sparsity $s --out bprmask_$s.safetensors --torch-names; done
./bpr-prune-old --model lenet5 --checkpoint dense_s0_e5.ckpt --val 0 --seed 1 --threads 1 --quiet --allocation global --sweep 98,99 --finetune-epochs 0 --json bpr_ft0.json
/usr/bin/python3 torch_side.py $W --finetune-epochs 2 --save-masks torchmask_{s}.safetensors
./bpr-prune-old --model lenet5 --checkpoint dense_s0_e5.ckpt --val 0 --seed 1 --threads 1 --quiet --allocation global --sweep 98,99 --finetune-epochs 2 --json bpr_ft2.json
