#!/usr/bin/python3
"""ResNet-20 (CIFAR, option-A shortcuts) throughput: bpr and PyTorch side by side.

One run measures both: it launches the bpr program (bpr_resnet20_throughput) and a
PyTorch worker (this script with --worker) as separate processes, alternately, so that
each has its own peak resident memory (ru_maxrss) and both see the same machine load.
Reported: images/s of a training step (forward + cross-entropy + backward + SGD with
momentum 0.9 and weight decay 5e-4) and of inference (eval forward under no_grad), at
the given batch and thread count on random 3x32x32 data; the median over steps of each
process, then the median over repeats; the ratio bpr / PyTorch; peak RSS of both.

    /usr/bin/python3 benchmarks/compare_pytorch.py \\
        --bpr build/benchmarks/bpr_resnet20_throughput --threads 2 --batch 128

PyTorch runs at its best on a small machine: torch.set_num_threads(T) with
OMP_NUM_THREADS=T and OPENBLAS_NUM_THREADS=1 (set here for both processes).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def build_resnet20():
    import torch.nn as nn
    import torch.nn.functional as F

    class pad_shortcut(nn.Module):
        """Option A: subsample by the stride, zero-pad the new channels (no parameters)."""

        def __init__(self, planes, stride):
            super().__init__()
            self.extra, self.stride = planes, stride

        def forward(self, x):
            x = x[:, :, :: self.stride, :: self.stride]
            pad = self.extra - x.shape[1]
            return F.pad(x, (0, 0, 0, 0, pad // 2, pad - pad // 2))

    class basic_block(nn.Module):
        def __init__(self, inp, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.shortcut = (pad_shortcut(planes, stride)
                             if stride != 1 or inp != planes else nn.Identity())

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class resnet20(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            layers, inp = [], 16
            for planes, stride in ((16, 1), (32, 2), (64, 2)):
                for i in range(3):
                    layers.append(basic_block(inp, planes, stride if i == 0 else 1))
                    inp = planes
            self.layers = nn.Sequential(*layers)
            self.linear = nn.Linear(64, classes)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.layers(out)
            out = F.adaptive_avg_pool2d(out, 1).flatten(1)
            return self.linear(out)

    return resnet20()


def torch_worker(args):
    """Runs in its own process; prints one JSON object like bpr_resnet20_throughput."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = build_resnet20()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(args.batch, 3, 32, 32)
    labels = torch.randint(0, 10, (args.batch,))

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        opt.step()
        return loss

    def infer_step():
        with torch.no_grad():
            return model(images)

    def measure(step):
        for _ in range(args.warmup):
            step()
        wall, cpu_start = [], time.process_time()
        for _ in range(args.steps):
            start = time.perf_counter()
            step()
            wall.append(time.perf_counter() - start)
        cpu = (time.process_time() - cpu_start) / args.steps
        wall.sort()
        return {"images_per_second": args.batch / wall[len(wall) // 2],
                "best_images_per_second": args.batch / wall[0],
                "median_ms": wall[len(wall) // 2] * 1e3, "cpu_ms_per_step": cpu * 1e3,
                "steps": len(wall)}

    result = {"library": "pytorch " + torch.__version__, "threads": args.threads,
              "batch": args.batch, "parameters": params}
    model.train()
    result["train"] = measure(train_step)
    model.eval()
    result["infer"] = measure(infer_step)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_json(command, env):
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bpr", help="path of bpr_resnet20_throughput (omit: PyTorch only)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per process")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="process pairs, alternating")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        torch_worker(args)
        return

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS="1")
    common = ["--threads", str(args.threads), "--batch", str(args.batch),
              "--steps", str(args.steps), "--warmup", str(args.warmup)]
    runs = {"bpr": [], "pytorch": []}
    loads = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        if args.bpr:
            runs["bpr"].append(run_json([args.bpr] + common, env))
        runs["pytorch"].append(run_json([sys.executable, __file__, "--worker"] + common, env))
        loads.append(os.getloadavg()[0])

    def summary(name, key, field):
        values = [r[key][field] for r in runs[name]]
        return statistics.median(values), min(values), max(values)

    print(f"ResNet-20 CIFAR (option A), batch {args.batch}, threads {args.threads}, "
          f"{args.steps} timed steps x {args.repeats} processes each; "
          f"1-min load average during the run: {min(loads):.2f}-{max(loads):.2f}")
    print(f"{runs['pytorch'][0]['library']}, {runs['pytorch'][0]['parameters']} parameters")
    print("| pass | PyTorch img/s | bpr img/s | bpr / PyTorch | PyTorch CPU ms/step | "
          "bpr CPU ms/step |")
    print("|---|---:|---:|---:|---:|---:|")
    for key in ("train", "infer"):
        t, t_lo, t_hi = summary("pytorch", key, "images_per_second")
        t_cpu = summary("pytorch", key, "cpu_ms_per_step")[0]
        if runs["bpr"]:
            b, b_lo, b_hi = summary("bpr", key, "images_per_second")
            b_cpu = summary("bpr", key, "cpu_ms_per_step")[0]
            print(f"| {key} | {t:.0f} ({t_lo:.0f}-{t_hi:.0f}) | {b:.0f} ({b_lo:.0f}-{b_hi:.0f}) "
                  f"| {b / t:.2f}x | {t_cpu:.0f} | {b_cpu:.0f} |")
        else:
            print(f"| {key} | {t:.0f} ({t_lo:.0f}-{t_hi:.0f}) | - | - | {t_cpu:.0f} | - |")
    rss_t = max(r["peak_rss_mb"] for r in runs["pytorch"])
    line = f"peak RSS: PyTorch {rss_t:.0f} MB"
    if runs["bpr"]:
        line += f", bpr {max(r['peak_rss_mb'] for r in runs['bpr']):.0f} MB"
    print(line + " (whole process, ru_maxrss)")


if __name__ == "__main__":
    main()
