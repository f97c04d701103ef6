#!/usr/bin/env python3
"""End-to-end inference: bpr::infer at several sparsities against PyTorch's dense
eval-mode model (tools/reference_models.py: ResNet-20, VGG-16, DenseNet-121 or
EfficientNet-B0, CIFAR variants), in the same run.

    /usr/bin/python3 benchmarks/infer_vs_torch.py \
        --bench build-h3/benchmarks/bpr_infer_model_bench --batch 1 --threads 1 \
        [--model resnet20]

Each round times PyTorch (plain eval() + no_grad, and torch.jit.freeze of the scripted
eval model, which folds batchnorm) and then bpr at every sparsity, so the runs compared
are seconds apart on a loaded machine. Times are process CPU time per image (the best
of a few repeats inside each run); reported are the medians over rounds, and the
speedup of bpr over PyTorch as the ratio of images per CPU second. bpr's masks are
random (speed does not depend on which weights survive, only on how many per layer).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402  (after OMP_NUM_THREADS)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from reference_models import (DenseNetCifar, EfficientNetB0Cifar, ResNetCifar,  # noqa: E402
                              Vgg16)

MODELS = {
    "resnet20": ("ResNet-20", lambda: ResNetCifar(20)),
    "vgg16": ("VGG-16", lambda: Vgg16()),
    "densenet121": ("DenseNet-121", lambda: DenseNetCifar()),
    "efficientnet_b0": ("EfficientNet-B0", lambda: EfficientNetB0Cifar()),
}


def time_torch(model, batch, threads, seconds, repeats):
    """CPU milliseconds per image, best of `repeats` runs of at least `seconds`."""
    torch.set_num_threads(threads)
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    best = float("inf")
    with torch.no_grad():
        model(x)
        for _ in range(repeats):
            calls = 0
            start = time.process_time()
            while True:
                model(x)
                calls += 1
                elapsed = time.process_time() - start
                if elapsed >= seconds:
                    break
            best = min(best, elapsed / (calls * batch))
    return best * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", required=True)
    parser.add_argument("--model", default="resnet20", choices=sorted(MODELS))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sparsities", default="0,90,95,99")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write all measurements here")
    args = parser.parse_args()
    sparsities = [float(s) for s in args.sparsities.split(",")]

    torch.manual_seed(0)
    title, make_model = MODELS[args.model]
    model = make_model().eval()
    for m in model.modules():  # non-trivial eval statistics, as the bpr side
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    frozen = torch.jit.freeze(torch.jit.script(model))

    rounds = []
    for r in range(args.rounds):
        row = {"round": r, "load": os.getloadavg()[0]}
        row["torch_eval_cpu_ms"] = time_torch(model, args.batch, args.threads, args.seconds,
                                              args.repeats)
        row["torch_frozen_cpu_ms"] = time_torch(frozen, args.batch, args.threads, args.seconds,
                                                args.repeats)
        for s in sparsities:
            out = subprocess.run(
                ["nice", "-n", "10", args.bench, "--model", args.model, "--sparsity", str(s),
                 "--batch", str(args.batch), "--threads", str(args.threads), "--seconds",
                 str(args.seconds), "--repeats", str(args.repeats)],
                check=True, capture_output=True, text=True,
                env=dict(os.environ, OMP_NUM_THREADS=str(args.threads))).stdout
            row[f"bpr_{s:g}"] = json.loads(out)
        rounds.append(row)
        print(f"round {r}: load {row['load']:.2f}, torch eval {row['torch_eval_cpu_ms']:.3f} ms, "
              f"frozen {row['torch_frozen_cpu_ms']:.3f} ms, " + ", ".join(
                  f"bpr {s:g}% {row[f'bpr_{s:g}']['cpu_ms_per_image']:.3f} ms"
                  for s in sparsities), flush=True)

    def med(key, sub=None):
        values = [row[key][sub] if sub else row[key] for row in rounds]
        return statistics.median(values)

    torch_eval, torch_frozen = med("torch_eval_cpu_ms"), med("torch_frozen_cpu_ms")
    print(f"\n{title}, 3x32x32, batch {args.batch}, {args.threads} thread(s), CPU ms per image "
          f"(median of {args.rounds} rounds; load {min(r['load'] for r in rounds):.1f}-"
          f"{max(r['load'] for r in rounds):.1f})")
    print(f"PyTorch {torch.__version__} dense eval: {torch_eval:.3f} ms "
          f"({1e3 / torch_eval:.0f} images/CPU-s); jit.freeze: {torch_frozen:.3f} ms "
          f"({1e3 / torch_frozen:.0f} images/CPU-s)")
    print("| sparsity | bpr ms/image | bpr images/CPU-s | vs torch eval | vs torch frozen | "
          "sparse layers | rel. error |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    summary = []
    for s in sparsities:
        ms = med(f"bpr_{s:g}", "cpu_ms_per_image")
        last = rounds[-1][f"bpr_{s:g}"]
        summary.append({"sparsity": s, "bpr_cpu_ms": ms, "speedup_vs_eval": torch_eval / ms,
                        "speedup_vs_frozen": torch_frozen / ms})
        print(f"| {s:g}% | {ms:.3f} | {1e3 / ms:.0f} | {torch_eval / ms:.2f}x | "
              f"{torch_frozen / ms:.2f}x | {last['sparse_layers']}/{last['layers']} | "
              f"{last['relative_error']:.1e} |")
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump({"model": args.model, "batch": args.batch, "threads": args.threads,
                       "rounds": rounds, "torch_eval_cpu_ms": torch_eval,
                       "torch_frozen_cpu_ms": torch_frozen,
                       "summary": summary, "torch": torch.__version__}, f, indent=1)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
