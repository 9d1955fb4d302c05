"""``bench.py``'s results: rounds combined into medians, ratios to TensorFlow and PyTorch, the tables and the plot."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from convlab.util.files import atomic_path

#: The issue-17 targets: convlab's time / the faster of TensorFlow and PyTorch, per (workload, operation).
TARGETS = {
    ("W1", "forward"): 0.8,
    ("W2", "forward"): 0.8,
    ("W3", "forward"): 0.8,
    ("W4", "forward"): 0.5,
    ("W1", "backward dx+dk"): 0.8,
    ("W2", "backward dx+dk"): 0.8,
    ("W3", "backward dx+dk"): 0.8,
    ("POOL", "fwd+bwd"): 0.8,
    ("EPOCH", "1 epoch"): 0.5,
}
IMPL_ORDER = ["reference", "numpy", "numba", "tensorflow", "pytorch"]


def combine_rounds(rounds):
    """One row per (workload, op, impl): the median over the rounds' (per-process median) times.

    ``rounds``: a list of row lists, one per worker process run. The first
    non-empty note of a row is kept; ``round_times`` lists every round's time.
    """
    merged = {}
    for rows in rounds:
        for r in rows:
            key = (r["workload"], r["op"], r["impl"])
            m = merged.setdefault(key, {**r, "round_times": []})
            m["round_times"].append(r["time_s"])
            m["note"] = m["note"] or r["note"]
    for m in merged.values():
        m["time_s"] = statistics.median(m["round_times"])
    return list(merged.values())


def add_ratios(rows, peak_flops_s):
    """Fill each row's ``gflops``, ``ratio_to_tf``, ``ratio_to_torch`` and ``pct_peak`` (None where not defined)."""
    tf_time = {(r["workload"], r["op"]): r["time_s"] for r in rows if r["impl"] == "tensorflow"}
    torch_time = {(r["workload"], r["op"]): r["time_s"] for r in rows if r["impl"] == "pytorch"}
    for r in rows:
        gf = r["flops"] / r["time_s"] / 1e9 if r["flops"] else None
        tf_t = tf_time.get((r["workload"], r["op"]))
        torch_t = torch_time.get((r["workload"], r["op"]))
        r["gflops"] = gf
        r["ratio_to_tf"] = r["time_s"] / tf_t if tf_t else None
        r["ratio_to_torch"] = r["time_s"] / torch_t if torch_t else None
        r["pct_peak"] = 100 * gf * 1e9 / peak_flops_s if gf and peak_flops_s else None
    order = {w: i for i, w in enumerate(["PEAK", "W1", "W2", "W3", "W4", "POOL", "EPOCH"])}
    ops = {o: i for i, o in enumerate(["matmul 2048³", "forward", "backward dx+dk", "fwd+dx+dk", "fwd+bwd", "1 epoch"])}
    rows.sort(key=lambda r: (order.get(r["workload"], 99), ops.get(r["op"], 99), IMPL_ORDER.index(r["impl"])))
    return rows


def summary(rows):
    """The headline rows: convlab's default backend against each framework, and the target where there is one."""
    out = []
    for r in rows:
        if r["impl"] != "numba":
            continue
        others = [t for t in (_time(rows, r, "tensorflow"), _time(rows, r, "pytorch")) if t]
        best = r["time_s"] / min(others) if others else None
        target = TARGETS.get((r["workload"], r["op"]))
        out.append(
            {
                "workload": r["workload"],
                "op": r["op"],
                "convlab_s": r["time_s"],
                "tensorflow_s": _time(rows, r, "tensorflow"),
                "pytorch_s": _time(rows, r, "pytorch"),
                "ratio_to_tf": r["ratio_to_tf"],
                "ratio_to_torch": r["ratio_to_torch"],
                "ratio_to_faster": best,
                "target": target,
                "met": None if target is None or best is None else best <= target,
            }
        )
    return out


def _time(rows, r, impl):
    return next(
        (o["time_s"] for o in rows if o["impl"] == impl and (o["workload"], o["op"]) == (r["workload"], r["op"])), None
    )


def fmt_time(t):
    if t is None:
        return ""
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} µs"


def _ratio(v):
    return "" if v is None else f"{v:.2f}"


