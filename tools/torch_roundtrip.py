#!/usr/bin/env python3
"""PyTorch <-> bpr round trip through safetensors files.

For each model (LeNet-5, ResNet-20, VGG16 from tools/reference_models.py):
  1. build the PyTorch reference module (random weights, random batchnorm statistics,
     or for LeNet-5 on Fashion-MNIST with --train-lenet, one trained epoch),
  2. save its state_dict as safetensors (written here with struct + json: the
     safetensors package is not a Debian package),
  3. let bpr load it and compute logits on the same inputs (bpr-convert logits) and
     compare with PyTorch's,
  4. let bpr prune it (bpr-convert prune, global magnitude, --sparsity), export with
     torch.nn.utils.prune names, load that back into PyTorch and compare logits (and,
     for LeNet-5 on Fashion-MNIST, test accuracy) once more,
  5. optionally (--regrow BPR_REGROW) run bpr-regrow from the imported LeNet-5, export
     its sparse result to safetensors (bpr-convert from-sparse) and compare accuracy.

Usage:
  /usr/bin/python3 tools/torch_roundtrip.py --convert build/examples/bpr-convert \
      [--models lenet5,resnet20,vgg16] [--sparsity 0.9] [--train-lenet] [--work DIR]
Exit code 1 if any logit difference exceeds --tolerance (1e-4) or an accuracy differs.
"""

import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
from torch.nn.utils import prune

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_models  # noqa: E402

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
          torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}
NUMPY = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
         "I32": np.int32, "U8": np.uint8}


def save_safetensors(path, tensors):
    """name -> torch tensor, as a safetensors file (header padded to 8 bytes)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    base, out = 8 + length, {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = data[base + begin:base + end]
        if entry["dtype"] == "BF16":
            t = torch.from_numpy(np.frombuffer(raw, np.int16).copy()).view(torch.bfloat16)
        else:
            t = torch.from_numpy(np.frombuffer(raw, NUMPY[entry["dtype"]]).copy())
        out[name] = t.reshape(entry["shape"])
    return out


def build(name):
    if name == "lenet5":
        return reference_models.LeNet5(1, 28), (1, 28)
    if name == "resnet20":
        return reference_models.ResNetCifar(20, 3), (3, 32)
    if name == "vgg16":
        return reference_models.Vgg16(3), (3, 32)
    raise SystemExit(f"unknown model {name}")


def randomize_batchnorm(model, generator):
    """Non-trivial running statistics and affine parameters, so buffers are tested too."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)


def fashion_mnist(split):
    root = "/usr/share/datasets/fashion-mnist"
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(f"{root}/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{root}/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    images = images.astype(np.float32) / 255.0
    # bpr's trainers normalize with the training images' mean and deviation
    # (bpr::data::compute_normalization over the 55,000-image split; the full 60,000
    # here differ in the fourth digit), so the imported model sees familiar inputs.
    with gzip.open(f"{root}/train-images-idx3-ubyte.gz") as f:
        train = np.frombuffer(f.read(), np.uint8, offset=16).astype(np.float64) / 255.0
    images = (images - train.mean()) / train.std()
    return torch.from_numpy(images.astype(np.float32)), torch.from_numpy(labels.astype(np.int64))


def train_one_epoch(model, generator):
    images, labels = fashion_mnist("train")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    order = torch.randperm(len(labels), generator=generator)
    model.train()
    for start in range(0, len(order), 128):
        idx = order[start:start + 128]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(images[idx]), labels[idx]).backward()
        opt.step()
    model.eval()


def bpr_logits(convert, model, weights, inputs, out):
    subprocess.run([convert, "logits", "--model", model, "--weights", weights, "--inputs", inputs,
                    "--out", out], check=True, stdout=subprocess.DEVNULL)
    return load_safetensors(out)["logits"]


def compare(label, bpr, ref):
    diff = (bpr.double() - ref.double()).abs()
    max_abs = diff.max().item()
    max_rel = max_abs / max(ref.double().abs().max().item(), 1e-30)
    agree = (bpr.argmax(1) == ref.argmax(1)).double().mean().item()
    print(f"  {label:28s} max |diff| {max_abs:.3e}  relative to max |logit| {max_rel:.3e}  "
          f"argmax agreement {100 * agree:.2f}%")
    return max_abs


