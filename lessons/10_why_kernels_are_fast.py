"""Lesson 10 — why some convolution code is a thousand times faster than other code.

The same convolution, three ways (every number below is measured live):

1. **loops** (``backend="reference"``): one output number at a time, exactly as
   the slides (seeds/003) compute it by hand — clear, and slow in Python;
2. **im2col + one matrix product** (``convlab.im2col`` + ``@``, which is
   ``backend="numpy"``): copy every ``KH×KW×C`` window into a row of a big
   matrix, then one call to the BLAS matrix product — fast, but the matrix is
   ``KH·KW`` times the input;
3. **the compiled kernel** (``backend="numba"``, the default): no big matrix;
   tiles of outputs kept in the CPU's vector registers while the kernel streams
   over the window (see ``convlab/kernels/tile.py``).

We count the work in FLOPs (``2·N·OH·OW·F·KH·KW·C``: one multiply and one add
per kernel weight per output) and compare with the machine's practical peak,
measured with a quick matrix product.

Run: ``python lessons/10_why_kernels_are_fast.py [--step] [--out DIR] [--quick]``.
"""

import json
import time
from pathlib import Path

import numpy as np

import convlab
from convlab.lesson import Lesson

lesson = Lesson(__file__, "Why kernels are fast: loops, im2col + matmul, a compiled kernel")


