# %% [markdown]
# # Lesson 10 — why some convolution code is a thousand times faster than other code
#
# Why it matters: training a CNN runs the same convolution millions of times.
# Written as plain loops it is hundreds of times slower than a compiled kernel
# that computes the very same numbers — the difference between minutes and days.
#
# The same convolution, three ways — three *backends* of `convlab.conv2d`
# (implementations of one operation, chosen with `backend=`); every number
# below is measured live:
#
# 1. **loops** (`backend="reference"`): one output number at a time, exactly as
#    the slides (seeds/003) compute it by hand — clear, and slow in Python;
# 2. **im2col + one matrix product** (`convlab.im2col` + `@`, which is
#    `backend="numpy"`): copy every `K×K×N_c` window into a row of a big
#    matrix, then one call to the BLAS matrix product — fast, but the matrix is
#    `K·K` times the input;
# 3. **the compiled kernel** (`backend="numba"`, the default): no big matrix;
#    tiles of outputs kept in the CPU's vector registers while the kernel streams
#    over the window (see `convlab/kernels/tile.py`).
#
# Letters as in the slides and lessons 03–05: input `N×M×N_c`, kernel `K×K`,
# `N_f` filters, output `T×U×N_f`; `B` is the batch size (how many images go
# through the layer in one call — not `N`, which is the input's side). We count
# the work in FLOPs (`2·B·T·U·N_f·K·K·N_c`: one multiply and one add per kernel
# weight per output) and compare with the machine's practical peak, measured with
# a quick matrix product.
#
# Run: `python lessons/10_why_kernels_are_fast.py [--step] [--out DIR] [--quick] [--lang es]`.

# %%
import json
import time
from pathlib import Path

import numpy as np

import convlab
from convlab.kernels import conv as numba_conv
from convlab.lesson import Lesson, _

lesson = Lesson(__file__, "Why kernels are fast: loops, im2col, compiled code")
lesson.say(
    _(
        "Why it matters: training a CNN runs the same convolution millions of times. Written as plain loops it is "
        "hundreds of times slower than a compiled kernel computing the very same numbers — the "
        "difference between minutes and days. Here we measure where that difference comes from."
    )
)


def best_time(fn, reps):
    """Best of ``reps`` runs after one warm-up (seconds): the least disturbed run."""
    fn()
    times = []
    for _rep in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def fmt(t):
    """A duration with its unit, 8 wide before it (timings are printed with their unit, never bare)."""
    if t >= 1:
        return f"{t:8.2f} s "
    return f"{t * 1e3:8.2f} ms" if t >= 1e-3 else f"{t * 1e6:8.1f} µs"


# %%
lesson.step(_("The problem: a small batch through one Conv2D layer"))
B, N, N_c, N_f, K = (2, 12, 8, 16, 3) if lesson.quick else (4, 20, 16, 32, 3)
M = N  # square images
rng = np.random.default_rng(0)
x = rng.standard_normal((B, N, M, N_c)).astype(np.float32)
kernel = (rng.standard_normal((K, K, N_c, N_f)) * 0.1).astype(np.float32)
bias = np.zeros(N_f, np.float32)
T = convlab.conv_output_size(N, K, "valid", 1)
U = convlab.conv_output_size(M, K, "valid", 1)
flops = 2 * B * T * U * N_f * K * K * N_c
lesson.say(
    _(
        "Letters as in the slides (lessons 03–05): input N×M×N_c, kernel K×K, N_f filters, output "
        "T×U×N_f. B is the batch size: a batch is a group of images that go through the layer in one "
        "call. (B, not N: N is the input's side.)"
    ),
    "",
    _("x      {shape}  = (B, N, M, N_c), Keras' order").format(shape=x.shape),
    f"kernel {kernel.shape}  = (K, K, N_c, N_f)",
    _("'valid' (no padding), stride 1:"),
    "    " + _("{formula}   (U the same, as M = N)").format(formula=convlab.output_size_formula(N, K, 0, 1)),
)
y_shape = convlab.conv2d(x, kernel, bias).shape
lesson.say(_("output {shape}  = {letters}").format(shape=y_shape, letters="(B, T, U, N_f)"))
lesson.check(_("output shape (B, T, U, N_f), T and U from the slides' formula"), y_shape, (B, T, U, N_f))
lesson.say(
    "",
    _(
        "A FLOP is one floating-point operation: one multiply or one add. Each output number needs "
        "K·K·N_c = {k}·{k}·{n_c} = {products} multiply-adds, so"
    ).format(k=K, n_c=N_c, products=K * K * N_c),
    f"    FLOPs = 2·B·T·U·N_f·K·K·N_c = 2·{B}·{T}·{U}·{N_f}·{K}·{K}·{N_c} = {flops:,}",
)
weights_per_filter = convlab.conv2d_param_count(N_f, K, N_c, use_bias=False) // N_f
lesson.check(
    _("FLOPs = 2 × outputs × weights per filter (conv2d_param_count)"),
    flops,
    2 * B * T * U * N_f * weights_per_filter,
)