def load_pruned_into_torch(model, state):
    """Applies prune.identity where the file has '<p>_orig' + '<p>_mask', then loads strictly."""
    modules = dict(model.named_modules())
    for key in state:
        if key.endswith("_mask"):
            module_name, _, param = key[:-len("_mask")].rpartition(".")
            prune.identity(modules[module_name], param)
    model.load_state_dict(state, strict=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--convert", required=True, help="path to the bpr-convert program")
    parser.add_argument("--models", default="lenet5,resnet20,vgg16")
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--batch", type=int, default=16, help="random inputs per model")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--train-lenet", action="store_true",
                        help="train LeNet-5 one epoch on Fashion-MNIST and compare test accuracy")
    parser.add_argument("--regrow", metavar="BPR_REGROW",
                        help="also run bpr-regrow from the imported LeNet-5 (needs --train-lenet)")
    parser.add_argument("--work", help="directory for the files (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(2)
    work = args.work or tempfile.mkdtemp(prefix="bpr_roundtrip_")
    os.makedirs(work, exist_ok=True)
    worst, failures = 0.0, []
    for name in args.models.split(","):
        generator = torch.Generator().manual_seed(args.seed)
        torch.manual_seed(args.seed)
        model, (channels, side) = build(name)
        randomize_batchnorm(model, generator)
        model.eval()
        test = None
        if name == "lenet5" and args.train_lenet:
            train_one_epoch(model, generator)
            test = fashion_mnist("test")
        inputs = test[0] if test is not None else torch.randn(args.batch, channels, side, side,
                                                               generator=generator)
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, "
              f"inputs {tuple(inputs.shape)}")
        weights = f"{work}/{name}.safetensors"
        input_file = f"{work}/{name}_inputs.safetensors"
        save_safetensors(weights, model.state_dict())
        save_safetensors(input_file, {"input": inputs})

        with torch.no_grad():
            ref = model(inputs)
        got = bpr_logits(args.convert, name, weights, input_file, f"{work}/{name}_logits.safetensors")
        worst = max(worst, compare("dense: bpr vs PyTorch", got, ref))
        if test is not None:
            acc_torch = (ref.argmax(1) == test[1]).double().mean().item() * 100
            acc_bpr = (got.argmax(1) == test[1]).double().mean().item() * 100
            print(f"  dense test accuracy: PyTorch {acc_torch:.2f}%  bpr {acc_bpr:.2f}%")
            if abs(acc_torch - acc_bpr) > 0.01:
                failures.append(f"{name} dense accuracy")

        # Half-precision files: bpr converts F16/BF16 to float exactly, so it must match
        # PyTorch running the same rounded weights in float32.
        for dtype in (torch.float16, torch.bfloat16):
            rounded = {k: (v.to(dtype) if v.is_floating_point() else v)
                       for k, v in model.state_dict().items()}
            half_file = f"{work}/{name}_{DTYPES[dtype]}.safetensors"
            save_safetensors(half_file, rounded)
            twin, _ = build(name)
            twin.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v
                                  for k, v in rounded.items()})
            twin.eval()
            with torch.no_grad():
                ref_half = twin(inputs)
            got_half = bpr_logits(args.convert, name, half_file, input_file,
                                  f"{work}/{name}_half_logits.safetensors")
            worst = max(worst, compare(f"{DTYPES[dtype]} weights: bpr vs PyTorch", got_half,
                                       ref_half))

        pruned = f"{work}/{name}_pruned.safetensors"
        subprocess.run([args.convert, "prune", "--model", name, "--weights", weights, "--sparsity",
                        str(args.sparsity), "--out", pruned, "--torch-names"], check=True)
        reimported, _ = build(name)
        load_pruned_into_torch(reimported, load_safetensors(pruned))
        reimported.eval()
        with torch.no_grad():
            ref_pruned = reimported(inputs)  # the forward pre-hook computes weight = orig * mask
        zeros = total = 0
        for module_name, module in reimported.named_modules():
            if hasattr(module, "weight_mask"):
                zeros += int((module.weight == 0).sum())
                total += module.weight.numel()
        print(f"  pruned in bpr, re-imported into PyTorch: {100 * zeros / total:.2f}% of the "
              f"masked weights are zero")
        got_pruned = bpr_logits(args.convert, name, pruned, input_file,
                                f"{work}/{name}_pruned_logits.safetensors")
        worst = max(worst, compare("pruned: bpr vs PyTorch", got_pruned, ref_pruned))
        if test is not None:
            acc_torch = (ref_pruned.argmax(1) == test[1]).double().mean().item() * 100
            acc_bpr = (got_pruned.argmax(1) == test[1]).double().mean().item() * 100
            print(f"  pruned test accuracy: PyTorch {acc_torch:.2f}%  bpr {acc_bpr:.2f}%")
            if abs(acc_torch - acc_bpr) > 0.01:
                failures.append(f"{name} pruned accuracy")

        if name == "lenet5" and args.regrow and test is not None:
            checkpoint = f"{work}/lenet5.ckpt"
            subprocess.run([args.convert, "to-checkpoint", "--model", name, "--weights", weights,
                            "--out", checkpoint], check=True)
            out = f"{work}/regrow"
            subprocess.run([args.regrow, "--model", "lenet5", "--checkpoint", checkpoint,
                            "--budget", "99%", "--target", "98%", "--steps", "1",
                            "--finetune-epochs", "1", "--prune-finetune-epochs", "1",
                            "--out", out, "--quiet"], check=True)
            regrown = f"{work}/lenet5_regrown.safetensors"
            subprocess.run([args.convert, "from-sparse", "--model", name, "--sparse",
                            f"{out}/model.bprs", "--out", regrown, "--torch-names"], check=True)
            back, _ = build(name)
            load_pruned_into_torch(back, load_safetensors(regrown))
            back.eval()
            with torch.no_grad():
                ref_regrown = back(inputs)
            got_regrown = bpr_logits(args.convert, name, regrown, input_file,
                                     f"{work}/lenet5_regrown_logits.safetensors")
            worst = max(worst, compare("regrown: bpr vs PyTorch", got_regrown, ref_regrown))
            acc_torch = (ref_regrown.argmax(1) == test[1]).double().mean().item() * 100
            acc_bpr = (got_regrown.argmax(1) == test[1]).double().mean().item() * 100
            print(f"  regrown test accuracy: PyTorch {acc_torch:.2f}%  bpr {acc_bpr:.2f}%")
            if abs(acc_torch - acc_bpr) > 0.01:
                failures.append("lenet5 regrown accuracy")

    print(f"worst max |logit diff| {worst:.3e} (tolerance {args.tolerance:g}); files in {work}")
    if worst > args.tolerance:
        failures.append("logit tolerance")
    if failures:
        print("FAILED: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
