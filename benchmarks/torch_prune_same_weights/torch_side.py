# Prune a given dense LeNet-5 (safetensors) with torch global L1 at each sparsity, report per-layer
# survivors, accuracy before and after fine-tuning, and save masks; optional variants of the fine-tune.
import argparse, json, sys, torch
import torch.nn as nn, torch.nn.functional as F, torch.nn.utils.prune as prune
sys.path.insert(0, "/work/main/benchmarks"); sys.path.insert(0, "/work/main/tools")
import torch_prune_baseline as b
from torch_roundtrip import load_safetensors, save_safetensors

p = argparse.ArgumentParser()
p.add_argument("weights"); p.add_argument("--sparsities", type=float, nargs="+", default=[0.98, 0.99])
p.add_argument("--finetune-epochs", type=int, default=2); p.add_argument("--seed", type=int, default=1000)
p.add_argument("--drop-last", action="store_true"); p.add_argument("--bpr-masks", default=None,
               help="format string with {s} (e.g. m_{s}.safetensors): use bpr's masks instead of torch's")
p.add_argument("--save-masks", default=None); p.add_argument("--runs", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(1)
train, test = b.load("/usr/share/datasets/fashion-mnist", "train"), b.load("/usr/share/datasets/fashion-mnist", "test")
state = {k: v.float() for k, v in load_safetensors(a.weights).items()}
names = ["conv1", "conv2", "fc1", "fc2", "fc3"]

def run_epochs(model, data, epochs, lr, wd, seed, batch=128, drop_last=False):
    images, labels = data
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    n = len(labels); nb = n // batch if drop_last else (n + batch - 1) // batch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * nb)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for j in range(nb):
            idx = order[j * batch:(j + 1) * batch]
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()

dense = b.LeNet5(); dense.load_state_dict(state)
print(json.dumps({"dense_accuracy": b.accuracy(dense, test)}), flush=True)
for s in a.sparsities:
    for r in range(a.runs):
        m = b.LeNet5(); m.load_state_dict(state)
        params = [(getattr(m, n), "weight") for n in names]
        if a.bpr_masks:
            bm = load_safetensors(a.bpr_masks.format(s=s))
            for n in names:
                prune.custom_from_mask(getattr(m, n), "weight", bm[n + ".weight_mask"].float())
        else:
            prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=s)
        per_layer = {n: int(getattr(m, n).weight_mask.sum()) for n in names}
        if a.save_masks and r == 0:
            save_safetensors(a.save_masks.format(s=s), {n + ".weight_mask": getattr(m, n).weight_mask for n in names})
        before = b.accuracy(m, test)
        run_epochs(m, train, a.finetune_epochs, 0.01, 5e-4, a.seed + r, drop_last=a.drop_last)
        after = b.accuracy(m, test)
        print(json.dumps({"sparsity": s, "seed": a.seed + r, "per_layer": per_layer, "kept": sum(per_layer.values()),
                          "before": before, "after": after, "drop_last": a.drop_last,
                          "masks": "bpr" if a.bpr_masks else "torch"}), flush=True)
