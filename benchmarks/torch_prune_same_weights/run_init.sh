set -x
cd /work/scratch && time nice -n 5 cmake --build gap-build --target bpr_example_prune -j1 2>&1 | tail -2
cp gap-build/examples/bpr-prune gap/bpr-prune-new
cd gap
for v in old new; do
  ./bpr-prune-$v --model lenet5 --train-epochs 5 --val 0 --seed 1 --threads 1 --quiet --allocation global --sweep 98,99 --finetune-epochs 2 --save-dense dense_bpr_$v.ckpt --json bpr_$v.json
  ./bpr-convert from-checkpoint --model lenet5 --checkpoint dense_bpr_$v.ckpt --out dense_bpr_$v.safetensors
  for s in 0.98 0.99; do ./bpr-convert prune --model lenet5 --weights dense_bpr_$v.safetensors --sparsity $s --out bprmask_${v}_$s.safetensors --torch-names; done
done
