#!/usr/bin/env python3
"""bpr's sparse convolution against PyTorch's dense conv2d (and bpr's dense path).

Runs bpr_sparse_conv_bench (Google Benchmark, JSON) and times torch.nn.functional.conv2d
on the same shapes in the same invocation, then prints speedup vs sparsity, writes the
combined JSON and an SVG plot (drawn by hand: no matplotlib needed).

    OMP_NUM_THREADS=1 /usr/bin/python3 benchmarks/sparse_vs_torch.py \
        --bench build-sparse/benchmarks/bpr_sparse_conv_bench --out-dir results/sparse

Each of --repetitions rounds times PyTorch and then bpr (every sparsity and the dense
path) for one configuration before moving to the next, so each speedup compares runs a
few seconds apart; reported are medians over rounds, the min-max range of the speedup
and the spread (max/min - 1) of the times as the noise.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402  (after OMP_NUM_THREADS)

# (in_channels, size, kernel[, out_channels, stride]); "same" padding.
SHAPES = [(16, 32, 3), (64, 8, 3), (256, 14, 3), (256, 8, 3), (512, 4, 3),
          (16, 32, 1), (64, 8, 1), (256, 14, 1), (256, 8, 1), (512, 4, 1),
          (16, 32, 3, 32, 2), (32, 16, 3, 64, 2)]
SPARSITIES = [0, 500, 700, 800, 900, 950, 980, 990, 995]
HEADLINE = (256, 14, 3)


def shape_name(s):
    c, size, k = s[:3]
    if len(s) == 3:
        return f"c{c}_{size}x{size}_k{k}"
    return f"c{c}_o{s[3]}_{size}x{size}_k{k}_s{s[4]}"


def time_torch(shape, batch, threads, min_time, onednn=False):
    """Seconds per call of PyTorch's dense conv2d (one repetition of about min_time).

    onednn=True calls aten::mkldnn_convolution directly: torch.nn.functional.conv2d only
    dispatches to oneDNN for batch 1 when the input has more than 20480 values, and
    Debian's torch otherwise runs im2col + the reference libblas, far from its best."""
    c, size, k = shape[:3]
    out, stride = (shape[3], shape[4]) if len(shape) > 3 else (c, 1)
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, c, size, size, generator=gen) * 2 - 1
    w = torch.rand(out, c, k, k, generator=gen) * 2 - 1

    def call():
        if onednn:
            p = k // 2
            torch.ops.aten.mkldnn_convolution(x, w, None, [p, p], [stride, stride], [1, 1], 1)
        else:
            torch.nn.functional.conv2d(x, w, stride=stride, padding=k // 2)

    with torch.no_grad():
        for _ in range(3):
            call()
        calls = 1
        while True:  # calibrate calls to about min_time
            start = time.perf_counter()
            for _ in range(calls):
                call()
            elapsed = time.perf_counter() - start
            if elapsed >= min_time / 4 or calls > 1 << 20:
                break
            calls *= 2
        calls = max(1, int(calls * min_time / max(elapsed, 1e-9)))
        start = time.perf_counter()
        for _ in range(calls):
            call()
        return (time.perf_counter() - start) / calls


def time_bpr(path, shape, batch, threads, min_time):
    """{benchmark name: seconds per call} for one repetition of every kernel and sparsity."""
    name = shape_name(shape)
    bench_filter = f"(sparse|dense)/{name}/s[0-9]+/b{batch}/t{threads}/real_time$"
    cmd = [path, f"--benchmark_filter={bench_filter}", f"--benchmark_min_time={min_time}",
           "--benchmark_format=json"]
    result = subprocess.run(cmd, check=True, capture_output=True, text=True)
    times = {}
    for b in json.loads(result.stdout)["benchmarks"]:
        scale = {"us": 1e-6, "ms": 1e-3, "ns": 1e-9, "s": 1.0}[b["time_unit"]]
        times[b["run_name"].removesuffix("/real_time")] = b["real_time"] * scale
    return times


def spread(values):
    """max / min - 1: how far apart the repetitions were."""
    return max(values) / min(values) - 1.0 if values and min(values) > 0 else float("nan")


def svg_plot(path, title, series, y_label):
    """series: list of (label, colour, [(sparsity_percent, speedup)]); log-scale y."""
    width, height, left, right, top, bottom = 760, 460, 70, 190, 40, 50
    xs = [x for _, _, pts in series for x, _ in pts]
    ys = [y for _, _, pts in series for _, y in pts if y > 0]
    x_min, x_max = min(xs), max(xs)
    y_min = 10 ** math.floor(math.log10(min(ys)))
    y_max = 10 ** math.ceil(math.log10(max(ys)))

    def px(x):  # sparsity axis stretched near 100% by plotting -log10(1 - s)
        def f(v):
            return -math.log10(max(1e-4, 1.0 - v / 100.0))
        return left + (f(x) - f(x_min)) / (f(x_max) - f(x_min)) * (width - left - right)

    def py(y):
        t = (math.log10(y) - math.log10(y_min)) / (math.log10(y_max) - math.log10(y_min))
        return height - bottom - t * (height - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2 - 60}" y="22" font-size="14">{title}</text>']
    decade = y_min
    while decade <= y_max * 1.0001:
        for m in (1, 2, 5):
            v = decade * m
            if y_min <= v <= y_max:
                y = py(v)
                out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                           f'stroke="#ddd"/>')
                out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{v:g}x</text>')
        decade *= 10
    for x in sorted(set(xs)):
        out.append(f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{height - bottom}" '
                   f'stroke="#eee"/>')
        out.append(f'<text x="{px(x):.1f}" y="{height - bottom + 16}" '
                   f'text-anchor="middle">{x:g}</text>')
    if y_min <= 1 <= y_max:
        out.append(f'<line x1="{left}" y1="{py(1):.1f}" x2="{width - right}" y2="{py(1):.1f}" '
                   f'stroke="black" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 12}" '
               f'text-anchor="middle">sparsity (%)</text>')
    out.append(f'<text transform="translate(16 {height / 2}) rotate(-90)" '
               f'text-anchor="middle">{y_label}</text>')
    for i, (label, colour, pts) in enumerate(series):
        pts = [(x, y) for x, y in pts if y > 0]
        path_d = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}"
                          for j, (x, y) in enumerate(pts))
        out.append(f'<path d="{path_d}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        ly = top + 10 + 18 * i
        out.append(f'<line x1="{width - right + 10}" y1="{ly}" x2="{width - right + 30}" '
                   f'y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{width - right + 36}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", default=os.path.join(
        here, "..", "build", "benchmarks", "bpr_sparse_conv_bench"))
    parser.add_argument("--out-dir", default="sparse_vs_torch")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.1)
    parser.add_argument("--headline-only", action="store_true",
                        help="only 256x256 3x3 at 14x14, batch 1, 1 thread")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    batches = [int(b) for b in args.batches.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    shapes = [HEADLINE] if args.headline_only else SHAPES
    if args.headline_only:
        batches, threads = [1], [1]

    print(f"torch {torch.__version__}, mkldnn {torch.backends.mkldnn.is_available()}, "
          f"load {os.getloadavg()}", flush=True)
    configs = [(s, b, t) for s in shapes for b in batches for t in threads]
    # Round-robin: every round times PyTorch and bpr back to back for each config, so a
    # ratio compares runs seconds apart; the medians over rounds are reported.
    samples = {c: {"torch": [], "onednn": [], "bpr": []} for c in configs}
    for round_index in range(args.repetitions):
        for c in configs:
            samples[c]["torch"].append(time_torch(*c, args.min_time))
            samples[c]["onednn"].append(time_torch(*c, args.min_time, onednn=True))
            samples[c]["bpr"].append(time_bpr(args.bench, *c, args.min_time))
        print(f"round {round_index + 1}/{args.repetitions} done, load {os.getloadavg()}",
              flush=True)

    rows = []
    for (s, b, t) in configs:
        torch_runs = samples[(s, b, t)]["torch"]
        best_runs = [min(a, o) for a, o in zip(torch_runs, samples[(s, b, t)]["onednn"])]
        bpr_runs = samples[(s, b, t)]["bpr"]
        key = f"{shape_name(s)}/s0/b{b}/t{t}"
        dense_runs = [r[f"dense/{key}"] for r in bpr_runs if f"dense/{key}" in r]
        for p in SPARSITIES:
            name = f"sparse/{shape_name(s)}/s{p}/b{b}/t{t}"
            sparse_runs = [r[name] for r in bpr_runs if name in r]
            if not sparse_runs:
                continue
            vs_torch = [tt / sp for tt, sp in zip(torch_runs, sparse_runs)]
            vs_best = [tt / sp for tt, sp in zip(best_runs, sparse_runs)]
            vs_dense = [d / sp for d, sp in zip(dense_runs, sparse_runs)]
            rows.append({
                "shape": shape_name(s), "batch": b, "threads": t, "sparsity": p / 10,
                "sparse_us": statistics.median(sparse_runs) * 1e6,
                "sparse_spread": spread(sparse_runs),
                "bpr_dense_us": statistics.median(dense_runs) * 1e6 if dense_runs else None,
                "torch_us": statistics.median(torch_runs) * 1e6,
                "torch_spread": spread(torch_runs),
                "speedup_vs_torch": statistics.median(vs_torch),
                "speedup_vs_torch_min": min(vs_torch), "speedup_vs_torch_max": max(vs_torch),
                "torch_onednn_us": statistics.median(samples[(s, b, t)]["onednn"]) * 1e6,
                "speedup_vs_best_torch": statistics.median(vs_best),
                "speedup_vs_best_torch_min": min(vs_best),
                "speedup_vs_best_torch_max": max(vs_best),
                "speedup_vs_bpr_dense": statistics.median(vs_dense) if vs_dense else None,
            })
    with open(os.path.join(args.out_dir, "sparse_vs_torch.json"), "w") as f:
        json.dump({"torch": torch.__version__, "repetitions": args.repetitions,
                   "min_time": args.min_time, "rows": rows,
                   "raw": [{"shape": shape_name(c[0]), "batch": c[1], "threads": c[2],
                            **samples[c]} for c in configs]}, f, indent=1)

    print(f"\n{'shape':22} {'b':>3} {'t':>2} {'sparsity':>8} {'sparse us':>10} {'spread':>6} "
          f"{'bpr dense':>10} {'torch':>10} {'spread':>6} {'vs torch':>9} {'(min-max)':>13} "
          f"{'onednn':>9} {'vs best':>8} {'vs dense':>9}")
    for r in rows:
        print(f"{r['shape']:22} {r['batch']:3} {r['threads']:2} {r['sparsity']:8.1f} "
              f"{r['sparse_us']:10.1f} {r['sparse_spread']:6.2f} {r['bpr_dense_us'] or 0:10.1f} "
              f"{r['torch_us']:10.1f} {r['torch_spread']:6.2f} {r['speedup_vs_torch']:8.2f}x "
              f"({r['speedup_vs_torch_min']:5.1f}-{r['speedup_vs_torch_max']:5.1f}) "
              f"{r['torch_onednn_us']:9.1f} {r['speedup_vs_best_torch']:7.2f}x "
              f"{r['speedup_vs_bpr_dense'] or 0:8.2f}x")
    print(f"load after: {os.getloadavg()}")

    # One colour per shape (12 shapes): no two lines of a plot share one.
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf",
               "#e377c2", "#7f7f7f", "#bcbd22", "#000000", "#aec7e8"]
    for b in batches:
        for t in threads:
            series = []
            for i, s in enumerate(shapes):
                pts = [(r["sparsity"], r["speedup_vs_best_torch"]) for r in rows
                       if r["shape"] == shape_name(s) and r["batch"] == b and r["threads"] == t]
                if pts:
                    series.append((shape_name(s), colours[i % len(colours)], pts))
            if series:
                svg_plot(os.path.join(args.out_dir, f"speedup_vs_torch_b{b}_t{t}.svg"),
                         f"bpr sparse conv vs PyTorch dense, batch {b}, {t} thread(s)", series,
                         "speedup over the faster of torch conv2d and oneDNN (log)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
