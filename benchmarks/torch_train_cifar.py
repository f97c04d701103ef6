#!/usr/bin/env python3
"""Train PyTorch's reference ResNet-20 (or VGG16) on CIFAR-10 binary files with bpr-train's recipe.

The accuracy side of the side-by-side with `bpr-train`: the same binary files, the same
model (tools/reference_models.py, option-A shortcuts, He-normal init of conv and linear
weights, zero biases), the same augmentation
(4-pixel zero-padded random crop + horizontal flip), per-channel normalization computed
from the training images, SGD momentum 0.9 with weight decay on every parameter, a
cosine schedule stepped per iteration down to 0, batch 128, the last smaller batch kept.
It prints one line per epoch and the final test accuracy; `--json FILE` writes them.

Usage (Debian python3-torch, CPU):
  /usr/bin/python3 benchmarks/torch_train_cifar.py DIR/cifar-10-batches-bin \
      --epochs 10 --lr 0.1 --wd 5e-4 --threads 1 --seed 1 --json torch.json
The matching bpr run:
  bpr-train --model resnet20 --data cifar10:DIR/cifar-10-batches-bin --augment \
      --epochs 10 --lr 0.1 --wd 5e-4 --threads 1 --seed 1 --json bpr.json
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from reference_models import ResNetCifar, Vgg16  # noqa: E402


def read_batches(directory, names):
    records = []
    for name in names:
        path = os.path.join(directory, name)
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size % 3073 != 0:
            sys.exit(f"{path}: {raw.size} bytes is not a whole number of 3073-byte records")
        records.append(raw.reshape(-1, 3073))
    records = np.concatenate(records)
    labels = torch.from_numpy(records[:, 0].astype(np.int64))
    images = torch.from_numpy(records[:, 1:].reshape(-1, 3, 32, 32).copy())
    return images, labels


def spread(images, labels, count):
    """`count` evenly spaced images (all if 0), as bpr-train's --train-images/--test-images."""
    n = images.shape[0]
    if count <= 0 or count >= n:
        return images, labels
    index = torch.arange(count) * n // count
    return images[index], labels[index]


def augment(images, generator):
    """Random crop of the 4-pixel zero-padded image and a horizontal flip, per image."""
    n = images.shape[0]
    padded = F.pad(images, (4, 4, 4, 4))  # zeros = black before normalization
    dy = torch.randint(0, 9, (n,), generator=generator)
    dx = torch.randint(0, 9, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = (dy[:, None] + torch.arange(32)[None, :])  # n x 32
    cols = (dx[:, None] + torch.arange(32)[None, :])
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    index = torch.arange(n)[:, None, None, None]
    channel = torch.arange(3)[None, :, None, None]
    return padded[index, channel, rows[:, None, :, None], cols[:, None, None, :]]


def evaluate(model, images, labels, mean, std, batch=500):
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, images.shape[0], batch):
            x = (images[i:i + batch].float() / 255 - mean) / std
            y = labels[i:i + batch]
            out = model(x)
            loss += F.cross_entropy(out, y, reduction="sum").item()
            correct += (out.argmax(1) == y).sum().item()
    return correct / images.shape[0], loss / images.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the cifar-10-batches-bin folder")
    parser.add_argument("--model", choices=["resnet20", "vgg16"], default="resnet20")
    parser.add_argument("--train-images", type=int, default=0)
    parser.add_argument("--test-images", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--wd", type=float, default=5e-4)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the per-epoch history here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train_x, train_y = read_batches(args.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    test_x, test_y = read_batches(args.data, ["test_batch.bin"])
    train_x, train_y = spread(train_x, train_y, args.train_images)
    test_x, test_y = spread(test_x, test_y, args.test_images)
    scaled = train_x.float() / 255
    mean = scaled.mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
    std = scaled.std(dim=(0, 2, 3), unbiased=False).view(1, 3, 1, 1)
    del scaled

    model = ResNetCifar(20) if args.model == "resnet20" else Vgg16()
    for module in model.modules():  # He init, as akamaster/pytorch_resnet_cifar10 does
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:  # bpr::initialize zeroes biases under He init
                torch.nn.init.zeros_(module.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                                weight_decay=args.wd)
    n = train_x.shape[0]
    steps_per_epoch = math.ceil(n / args.batch)
    total = steps_per_epoch * args.epochs
    history, step, start = [], 0, time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        seen, correct, loss_sum = 0, 0, 0.0
        for b in range(steps_per_epoch):
            idx = order[b * args.batch:(b + 1) * args.batch]
            x = (augment(train_x[idx], generator).float() / 255 - mean) / std
            y = train_y[idx]
            for group in optimizer.param_groups:
                group["lr"] = 0.5 * args.lr * (1 + math.cos(math.pi * step / total))
            out = model(x)
            loss = F.cross_entropy(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            seen += y.shape[0]
            correct += (out.argmax(1) == y).sum().item()
            loss_sum += loss.item() * y.shape[0]
        test_acc, test_loss = evaluate(model, test_x, test_y, mean, std)
        row = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
               "test_accuracy": test_acc, "test_loss": test_loss,
               "seconds": time.time() - start}
        history.append(row)
        print(f"epoch {epoch + 1}/{args.epochs} loss {row['train_loss']:.4f} "
              f"train {100 * row['train_accuracy']:.2f}% test {100 * test_acc:.2f}% "
              f"({row['seconds']:.0f} s, {seen * (epoch + 1) / row['seconds']:.0f} img/s)",
              flush=True)
    print(f"test accuracy {100 * history[-1]['test_accuracy']:.2f}%")
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump({"settings": vars(args), "history": history,
                       "test_accuracy": history[-1]["test_accuracy"]}, f, indent=1)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
