import sys, torch
sys.path.insert(0, "/work/main/tools")
from torch_roundtrip import load_safetensors
names = ["conv1", "conv2", "fc1", "fc2", "fc3"]
w = load_safetensors(sys.argv[1])
for s in ["0.98", "0.99"]:
    t = load_safetensors(f"/work/scratch/gap/torchmask_{s}.safetensors")
    b = load_safetensors(f"/work/scratch/gap/bprmask_{s}.safetensors")
    print(s, "torch", {n: int(t[n + ".weight_mask"].sum()) for n in names})
    print(s, "bpr  ", {n: int(b[n + ".weight_mask"].sum()) for n in names})
    for n in names:
        tm, bm = t[n + ".weight_mask"].bool(), b[n + ".weight_mask"].bool()
        d = (tm != bm).nonzero()
        if len(d):
            print("  differ", n, [(tuple(i.tolist()), float(w[n + ".weight"][tuple(i)].abs()), bool(tm[tuple(i)])) for i in d])
    # threshold
    allw = torch.cat([w[n + ".weight"].abs().flatten() for n in names]).sort(descending=True).values
    k = int(sum(t[n + ".weight_mask"].sum() for n in names))
    print("  kth magnitudes around cut:", allw[k-3:k+3].tolist())