def best_time(fn, reps):
    """Best of ``reps`` runs after one warm-up (seconds): the least disturbed run."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def fmt(t):
    if t >= 1:
        return f"{t:8.2f} s "
    return f"{t * 1e3:8.2f} ms" if t >= 1e-3 else f"{t * 1e6:8.1f} µs"


# --------------------------------------------------------------------------------------------
lesson.step("The problem: a small batch through one Conv2D layer")
n_img, hw, c_in, filters, k = (2, 12, 8, 16, 3) if lesson.quick else (4, 20, 16, 32, 3)
rng = np.random.default_rng(0)
x = rng.standard_normal((n_img, hw, hw, c_in)).astype(np.float32)
kernel = (rng.standard_normal((k, k, c_in, filters)) * 0.1).astype(np.float32)
bias = np.zeros(filters, np.float32)
oh = ow = convlab.conv_output_size(hw, k, "valid", 1)
flops = 2 * n_img * oh * ow * filters * k * k * c_in
lesson.say(
    f"x {x.shape} (N, H, W, C), kernel {kernel.shape} (KH, KW, C_in, C_out), 'valid', stride 1",
    f"output {(n_img, oh, ow, filters)}; each output number = {k}·{k}·{c_in} = {k * k * c_in} "
    f"multiply-adds → {flops:,} FLOPs in all",
)
lesson.check("output size (20 + 0 − 3)/1 + 1" if not lesson.quick else "output size (12 + 0 − 3)/1 + 1", oh, hw - k + 1)

# --------------------------------------------------------------------------------------------
lesson.step("The machine's practical peak: a float32 matrix product")
m = 512 if lesson.quick else 1024
a = rng.standard_normal((m, m), dtype=np.float32)
t_mm = best_time(lambda: a @ a, 5)
peak = 2 * m**3 / t_mm
lesson.say(
    f"{m}×{m} @ {m}×{m}: {2 * m**3:,} FLOPs in {fmt(t_mm)} → {peak / 1e9:.0f} GFLOP/s",
    "(NumPy calls an optimised BLAS; few programs get closer to the hardware's limit)",
)

# --------------------------------------------------------------------------------------------
lesson.step("1. Loops: the definition, one number at a time (backend='reference')")
n_ref = 1 if lesson.quick else 2  # the loops are slow: time one or two images and scale
t_ref = best_time(lambda: convlab.conv2d(x[:n_ref], kernel, bias, backend="reference"), 1) * n_img / n_ref
y_ref = convlab.conv2d(x, kernel, bias, backend="reference")
lesson.say(
    f"time {fmt(t_ref)}  → {flops / t_ref / 1e9:7.3f} GFLOP/s "
    f"({100 * flops / t_ref / peak:.3f}% of peak)"
    + (f"   [timed on {n_ref} of {n_img} images]" if n_ref < n_img else ""),
    "Each output pays Python's interpreter and a small NumPy call: the CPU mostly waits.",
)

# --------------------------------------------------------------------------------------------
lesson.step("2. im2col + one matrix product")
cols, (oh2, ow2) = convlab.im2col(x, k)
lesson.say(f"im2col matrix: {cols.shape} = (N·OH·OW, KH·KW·C) = ({n_img}·{oh}·{ow}, {k}·{k}·{c_in})")
lesson.check("im2col rows = N·OH·OW", cols.shape[0], n_img * oh * ow)
lesson.check("im2col columns = KH·KW·C", cols.shape[1], k * k * c_in)
w_mat = kernel.reshape(k * k * c_in, filters)


def by_matmul():
    c, _ = convlab.im2col(x, k)
    return (c @ w_mat + bias).reshape(n_img, oh, ow, filters)


reps = 3 if lesson.quick else 7
t_i2c = best_time(by_matmul, reps)
t_np = best_time(lambda: convlab.conv2d(x, kernel, bias, backend="numpy"), reps)
y_i2c = by_matmul()
lesson.say(
    f"im2col + @     : {fmt(t_i2c)} → {flops / t_i2c / 1e9:7.2f} GFLOP/s",
    f"backend='numpy': {fmt(t_np)} → {flops / t_np / 1e9:7.2f} GFLOP/s  (the same idea)",
    "The matrix product runs at BLAS speed; copying the windows (and the memory it needs) is the cost.",
)

# --------------------------------------------------------------------------------------------
lesson.step("3. The compiled kernel (backend='numba', the default)")
convlab.conv2d(x, kernel, bias)  # the first call compiles (or loads from the on-disk cache)
t_nb = best_time(lambda: convlab.conv2d(x, kernel, bias), reps * 3)
y_nb = convlab.conv2d(x, kernel, bias)
lesson.say(
    f"numba          : {fmt(t_nb)} → {flops / t_nb / 1e9:7.2f} GFLOP/s ({100 * flops / t_nb / peak:.0f}% of peak)",
    "What it does differently: a tile of outputs (a few columns × 16–64 filters) stays in vector",
    "registers while the loop walks the KH·KW·C window; each step is one broadcast and a few fused",
    "multiply-adds on 8 or 16 numbers at once. No im2col matrix: the kernel is repacked so each block",
    "of filters is one contiguous stream, and the threads split the output rows × filter blocks.",
    "Tiny problems run serially: waking threads would cost more than the work.",
)
from convlab.kernels import conv as _nbconv

_macs = n_img * oh * ow * k * k * c_in * filters
if k == 3 and c_in >= _nbconv.WINOGRAD_MIN_C and _macs >= _nbconv.SERIAL_MACS:
    lesson.say(
        "This layer (3×3, stride 1, C_in ≥ 16) took a shortcut: Winograd's F(2×2, 3×3) (Lavin & Gray",
        "2015) gets each 2×2 block of outputs from a 4×4 input tile with 16 multiplications instead",
        "of 36, by transforming tile and filter first — so the GFLOP/s above count the direct",
        "method's flops, more than were really done.",
    )
else:
    lesson.say(
        f"(With C_in = {c_in} this is the direct tiled kernel; 3×3 stride-1 layers with 16 or more",
        "input channels use Winograd's F(2×2, 3×3): 16 multiplications per 2×2 outputs instead of 36.)",
    )
lesson.say(
    "",
    f"speed-up over the loops: ×{t_ref / t_nb:,.0f}; over im2col + @: ×{t_i2c / t_nb:.1f} "
    "(on this size — the benchmark has the big layers)",
)

# --------------------------------------------------------------------------------------------
lesson.step("All three compute the same numbers")
lesson.check("im2col + @ == loops", y_i2c, y_ref, atol=1e-4, rtol=1e-4)
lesson.check("numba == loops", y_nb, y_ref, atol=1e-4, rtol=1e-4)
lesson.say("(float32 sums in a different order differ in the last bits: hence a tolerance of 1e-4)")

# --------------------------------------------------------------------------------------------
lesson.step("What im2col costs in memory: the benchmark's layers")
rows = []
for name, (n, h, w, c, _f, kk, pad) in {
    "W1": (128, 28, 28, 1, 32, 3, "valid"),
    "W2": (64, 32, 32, 32, 64, 3, "same"),
    "W3": (8, 56, 56, 128, 128, 3, "same"),
}.items():
    o_h = convlab.conv_output_size(h, kk, pad, 1)
    o_w = convlab.conv_output_size(w, kk, pad, 1)
    in_bytes = n * h * w * c * 4
    cols_bytes = n * o_h * o_w * kk * kk * c * 4
    rows.append((name, in_bytes, cols_bytes))
    lesson.say(
        f"{name}: input {in_bytes / 2**20:7.1f} MiB   im2col matrix {cols_bytes / 2**20:7.1f} MiB "
        f"(×{cols_bytes / in_bytes:.1f})"
    )
lesson.check("W2's im2col matrix is KH·KW = 9× its input ('same' keeps 32×32)", rows[1][2] / rows[1][1], 9.0)
lesson.say(
    "The compiled kernel reads the (padded) input in place: its extra memory is one padded copy",
    "of the input, not nine.",
)

# --------------------------------------------------------------------------------------------
lesson.step("The full benchmark (benchmarks/bench.py)")
res = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
if (res / "results.json").exists():
    data = json.loads((res / "results.json").read_text())
    for r in data["rows"]:
        timed_op = r["op"] in ("forward", "backward dx+dk", "fwd+dx+dk", "fwd+bwd", "fit 1 epoch")
        if timed_op and r["impl"] in ("numba", "tensorflow"):
            ratio = f"  ×TF {r['ratio_to_tf']:.2f}" if r.get("ratio_to_tf") else ""
            lesson.say(f"  {r['workload']:5} {r['op']:14} {r['impl']:10} {fmt(r['time_s'])}{ratio}")
    if (res / "results.png").exists():
        import matplotlib.image as mpimg
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.imshow(mpimg.imread(res / "results.png"))
        ax.axis("off")
        lesson.savefig(fig, "benchmark")
else:
    lesson.say(
        "No results yet: run `convlab bench` (or `python benchmarks/bench.py --quick`) from the",
        "repository root, then run this lesson again to see the table and plot here.",
    )

lesson.finish()