# %%
lesson.step(_("The machine's practical peak: a float32 matrix product"))
m = 512 if lesson.quick else 1024
a = rng.standard_normal((m, m), dtype=np.float32)
t_mm = best_time(lambda: a @ a, 5)
peak = 2 * m**3 / t_mm
lesson.say(
    _(
        "float32 numbers have 32 bits (about 7 significant digits): what Keras trains in. NumPy's matrix "
        "product calls BLAS (Basic Linear Algebra Subprograms), a library hand-tuned for each CPU; few "
        "programs get closer to the hardware's limit, so its speed is our practical peak."
    ),
    _("{m}×{m} @ {m}×{m}: {flops:,} FLOPs in {time}").format(m=m, flops=2 * m**3, time=fmt(t_mm).strip()),
    "    " + _("→ {gflops:.0f} GFLOP/s  (1 GFLOP/s = 10⁹ FLOPs per second)").format(gflops=peak / 1e9),
)

# %%
lesson.step(_("1. Loops, one number at a time (backend='reference')"))
lesson.say(
    _(
        "convlab.conv2d has three backends: three implementations of the same operation, chosen with "
        "the backend= argument. 'reference' is the definition written as loops, one output number at a time, "
        "as the slides compute it by hand."
    )
)
n_ref = 1 if lesson.quick else 2  # the loops are slow: time one or two images and scale
t_ref = best_time(lambda: convlab.conv2d(x[:n_ref], kernel, bias, backend="reference"), 1) * B / n_ref
y_ref = convlab.conv2d(x, kernel, bias, backend="reference")
LABEL = 15  # the width of the method's name in the timing lines of steps 3 to 5, so that they align
loops = _("loops")
lesson.say(
    _("{loops}: {time} → {gflops:7.3f} GFLOP/s ({percent:.3f}% of peak)").format(
        loops=loops.ljust(LABEL), time=fmt(t_ref), gflops=flops / t_ref / 1e9, percent=100 * flops / t_ref / peak
    ),
)
if n_ref < B:
    lesson.say(
        _("(the loops are slow: timed on {n} of the {b} images and scaled ×{factor})").format(
            n=n_ref, b=B, factor=B // n_ref
        )
    )
lesson.say(_("Each output pays Python's interpreter and a small NumPy call: the CPU mostly waits."))

# %%
lesson.step(_("2. im2col + one matrix product (backend='numpy')"))
lesson.say(
    _(
        "im2col ('image to columns') copies every K×K×N_c window into one row of a matrix; the kernel, "
        "reshaped to (K·K·N_c, N_f), then multiplies all windows at once in one matrix product."
    )
)
cols, _positions = convlab.im2col(x, K)
lesson.say(
    _("im2col matrix {shape} = {sizes}").format(
        shape=cols.shape, sizes=f"(B·T·U, K·K·N_c) = ({B}·{T}·{U}, {K}·{K}·{N_c})"
    )
)
lesson.check(_("im2col rows = B·T·U"), cols.shape[0], B * T * U)
lesson.check(_("im2col columns = K·K·N_c"), cols.shape[1], K * K * N_c)
w_mat = kernel.reshape(K * K * N_c, N_f)


def by_matmul():
    c, _positions = convlab.im2col(x, K)
    return (c @ w_mat + bias).reshape(B, T, U, N_f)


reps = 3 if lesson.quick else 7
t_i2c = best_time(by_matmul, reps)
t_np = best_time(lambda: convlab.conv2d(x, kernel, bias, backend="numpy"), reps)
y_i2c = by_matmul()
lesson.say(
    "im2col + @".ljust(LABEL) + f": {fmt(t_i2c)} → {flops / t_i2c / 1e9:7.2f} GFLOP/s",
    _("{label}: {time} → {gflops:7.2f} GFLOP/s  (the same idea)").format(
        label="backend='numpy'".ljust(LABEL), time=fmt(t_np), gflops=flops / t_np / 1e9
    ),
    _("The matrix product runs at BLAS speed; copying the windows (and the memory that takes) is the cost."),
)

