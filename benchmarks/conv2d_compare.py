#!/usr/bin/python3
"""ResNet-20's convolutions at batch 128 in PyTorch and in bpr, side by side.

Times torch's conv2d forward, backward-data and backward-weight (aten's
convolution_backward, the op autograd calls) on the shapes of
benchmarks/conv2d_bench.cpp, runs that benchmark binary, and prints GFLOP/s of
both and their ratio per shape and pass.

    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 benchmarks/conv2d_compare.py \
        --bpr build/benchmarks/bpr_conv2d_bench --threads 2
"""
import argparse
import json
import os
import subprocess
import time

import torch
import torch.nn.functional as F

SHAPES = [  # name, in, out, size, kernel, stride, pad (same list as conv2d_bench.cpp)
    ("c3_o16_32x32", 3, 16, 32, 3, 1, 1),
    ("c16_o16_32x32", 16, 16, 32, 3, 1, 1),
    ("c16_o32_32x32_s2", 16, 32, 32, 3, 2, 1),
    ("c32_o32_16x16", 32, 32, 16, 3, 1, 1),
    ("c32_o64_16x16_s2", 32, 64, 16, 3, 2, 1),
    ("c64_o64_8x8", 64, 64, 8, 3, 1, 1),
]
PASSES = ("fwd", "bwd_data", "bwd_weight")


# With one thread both sides use CPU time (robust while other processes share the
# machine), as bpr_conv2d_bench does; with more, wall time.
clock = time.perf_counter


def time_call(fn, repeats, min_seconds=0.3):
    """Median seconds per call over `repeats` rounds, each at least min_seconds long."""
    fn()
    samples = []
    for _ in range(repeats):
        count, start = 0, clock()
        while True:
            fn()
            count += 1
            elapsed = clock() - start
            if elapsed >= min_seconds:
                break
        samples.append(elapsed / count)
    samples.sort()
    return samples[len(samples) // 2]


def torch_gflops(batch, repeats):
    results = {}
    torch.manual_seed(0)
    for name, c, o, size, k, stride, pad in SHAPES:
        x = torch.randn(batch, c, size, size)
        w = torch.randn(o, c, k, k)
        y = F.conv2d(x, w, None, stride, pad)
        gy = torch.randn_like(y)
        oh, ow = y.shape[2], y.shape[3]
        flops = 2.0 * batch * o * oh * ow * c * k * k

        def backward(mask):
            return torch.ops.aten.convolution_backward(
                gy, x, w, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1, mask)

        calls = {
            "fwd": lambda: F.conv2d(x, w, None, stride, pad),
            "bwd_data": lambda: backward([True, False, False]),
            "bwd_weight": lambda: backward([False, True, False]),
        }
        with torch.no_grad():
            for p in PASSES:
                results[(name, p)] = flops / time_call(calls[p], repeats) * 1e-9
    return results


def bpr_gflops(binary, threads, repeats):
    env = dict(os.environ, BPR_THREADS=str(threads))
    out = subprocess.run(
        [binary, "--benchmark_format=json", "--benchmark_min_time=0.3",
         "--benchmark_filter=conv2d/dispatch/",
         f"--benchmark_repetitions={repeats}", "--benchmark_report_aggregates_only=true"],
        env=env, check=True, capture_output=True, text=True).stdout
    results = {}
    for b in json.loads(out)["benchmarks"]:
        if repeats > 1 and b.get("aggregate_name") != "median":
            continue
        _, _, name, p = b["run_name"].split("/")[:4]
        results[(name, p)] = b["GFLOP/s"]
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bpr", help="path of bpr_conv2d_bench (omit: PyTorch only)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global clock
    clock = time.process_time if args.threads == 1 else time.perf_counter
    theirs = torch_gflops(args.batch, args.repeats)
    ours = bpr_gflops(args.bpr, args.threads, args.repeats) if args.bpr else {}
    print(f"torch {torch.__version__}, threads {args.threads}, batch {args.batch}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, median of {args.repeats}, "
          f"{'CPU' if args.threads == 1 else 'wall'} time, load average {os.getloadavg()[0]:.1f}")
    print(f"| shape | pass | PyTorch GFLOP/s | bpr GFLOP/s | bpr / PyTorch |")
    print(f"|---|---|---:|---:|---:|")
    for name, *_ in SHAPES:
        for p in PASSES:
            t = theirs[(name, p)]
            b = ours.get((name, p))
            tail = f"{b:.1f} | {b / t:.2f}x" if b else "- | -"
            print(f"| {name} | {p} | {t:.1f} | {tail} |")


if __name__ == "__main__":
    main()
