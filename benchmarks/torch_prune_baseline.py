#!/usr/bin/env python3
"""The PyTorch peer for bpr's one-way pruning baseline (issue 3).

Trains LeNet-5 on Fashion-MNIST with PyTorch (CPU), then for each sparsity prunes a copy
with torch.nn.utils.prune.global_unstructured (L1, all conv and linear weights) and
fine-tunes it with the same recipe bpr uses, and prints test accuracies as JSON.

  /usr/bin/python3 benchmarks/torch_prune_baseline.py --seeds 0 1 2 --out results.json

Recipe (shared with bpr's baseline runs so the two are comparable):
  dense: SGD momentum 0.9, lr 0.05, weight decay 5e-4, cosine over --epochs, batch 128,
         no augmentation, inputs scaled to [0,1] and normalised with mean 0.2860 std 0.3530
  fine-tune: --finetune-epochs of SGD momentum 0.9, lr 0.01 cosine to 0, same batch.
"""
import argparse
import gzip
import json
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.utils.prune as prune

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(root, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(f"{root}/{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    labels = read_idx(f"{root}/{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    images = (images - MEAN) / STD
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def run_epochs(model, data, epochs, lr, wd, seed, batch=128):
    images, labels = data
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    steps = epochs * ((len(labels) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=gen)
        for i in range(0, len(labels), batch):
            idx = order[i:i + batch]
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()


@torch.no_grad()
def accuracy(model, data):
    model.eval()
    images, labels = data
    correct = 0
    for i in range(0, len(labels), 1000):
        correct += (model(images[i:i + 1000]).argmax(1) == labels[i:i + 1000]).sum().item()
    return 100.0 * correct / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.95, 0.98, 0.99])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load(args.root, "train"), load(args.root, "test")
    results = []
    for seed in args.seeds:
        torch.manual_seed(seed)
        model = LeNet5()
        start = time.time()
        run_epochs(model, train, args.epochs, 0.05, 5e-4, seed)
        dense = accuracy(model, test)
        row = {"seed": seed, "dense_accuracy": dense, "dense_seconds": time.time() - start}
        print(json.dumps(row), flush=True)
        for s in args.sparsities:
            pruned = LeNet5()
            pruned.load_state_dict(model.state_dict())
            params = [(m, "weight") for m in pruned.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
            prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=s)
            before = accuracy(pruned, test)
            run_epochs(pruned, train, args.finetune_epochs, 0.01, 5e-4, seed + 1000)
            after = accuracy(pruned, test)
            kept = sum(int(m.weight_mask.sum()) for m, _ in params)
            entry = {"seed": seed, "sparsity": s, "nonzeros": kept,
                     "accuracy_before_finetune": before, "test_accuracy": after}
            print(json.dumps(entry), flush=True)
            results.append(entry)
        results.append(row)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