def to_markdown(rows, info, peak, compile_info, memory, how, faults=None):
    """The report: the summary table (both ratios and the targets), every row, memory, start-up and the machine."""
    out = [
        "# convlab benchmark",
        "",
        f"float32, NHWC. {how} Ratio = convlab's time / that framework's time for the same operation in the "
        "same run (< 1: convlab is faster). Only ratios from one run compare: machines differ from day to day.",
        "",
        f"Machine: {info.get('cpu')}, {info.get('cpu_count')} cores, {' '.join(info.get('isa', [])) or 'ISA unknown'}; "
        f"practical peak (NumPy float32 2048³ matmul) {peak / 1e9:.0f} GFLOP/s.",
        "",
        "## convlab against TensorFlow and PyTorch",
        "",
        "| workload | operation | convlab | TensorFlow | PyTorch | / TF | / PyTorch | / faster | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summary(rows):
        target = (
            ""
            if s["target"] is None
            else f"≤ {s['target']:g}" + ("" if s["met"] is None else (" ✓" if s["met"] else " ✗"))
        )
        out.append(
            f"| {s['workload']} | {s['op']} | {fmt_time(s['convlab_s'])} | {fmt_time(s['tensorflow_s'])} | "
            f"{fmt_time(s['pytorch_s'])} | {_ratio(s['ratio_to_tf'])} | {_ratio(s['ratio_to_torch'])} | "
            f"{_ratio(s['ratio_to_faster'])} | {target} |"
        )
    out += [
        "",
        "## Every row",
        "",
        "| workload | operation | implementation | time | GFLOP/s | ratio to TF | ratio to PyTorch | % of peak "
        "| note |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        out.append(
            "| {workload} | {op} | {impl} | {t} | {gf} | {ratio} | {ratio_pt} | {pct} | {note} |".format(
                workload=r["workload"],
                op=r["op"],
                impl=r["impl"],
                t=fmt_time(r["time_s"]),
                gf=f"{r['gflops']:.1f}" if r["gflops"] else "",
                ratio=_ratio(r["ratio_to_tf"]),
                ratio_pt=_ratio(r["ratio_to_torch"]),
                pct=f"{r['pct_peak']:.0f}%" if r["pct_peak"] else "",
                note=r["note"],
            )
        )
    out.append("")
    if memory:
        out += [
            "Peak memory of one W3 conv2d call (fresh process, peak RSS above the RSS before the call; "
            "input + output + kernel = the arrays the call must hold anyway):",
            "",
        ]
        for backend, (extra, base, inputs) in memory.items():
            out.append(
                f"- {backend}: {extra / 2**20:.1f} MiB allocated by the call (output included); peak with the "
                f"inputs {(extra + inputs) / 2**20:.1f} MiB = {(extra + inputs) / base:.2f} × (input + output + "
                f"kernel = {base / 2**20:.1f} MiB)"
            )
        out.append("")
    if faults:
        cells = "; ".join(
            f"{label}: {faults[mode][0]:g} (mean {faults[mode][1]:.1f})"
            for mode, label in (
                ("plain", "glibc's allocator as it comes"),
                ("mallopt", "with mallopt keeping freed memory"),
            )
            if mode in faults
        )
        out += [
            f"Minor page faults per training step of seeds/004's model (batch 128, median of 60 steps): {cells}.",
            "",
        ]
    if compile_info:
        (imp1, k1), (imp2, k2) = compile_info
        out += [
            f"Kernel start-up in a fresh process: first run {k1:.2f} s (import {imp1:.2f} s), "
            f"second run {k2:.2f} s (import {imp2:.2f} s) — the second loads the compiled kernels from "
            "the on-disk cache (`cache=True`).",
            "",
        ]
    out += ["## Machine", "", "```", json.dumps(info, indent=1, default=str), "```", ""]
    return "\n".join(out)


def plot(rows, peak, path: Path):
    """A bar chart of the conv forward rates per implementation (log scale), with the matmul peak; PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conv = [r for r in rows if r["workload"] in ("W1", "W2", "W3") and r["op"] == "forward" and r["gflops"]]
    impls = sorted({r["impl"] for r in conv}, key=IMPL_ORDER.index)
    wls = [w for w in ("W1", "W2", "W3") if any(r["workload"] == w for r in conv)]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(1, len(impls))
    for i, impl in enumerate(impls):
        vals = [next((r["gflops"] for r in conv if r["workload"] == w and r["impl"] == impl), 0) for w in wls]
        ax.bar(np.arange(len(wls)) + i * width, vals, width, label=impl)
    ax.axhline(peak / 1e9, color="k", ls="--", lw=1, label="matmul peak")
    ax.set_xticks(np.arange(len(wls)) + width * (len(impls) - 1) / 2)
    ax.set_xticklabels(wls)
    ax.set_ylabel("GFLOP/s (float32)")
    ax.set_yscale("log")
    ax.set_title("conv2d forward: convlab backends vs TensorFlow and PyTorch")
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)
