#!/usr/bin/env python3
"""bpr's sparse convolution against PyTorch's dense conv2d (and bpr's dense path).

Runs bpr_sparse_conv_bench (Google Benchmark, JSON) and times torch.nn.functional.conv2d
on the same shapes in the same invocation, then prints speedup vs sparsity, writes the
combined JSON and an SVG plot (drawn by hand: no matplotlib needed).

    OMP_NUM_THREADS=1 /usr/bin/python3 benchmarks/sparse_vs_torch.py \
        --bench build-sparse/benchmarks/bpr_sparse_conv_bench --out-dir results/sparse

Times are medians over --repetitions repetitions; the spread (max/min - 1 of the
repetitions) is reported as noise.
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

SHAPES = [(16, 32, 3), (64, 8, 3), (256, 14, 3), (256, 8, 3), (512, 4, 3),
          (16, 32, 1), (64, 8, 1), (256, 14, 1), (256, 8, 1), (512, 4, 1)]
SPARSITIES = [0, 500, 700, 800, 900, 950, 980, 990, 995]
HEADLINE = (256, 14, 3)


def shape_name(s):
    c, size, k = s
    return f"c{c}_{size}x{size}_k{k}"


def time_torch(shape, batch, threads, repetitions, min_time):
    """Median and spread (seconds per call) of PyTorch's dense conv2d."""
    c, size, k = shape
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, c, size, size, generator=gen) * 2 - 1
    w = torch.rand(c, c, k, k, generator=gen) * 2 - 1
    with torch.no_grad():
        for _ in range(3):
            torch.nn.functional.conv2d(x, w, padding=k // 2)
        # Calibrate the number of calls per repetition to about min_time.
        calls, elapsed = 1, 0.0
        while True:
            start = time.perf_counter()
            for _ in range(calls):
                torch.nn.functional.conv2d(x, w, padding=k // 2)
            elapsed = time.perf_counter() - start
            if elapsed >= min_time / 4 or calls > 1 << 20:
                break
            calls *= 2
        calls = max(1, int(calls * min_time / max(elapsed, 1e-9)))
        samples = []
        for _ in range(repetitions):
            start = time.perf_counter()
            for _ in range(calls):
                torch.nn.functional.conv2d(x, w, padding=k // 2)
            samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples), max(samples) / min(samples) - 1.0


def run_bench(path, out_json, repetitions, min_time, bench_filter):
    cmd = [path, f"--benchmark_filter={bench_filter}", f"--benchmark_min_time={min_time}",
           f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true",
           "--benchmark_format=console", f"--benchmark_out={out_json}",
           "--benchmark_out_format=json"]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out_json) as f:
        data = json.load(f)
    # name -> {"median": seconds, "mean": ..., "stddev": ..., "cv": stddev / mean}
    results = {}
    for b in data["benchmarks"]:
        base = b["run_name"].removesuffix("/real_time")
        entry = results.setdefault(base, {})
        aggregate = b.get("aggregate_name", "median")
        if b.get("aggregate_unit") == "percentage":  # cv: a ratio, not a time
            entry[aggregate] = b["real_time"]
        else:
            scale = {"us": 1e-6, "ms": 1e-3, "ns": 1e-9, "s": 1.0}[b["time_unit"]]
            entry[aggregate] = b["real_time"] * scale
        if "nnz" in b:
            entry["nnz"] = b["nnz"]
    return results


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
    torch_times = {}
    for s in shapes:
        for b in batches:
            for t in threads:
                torch_times[(s, b, t)] = time_torch(s, b, t, args.repetitions, args.min_time)

    name_re = "|".join(shape_name(s) for s in shapes)
    bench_filter = f"({name_re})/s[0-9]+/b({'|'.join(map(str, batches))})/t({'|'.join(map(str, threads))})/real_time$"
    bench = run_bench(args.bench, os.path.join(args.out_dir, "bpr_sparse_conv_bench.json"),
                      args.repetitions, args.min_time, bench_filter)

    rows = []
    for s in shapes:
        for b in batches:
            for t in threads:
                key = f"{shape_name(s)}/s0/b{b}/t{t}"
                dense = bench.get(f"dense/{key}", {})
                torch_median, torch_spread = torch_times[(s, b, t)]
                for p in SPARSITIES:
                    sp = bench.get(f"sparse/{shape_name(s)}/s{p}/b{b}/t{t}", {})
                    if "median" not in sp:
                        continue
                    rows.append({
                        "shape": shape_name(s), "batch": b, "threads": t, "sparsity": p / 10,
                        "sparse_us": sp["median"] * 1e6,
                        "sparse_cv": sp.get("cv", 0.0),
                        "bpr_dense_us": dense.get("median", float("nan")) * 1e6,
                        "torch_us": torch_median * 1e6, "torch_spread": torch_spread,
                        "speedup_vs_torch": torch_median / sp["median"],
                        "speedup_vs_bpr_dense": dense.get("median", float("nan")) / sp["median"],
                    })
    with open(os.path.join(args.out_dir, "sparse_vs_torch.json"), "w") as f:
        json.dump({"torch": torch.__version__, "rows": rows}, f, indent=1)

    print(f"\n{'shape':16} {'b':>3} {'t':>2} {'sparsity':>8} {'sparse us':>10} {'cv':>5} "
          f"{'bpr dense':>10} {'torch':>10} {'vs torch':>9} {'vs dense':>9}")
    for r in rows:
        print(f"{r['shape']:16} {r['batch']:3} {r['threads']:2} {r['sparsity']:8.1f} "
              f"{r['sparse_us']:10.1f} {r['sparse_cv']:5.2f} {r['bpr_dense_us']:10.1f} "
              f"{r['torch_us']:10.1f} {r['speedup_vs_torch']:8.2f}x "
              f"{r['speedup_vs_bpr_dense']:8.2f}x")
    print(f"load after: {os.getloadavg()}")

    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf",
               "#e377c2", "#7f7f7f", "#bcbd22"]
    for b in batches:
        for t in threads:
            series = []
            for i, s in enumerate(shapes):
                pts = [(r["sparsity"], r["speedup_vs_torch"]) for r in rows
                       if r["shape"] == shape_name(s) and r["batch"] == b and r["threads"] == t]
                if pts:
                    series.append((shape_name(s), colours[i % len(colours)], pts))
            if series:
                svg_plot(os.path.join(args.out_dir, f"speedup_vs_torch_b{b}_t{t}.svg"),
                         f"bpr sparse conv vs PyTorch dense, batch {b}, {t} thread(s)", series,
                         "speedup over torch conv2d (log)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
