"""The Keras-like ``model.summary()`` table, from rows of numbers (no layers, no arrays)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["format_summary", "readable_size"]


def _fmt_shape(shape: Sequence[int | None]) -> str:
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    if len(shape) == 1:
        inner += ","
    return f"({inner})"


def readable_size(nbytes: float) -> str:
    """Bytes as Keras 3's summary writes them: ``"256.00 B"``, ``"16.36 KB"``, ``"1.65 MB"`` (powers of 1024).

    Source: ``keras.src.utils.summary_utils.readable_memory_size``.
    """
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def format_summary(
    rows: Iterable[Sequence],
    *,
    title: str | None = None,
    show_formula: bool = False,
    trainable: int | None = None,
    nbytes: tuple[int, int] | None = None,
) -> str:
    """A Keras-like ``model.summary()`` table.

    Args:
        rows: sequences ``(name, layer_type, output_shape, params)`` or
            ``(name, layer_type, output_shape, params, formula)``; ``output_shape``
            includes the batch dimension as ``None``.
        title: optional heading (e.g. ``'Model: "sequential"'``).
        show_formula: add a column with each row's parameter formula.
        trainable: trainable parameter count (defaults to the total); the rest is
            reported as non-trainable (Keras: moving statistics, frozen layers).
        nbytes: optional ``(total_bytes, trainable_bytes)`` of the weights: each total
            line then ends with its size as Keras 3 writes it (``"Total params: 4,189 (16.36 KB)"``).

    Returns:
        The table as one string (no trailing newline), laid out as Keras'
        ``model.summary()``: name (type), output shape, parameter count, then the lines
        ``Total params``, ``Trainable params``, ``Non-trainable params``.
    """
    rows = [tuple(r) for r in rows]
    head = ["Layer (type)", "Output Shape", "Param #"] + (["Formula"] if show_formula else [])
    body = []
    for r in rows:
        name, typ, shape, params = r[:4]
        line = [f"{name} ({typ})", _fmt_shape(shape), f"{params:,}"]
        if show_formula:
            line.append(r[4] if len(r) > 4 else "")
        body.append(line)
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i != 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    total = sum(int(r[3]) for r in rows)
    bar = "=" * (sum(widths) + 2 * (len(widths) - 1))
    out = [title] if title else []
    out += [fmt(head), bar] + [fmt(b) for b in body] + [bar]
    tr = total if trainable is None else trainable
    counts = [("Total params", total), ("Trainable params", tr), ("Non-trainable params", total - tr)]
    sizes = None if nbytes is None else (nbytes[0], nbytes[1], nbytes[0] - nbytes[1])
    for i, (label, n) in enumerate(counts):
        out.append(f"{label}: {n:,}" + ("" if sizes is None else f" ({readable_size(sizes[i])})"))
    return "\n".join(out)
