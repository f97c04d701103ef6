import sys
sys.path.insert(0, "/work/main/tools")
from torch_roundtrip import load_safetensors
names = ["conv1", "conv2", "fc1", "fc2", "fc3"]
for label, dense, masks in [("torch init, torch-trained (seed 0)", "dense_s0_e5.safetensors", "bprmask_{s}.safetensors"),
                            ("bpr-prune before fix: He init (seed 1)", "dense_bpr_old.safetensors", "bprmask_old_{s}.safetensors"),
                            ("bpr-prune after fix: PyTorch init (seed 1)", "dense_bpr_new.safetensors", "bprmask_new_{s}.safetensors")]:
    try:
        w = load_safetensors("/work/scratch/gap/" + dense)
    except FileNotFoundError:
        continue
    print(label)
    print("  mean |w|:", {n: round(float(w[n + ".weight"].abs().mean()), 4) for n in names})
    for s in ["0.98", "0.99"]:
        m = load_safetensors("/work/scratch/gap/" + masks.format(s=s))
        print(f"  survivors at {s}:", {n: int(m[n + ".weight_mask"].sum()) for n in names})