# %%
lesson.step(_("3. The compiled kernel (backend='numba', the default)"))
convlab.conv2d(x, kernel, bias)  # the first call compiles (or loads from the on-disk cache)
t_nb = best_time(lambda: convlab.conv2d(x, kernel, bias), reps * 3)
y_nb = convlab.conv2d(x, kernel, bias)
lesson.say(
    _("Numba compiles Python functions to machine code on their first call (cached on disk after that)."),
    _("{label}: {time} → {gflops:7.2f} GFLOP/s ({percent:.0f}% of peak)").format(
        label="numba".ljust(LABEL), time=fmt(t_nb), gflops=flops / t_nb / 1e9, percent=100 * flops / t_nb / peak
    ),
    "",
    _("What it does differently:"),
    _(
        "- A vector register holds 8 or 16 float32 numbers that one instruction processes together, and "
        "a fused multiply-add (FMA) computes a·b + c in one instruction."
    ),
    _(
        "- A tile of outputs (a few columns × 16–64 filters) stays in vector registers while the loop walks "
        "the K·K·N_c window: each step is one broadcast (one input number copied into every slot of a "
        "register) and a few FMAs on 8 or 16 numbers at once."
    ),
    _("- No im2col matrix: the kernel is repacked so each block of filters is one contiguous stream."),
    _(
        "- Threads (the CPU's cores, working at once) split the output rows × filter blocks. Tiny "
        "problems run on one core: waking the others would cost more than the work."
    ),
)
macs = B * T * U * K * K * N_c * N_f
if K == 3 and N_c >= numba_conv.WINOGRAD_MIN_C and macs >= numba_conv.SERIAL_MACS:
    m = numba_conv.winograd_tile(T, U, N_c)
    lesson.say(
        _(
            "This layer (3×3, stride 1, N_c ≥ 16) took a shortcut: Winograd's F({m}×{m}, 3×3) (Lavin & Gray "
            "2015), an algebraic trick that gets each {m}×{m} block of outputs from a {t}×{t} input tile with "
            "{products} multiplications instead of {direct}, by transforming tile and filter first — so the "
            "GFLOP/s above count the direct method's FLOPs, more than were really done."
        ).format(m=m, t=m + 2, products=(m + 2) ** 2, direct=9 * m * m),
    )
else:
    lesson.say(
        _(
            "(With N_c = {n_c} this is the direct tiled kernel; 3×3 stride-1 layers with 16 or more input "
            "channels use Winograd's F(4×4, 3×3) or F(2×2, 3×3), an algebraic trick that computes a block of "
            "outputs with fewer multiplications: 36 instead of 144 for a 4×4 block, 16 instead of 36 for 2×2.)"
        ).format(n_c=N_c),
    )
lesson.say(
    "",
    _(
        "speed-up over the loops: {loops:.0f}×; over im2col + @: {im2col:.1f}× "
        "(on this size — the benchmark has the big layers)"
    ).format(loops=t_ref / t_nb, im2col=t_i2c / t_nb),
)

# %%
lesson.step(_("All three compute the same numbers"))
lesson.check(_("im2col + @ == loops"), y_i2c, y_ref, atol=1e-4, rtol=1e-4, show_tolerance=True)
lesson.check(_("numba == loops"), y_nb, y_ref, atol=1e-4, rtol=1e-4, show_tolerance=True)
diff = max(float(np.abs(y_i2c - y_ref).max()), float(np.abs(y_nb - y_ref).max()))
lesson.say(
    _("largest difference: {diff:.1e} (outputs are about ±{size:.0f})").format(
        diff=diff, size=float(np.abs(y_ref).max())
    ),
    _(
        "float32 keeps about 7 digits, and the three add the {products} products of each output in "
        "different orders, so the last bits differ: hence a tolerance of 1e-4, not exact equality."
    ).format(products=K * K * N_c),
)

# %%
lesson.step(_("What im2col costs in memory: the benchmark's layers"))
lesson.say(_("float32 = 4 bytes per number; 1 MiB = 2²⁰ bytes."))
rows = {}
for name, (b, n, mm, c, _nf, k, pad) in {
    "W1": (128, 28, 28, 1, 32, 3, "valid"),
    "W2": (64, 32, 32, 32, 64, 3, "same"),
    "W3": (8, 56, 56, 128, 128, 3, "same"),
}.items():
    t = convlab.conv_output_size(n, k, pad, 1)
    u = convlab.conv_output_size(mm, k, pad, 1)
    in_bytes = b * n * mm * c * 4
    cols_bytes = b * t * u * k * k * c * 4
    rows[name] = (in_bytes, cols_bytes, t, u, n, mm, k)
    lesson.say(
        _("{name}: B={b:<3} {shape:<9} input {input:6.1f} MiB  im2col {cols:6.1f} MiB (×{ratio:.1f})").format(
            name=name,
            b=b,
            shape=f"{n}×{mm}×{c}",
            input=in_bytes / 2**20,
            cols=cols_bytes / 2**20,
            ratio=cols_bytes / in_bytes,
        )
    )
in1, cols1, t1, u1, n1, m1, k1 = rows["W1"]
lesson.check(_("W1 ('valid'): ratio = T·U·K·K/(N·M) = 26·26·9/(28·28)"), cols1 / in1, t1 * u1 * k1 * k1 / (n1 * m1))
lesson.check(_("W2's im2col matrix is K·K = 9× its input ('same' keeps 32×32)"), rows["W2"][1] / rows["W2"][0], 9.0)
lesson.say(
    _(
        "The compiled kernel reads the (padded) input in place: its extra memory is one padded copy of "
        "the input, not nine."
    ),
)

# %%
lesson.step(_("The full benchmark (benchmarks/bench.py)"))
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
        _(
            "No results yet: run `convlab bench` (or `python benchmarks/bench.py --quick`) from the "
            "repository root, then run this lesson again to see the table and plot here."
        ),
    )

lesson.finish()
