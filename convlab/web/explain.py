"""Every layer's output for one input, and the arithmetic behind any one number of it (click-to-explain).

:func:`layer_outputs` runs one input through a :class:`~convlab.model.sequential.Sequential`
with the model's own (fast) backend and keeps every layer's output. :func:`explain`
takes one number of one layer and recomputes it from the layer's input, the slow
and obvious way, then checks that it equals the number the fast path produced:

- ``Conv2D`` (any kernel, strides, padding, activation, input channels): the
  ``KH×KW×C_in`` window of the zero-padded input, the filter's kernel, every product
  written as the slides write them (``0.2353*(-0.1234) + …``), their sum, the bias and
  the activation — computed with ``backend="reference"`` (:func:`convlab.ops.conv.conv2d`
  on the window: the reference's own loop body, one output pixel);
- ``MaxPooling2D`` / ``AveragePooling2D``: the window, which pixel won (TensorFlow's
  rule: the first maximum in row-major order; pads never win) or the mean of the real
  pixels — with the reference backend on the channel;
- ``Dense``: the largest contributions ``x[i]·w[i, unit]``, where each input came from
  (through ``Flatten``: the row, column and channel of the layer before), the sum, the
  bias and the activation (softmax: over all units) — in float64;
- ``Flatten``, ``Dropout``, ``Activation`` / ``ReLU`` / ``Softmax``: what the number is.

Each explanation's ``value`` is compared with the layer's output (``map_value``) at a
float32 tolerance (``equal``): the reference and the compiled kernels add the
products in different orders, so the last bits may differ, never more.

Everything returned is JSON-ready: Python ints, floats, bools, strings and nested
lists (non-finite numbers become ``None``). Numbers in the texts have 4 significant
digits; the numeric fields keep every bit. The texts (``"text"``) are in the language
in use (:mod:`convlab.util.i18n`), their numbers the same in every language; the
argument checks' ``ValueError``/``TypeError`` messages stay English, as the engine's.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from convlab.model.layers.activation import Activation
from convlab.model.layers.conv import Conv2D
from convlab.model.layers.dense import Dense
from convlab.model.layers.dropout import Dropout
from convlab.model.layers.flatten import Flatten
from convlab.model.layers.pooling import AveragePooling2D, MaxPooling2D
from convlab.model.sequential import Sequential
from convlab.ops import activations
from convlab.ops.conv import conv2d
from convlab.ops.pooling import avg_pool2d, max_pool2d
from convlab.shapes.sizes import resolve_padding
from convlab.util.arrays import pad_nhwc
from convlab.util.i18n import _

__all__ = ["layer_outputs", "explain", "explainable", "fmt", "float_term", "EXPLAINABLE", "TOP_LIMIT"]

#: Layer classes :func:`explain` knows (ReLU and Softmax are Activation subclasses).
EXPLAINABLE = (Conv2D, MaxPooling2D, AveragePooling2D, Dense, Flatten, Dropout, Activation)


def explainable(layer: object) -> bool:
    """Whether :func:`explain` can show ``layer``'s arithmetic.

    A dilated or grouped ``Conv2D`` is left out: the explanation shows one dense
    ``KH×KW×C_in`` window next to the kernel, which is not what those layers multiply.
    """
    if isinstance(layer, Conv2D):
        return tuple(layer.dilation_rate) == (1, 1) and layer.groups == 1
    return isinstance(layer, EXPLAINABLE)


#: The most contributions a Dense explanation lists.
TOP_LIMIT = 1000
#: Float32's machine epsilon: the tolerance of ``equal`` is a small multiple of it times the terms' magnitude.
_EPS32 = float(np.finfo(np.float32).eps)


# --------------------------------------------------------------------------- numbers as text
def fmt(value: float) -> str:
    """A number with 4 significant digits, as the explanations write it (``-0`` is written ``0``)."""
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    text = f"{v:.4g}"
    return "0" if text in ("0", "-0") else text


def _factor(value: float) -> str:
    """A factor of a product: negative numbers in parentheses, as the slides write ``113*(-1)``."""
    text = fmt(value)
    return f"({text})" if text.startswith("-") else text


def float_term(p: float, q: float) -> str:
    """One product as the slides write it, with floats: ``0.2353*(-0.1234)``
    (:func:`convlab.teach.lesson.product_term` writes the slides' integers the same way)."""
    return f"{_factor(p)}*{_factor(q)}"


def _json(a: Any) -> Any:
    """``a`` as JSON-ready Python data: arrays → nested lists, NumPy scalars → int/float, non-finite → None."""
    if isinstance(a, np.ndarray):
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            return [_json(v) for v in a] if a.ndim > 1 else [_json(float(v)) for v in a]
        return a.tolist()
    if isinstance(a, (np.floating, float)):
        v = float(a)
        return v if math.isfinite(v) else None
    if isinstance(a, (np.integer,)):
        return int(a)
    if isinstance(a, np.bool_):
        return bool(a)
    if isinstance(a, dict):
        return {k: _json(v) for k, v in a.items()}
    if isinstance(a, (list, tuple)):
        return [_json(v) for v in a]
    return a


def _shape_text(shape: tuple[int, ...]) -> str:
    """``26×26×32`` for maps, ``100 units`` for vectors."""
    return f"{shape[0]} units" if len(shape) == 1 else "×".join(str(s) for s in shape)


# --------------------------------------------------------------------------- the forward pass
def _check_model(model: Any) -> tuple[int, ...]:
    """The model's input shape without the batch axis; TypeError / ValueError naming ``model``."""
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a convlab Sequential, got {type(model).__name__}")
    if not model.built or not model.layers:
        raise ValueError("model must be built (an input shape) and have layers")
    return tuple(int(s) for s in model.input_shape[1:])


def _check_x(model: Sequential, x: Any) -> np.ndarray:
    """``x`` as one input of the model's shape and dtype, finite; TypeError / ValueError naming ``x``."""
    shape = _check_model(model)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy array of shape {shape}, got {type(x).__name__}")
    if x.shape == (1,) + shape:
        x = x[0]
    if x.shape != shape:
        raise ValueError(f"x must have the model's input shape {shape} (one input, no batch axis), got {x.shape}")
    if x.dtype.kind not in "fiub":
        raise TypeError(f"x must hold real numbers, got dtype {x.dtype}")
    dtype = model.layers[0].dtype
    x = np.asarray(x, dtype=dtype)
    if not np.all(np.isfinite(x)):
        raise ValueError("x must hold finite numbers (no NaN or inf)")
    return x


def _kind(shape: tuple[int, ...]) -> str:
    return "maps" if len(shape) == 3 else ("vector" if len(shape) == 1 else "other")


def layer_outputs(model: Sequential, x: np.ndarray) -> list[dict[str, Any]]:
    """Every layer's output for one input, with the model's own backend (the fast path).

    Args:
        model: a built convlab ``Sequential``.
        x: one input, ``(H, W, C)`` — the model's input shape (a leading batch axis of 1 is
            accepted); converted to the model's dtype (float32).

    Returns:
        One dict per layer, in order: ``{"index": int, "name": str, "class_name": str
        ("Conv2D"…), "output_shape": [26, 26, 32], "kind": "maps" (3-D: H×W×C) | "vector"
        (1-D) | "other", "values": np.ndarray (the output, batch axis removed, a copy),
        "activation": "relu" | "softmax" | "sigmoid" | "tanh" | "linear" | None (layers
        without one), "explainable": bool, "min": float | None, "max": float | None}``.
        ``values`` stays an array (the caller turns it into a list or an image).

    Raises:
        TypeError / ValueError: ``model`` not a built Sequential; ``x`` not an array of the
            model's input shape, or not finite.
    """
    x = _check_x(model, x)
    out = []
    a = x[None]
    for i, layer in enumerate(model.layers):
        a = layer.forward(a, training=False)
        # A copy: a compiled kernel may reuse its output buffer at the next call.
        values = np.array(a[0], copy=True)
        finite = values[np.isfinite(values)]
        out.append(
            {
                "index": i,
                "name": layer.name,
                "class_name": type(layer).__name__,
                "output_shape": [int(s) for s in values.shape],
                "kind": _kind(values.shape),
                "values": values,
                "activation": layer.activation if isinstance(layer, (Conv2D, Dense, Activation)) else None,
                "explainable": explainable(layer) and _kind(values.shape) != "other",
                "min": float(finite.min()) if finite.size else None,
                "max": float(finite.max()) if finite.size else None,
            }
        )
    return out


# --------------------------------------------------------------------------- arguments
_INT_TEXT = re.compile(r"[+-]?\d{1,18}")


def _index(value: Any, name: str, high: int, where: str) -> int:
    """``value`` as an int in ``[0, high]``: Python/NumPy ints or decimal strings (query values).

    Raises TypeError (not an int: a bool, a float, None…) or ValueError (out of range, or a
    string that is not a whole number), naming ``name``, the range, ``where`` and the value given.
    """
    expected = f"{name} must be an int in [0, {high}] for {where}"
    if isinstance(value, str):
        text = value.strip()
        if not _INT_TEXT.fullmatch(text):
            raise ValueError(f"{expected}, got {value[:40]!r}")
        value = int(text)
    elif isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{expected}, got {value!r:.40} ({type(value).__name__})")
    value = int(value)
    if not 0 <= value <= high:
        raise ValueError(f"{expected}, got {value if abs(value) < 10**18 else 'a huge number'}")
    return value


def _layer_where(index: int, entry: dict[str, Any]) -> str:
    return f"layer {index} ({entry['name']}, output {_shape_text(tuple(entry['output_shape']))})"


def _position(
    entry: dict[str, Any], index: int, row: Any, col: Any, channel: Any, unit: Any
) -> tuple[int, int, int] | int:
    """The checked position: ``(row, col, channel)`` for maps, ``unit`` for vectors."""
    where = _layer_where(index, entry)
    shape = entry["output_shape"]
    if entry["kind"] == "maps":
        if unit is not None:
            raise ValueError(f"unit is for layers with a vector output; {where} takes row, col and channel")
        for name, v in (("row", row), ("col", col), ("channel", channel)):
            if v is None:
                raise ValueError(f"{name} is required for {where}: give row, col and channel")
        return (
            _index(row, "row", shape[0] - 1, where),
            _index(col, "col", shape[1] - 1, where),
            _index(channel, "channel", shape[2] - 1, where),
        )
    if entry["kind"] == "vector":
        for name, v in (("row", row), ("col", col), ("channel", channel)):
            if v is not None:
                raise ValueError(f"{name} is for layers with feature maps; {where} takes unit")
        if unit is None:
            raise ValueError(f"unit is required for {where}")
        return _index(unit, "unit", shape[0] - 1, where)
    raise ValueError(f"{where} has an output of shape {tuple(shape)}, which cannot be explained here")


# --------------------------------------------------------------------------- the explanations
def _tolerance(magnitude: float) -> float:
    """How far two float32 results of the same sum may differ when the terms are added in another order.

    ``magnitude`` is the sum of the terms' absolute values (plus the bias'): each float32
    addition may round by half an ulp of the running sum, so the gap grows with it. Measured
    over every output of three networks (the course CNN, 3×3×64 kernels, strides and "same"
    pads): at most 1.4·eps·magnitude between the reference and the compiled kernels; 64 leaves
    a wide margin and is still far below any digit the page shows.
    """
    return 64 * _EPS32 * max(float(magnitude), 1e-6)


def _check_line(equal: bool, map_value: float) -> str:
    if equal:
        return _("✓ equals the value in the layer's output, {value}").format(value=fmt(map_value))
    return _("✗ differs from the value in the layer's output, {value}").format(value=fmt(map_value))


def _activation_line(act: str, z: float, value: float, over: str) -> str:
    """The activation's step; ``over`` says what a softmax runs over (translated, e.g. "the 10 units")."""
    if act == "linear":
        return _("no activation (linear) → {value}").format(value=fmt(value))
    if act == "relu":
        return f"relu: max({fmt(z)}, 0) → {fmt(value)}"
    if act == "softmax":
        return _("softmax over {over}: e^{z} / Σ e^z → {value}").format(over=over, z=_factor(z), value=fmt(value))
    return f"{act}({fmt(z)}) → {fmt(value)}"


def _source_name(model: Sequential, index: int) -> str:
    """The name of what feeds layer ``index``: the previous layer's name, or ``input``."""
    return "input" if index == 0 else model.layers[index - 1].name


def _explain_conv(layer: Conv2D, a: np.ndarray, pos: tuple[int, int, int], src: str, map_value: float) -> dict:
    row, col, ch = pos
    h, w, c_in = a.shape
    kh, kw = layer.kernel_size
    sh, sw = layer.strides
    pads = resolve_padding((h, w), (kh, kw), layer.padding, (sh, sw))
    xp = pad_nhwc(a[None], pads)[0]
    window = np.ascontiguousarray(xp[row * sh : row * sh + kh, col * sw : col * sw + kw, :])  # (KH, KW, C_in)
    r0, c0 = row * sh - pads[0], col * sw - pads[2]  # where the window starts in the unpadded input
    rows, cols = np.arange(r0, r0 + kh), np.arange(c0, c0 + kw)
    padded = ~(((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :])  # (KH, KW)
    kernel_all = layer.params["kernel"]
    kernel = kernel_all[:, :, :, ch]
    bias_all = layer.params.get("bias")
    bias = float(bias_all[ch]) if bias_all is not None else 0.0
    # The reference backend on this one window (valid padding, stride 1: exactly one output pixel) is the
    # reference's loop body for output (row, col): np.sum(window * kernel) + bias, in the layer's dtype.
    total = float(
        conv2d(window[None], kernel[:, :, :, None], strides=1, padding="valid", backend="reference")[0, 0, 0, 0]
    )
    z_all = conv2d(window[None], kernel_all, bias_all, strides=1, padding="valid", backend="reference")[0, 0, 0, :]
    act = layer.activation
    y_all = activations.get(act)(z_all[None])[0] if act != "linear" else z_all
    z, value = float(z_all[ch]), float(y_all[ch])
    products = window * kernel
    magnitude = float(np.sum(np.abs(products))) + abs(bias)
    equal = bool(abs(value - map_value) <= _tolerance(magnitude))
    terms = " + ".join(float_term(p, q) for p, q in zip(window.ravel(), kernel.ravel()))
    words = {
        "layer": layer.name,
        "row": row,
        "col": col,
        "filter": ch,
        "size": f"{kh}×{kw}×{c_in}",
        "source": src,
        "r0": r0,
        "r1": r0 + kh - 1,
        "c0": c0,
        "c1": c0 + kw - 1,
    }
    if padded.any():
        head = _(
            "{layer}, row {row}, col {col}, filter {filter}: the {size} window of {source} at rows {r0}…{r1}, cols "
            "{c0}…{c1} ({pads} of the {positions} positions are padding: zeros), times the filter's kernel, number "
            "by number, then summed:"
        ).format(pads=int(padded.sum()), positions=f"{kh}×{kw}", **words)
    else:
        head = _(
            "{layer}, row {row}, col {col}, filter {filter}: the {size} window of {source} at rows {r0}…{r1}, cols "
            "{c0}…{c1}, times the filter's kernel, number by number, then summed:"
        ).format(**words)
    text = [
        head,
        f"x[{r0}:{r0 + kh}, {c0}:{c0 + kw}, :] · kernel[:, :, :, {ch}] = {terms} = {fmt(total)}",
        _("+ bias {bias} = {z}").format(bias=fmt(bias), z=fmt(z)),
        _activation_line(act, z, value, _("the {n} filters at this pixel").format(n=len(z_all))),
        _check_line(equal, map_value),
    ]
    return {
        "kind": "conv",
        "window": window,
        "padded": padded,
        "kernel": kernel,
        "products": products,
        "terms": terms,
        "sum": total,
        "bias": bias,
        "preactivation": z,
        "activation": act,
        "value": value,
        "map_value": map_value,
        "equal": equal,
        "tolerance": _tolerance(magnitude),
        "input_origin": [int(r0), int(c0)],
        "kernel_size": [kh, kw],
        "strides": [sh, sw],
        "pads": [int(p) for p in pads],
        "backend": "reference",
        "text": "\n".join(text),
    }


def _explain_pool(
    layer: MaxPooling2D | AveragePooling2D, a: np.ndarray, pos: tuple[int, int, int], src: str, map_value: float
) -> dict:
    row, col, ch = pos
    h, w, _channels = a.shape
    ph, pw = layer.pool_size
    sh, sw = layer.strides
    pads = resolve_padding((h, w), (ph, pw), layer.padding, (sh, sw))
    r0, c0 = row * sh - pads[0], col * sw - pads[2]
    rows, cols = np.arange(r0, r0 + ph), np.arange(c0, c0 + pw)
    real_r, real_c = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
    padded = ~(real_r[:, None] & real_c[None, :])
    window = np.full((ph, pw), np.nan, dtype=a.dtype)  # pads: no value (None in JSON)
    window[np.ix_(real_r, real_c)] = a[np.ix_(rows[real_r], cols[real_c], [ch])][:, :, 0]
    real_values = [float(v) for v, p in zip(window.ravel(), padded.ravel()) if not p]
    channel = a[None, :, :, ch : ch + 1]
    is_max = isinstance(layer, MaxPooling2D)
    op = max_pool2d if is_max else avg_pool2d
    value = float(op(channel, layer.pool_size, layer.strides, layer.padding, backend="reference")[0, row, col, 0])
    magnitude = max((abs(v) for v in real_values), default=0.0) * (1 if is_max else len(real_values))
    equal = bool(abs(value - map_value) <= _tolerance(magnitude))
    words = {
        "layer": layer.name,
        "row": row,
        "col": col,
        "channel": ch,
        "size": f"{ph}×{pw}",
        "source": src,
        "r0": r0,
        "r1": r0 + ph - 1,
        "c0": c0,
        "c1": c0 + pw - 1,
    }
    if padded.any():
        head = _(
            "{layer}, row {row}, col {col}, channel {channel}: the {size} window of {source}, channel {channel}, at "
            "rows {r0}…{r1}, cols {c0}…{c1} ({pads} padding positions, not counted)"
        ).format(pads=int(padded.sum()), **words)
    else:
        head = _(
            "{layer}, row {row}, col {col}, channel {channel}: the {size} window of {source}, channel {channel}, at "
            "rows {r0}…{r1}, cols {c0}…{c1}"
        ).format(**words)
    out: dict[str, Any] = {
        "kind": "max_pool" if is_max else "avg_pool",
        "window": window,
        "padded": padded,
        "value": value,
        "map_value": map_value,
        "equal": equal,
        "input_origin": [int(r0), int(c0)],
        "pool_size": [ph, pw],
        "strides": [sh, sw],
        "pads": [int(p) for p in pads],
        "backend": "reference",
    }
    listed = ", ".join(fmt(v) for v in real_values)
    if is_max:
        masked = np.where(padded, -np.inf, window)
        wr, wc = divmod(int(np.argmax(masked)), pw)  # the first maximum in row-major order (TensorFlow's rule)
        out["winner"] = [wr, wc]
        out["winner_input"] = [int(r0 + wr), int(c0 + wc)]
        line = _("max({values}) = {value}: the winner is input row {row}, col {col}").format(
            values=listed, value=fmt(value), row=r0 + wr, col=c0 + wc
        )
    else:
        out["count"] = len(real_values)
        line = f"({' + '.join(_factor(v) for v in real_values)}) / {len(real_values)} = {fmt(value)}"
    out["text"] = "\n".join([head, line, _check_line(equal, map_value)])
    return out


def _flatten_source(model: Sequential, index: int) -> tuple[str, tuple[int, ...]] | None:
    """When layer ``index``'s input comes from a Flatten (through Dropouts): the name and shape before it."""
    j = index - 1
    while j >= 0 and isinstance(model.layers[j], Dropout):
        j -= 1
    if j < 0 or not isinstance(model.layers[j], Flatten):
        return None
    shape = tuple(int(s) for s in model.layers[j].input_shape[1:])
    return _source_name(model, j), shape


def _explain_dense(
    model: Sequential, index: int, layer: Dense, a: np.ndarray, unit: int, src: str, map_value: float, top: int
) -> dict:
    v = a.astype(np.float64)
    kernel = layer.params["kernel"].astype(np.float64)
    bias_all = layer.params.get("bias")
    b_all = bias_all.astype(np.float64) if bias_all is not None else np.zeros(layer.units)
    # float64 from the stored weights: a reference independent of the float32 matrix product it checks.
    z_all = v @ kernel + b_all
    act = layer.activation
    y_all = activations.get(act)(z_all[None])[0] if act != "linear" else z_all
    products = v * kernel[:, unit]
    total = float(math.fsum(products))
    bias = float(b_all[unit])
    z, value = float(z_all[unit]), float(y_all[unit])
    magnitude = float(np.sum(np.abs(products))) + abs(bias)
    if act == "softmax":  # the value also depends on every other unit's sum
        magnitude = max(magnitude, float(np.max(np.abs(z_all))))
    equal = bool(abs(value - map_value) <= _tolerance(magnitude))
    n_in = len(v)
    order = np.argsort(-np.abs(products), kind="stable")[: min(top, n_in)]
    flat = _flatten_source(model, index)
    contributions = []
    for i in order:
        entry = {"input": int(i), "x": float(v[i]), "w": float(kernel[i, unit]), "product": float(products[i])}
        if flat is not None:
            pos = tuple(int(p) for p in np.unravel_index(int(i), flat[1]))
            entry["source"] = f"{flat[0]} ({', '.join(map(str, pos))})"
            entry["source_index"] = list(pos)
        contributions.append(entry)
    rest = total - float(math.fsum(products[order]))
    shown_terms = " + ".join(float_term(c["x"], c["w"]) for c in contributions)
    rest_text = ""
    if len(order) < n_in:
        rest_text = " + " + _("(the other {n} products: {rest})").format(n=n_in - len(order), rest=fmt(rest))
    text = [
        _(
            "{layer}, unit {unit}: Σ x[i]·w[i, {unit}] over the {n} values of {source}; the {k} largest products first:"
        ).format(layer=layer.name, unit=unit, n=n_in, source=src, k=len(order)),
        f"{shown_terms}{rest_text} = {fmt(total)}",
        _("+ bias {bias} = {z}").format(bias=fmt(bias), z=fmt(z)),
        _activation_line(act, z, value, _("the {n} units").format(n=layer.units)),
        _check_line(equal, map_value),
    ]
    return {
        "kind": "dense",
        "unit": unit,
        "top_contributions": contributions,
        "inputs": n_in,
        "rest": rest,
        "sum": total,
        "bias": bias,
        "preactivation": z,
        "activation": act,
        "value": value,
        "map_value": map_value,
        "equal": equal,
        "tolerance": _tolerance(magnitude),
        "text": "\n".join(text),
    }


def _explain_simple(
    model: Sequential, index: int, layer: Any, a: np.ndarray, pos: Any, src: str, map_value: float
) -> dict:
    """Flatten, Dropout and Activation layers: what the number is, and that it equals the output."""
    name = layer.name
    if isinstance(pos, int):
        where = _("{layer}, unit {unit}").format(layer=name, unit=pos)
    else:
        where = _("{layer}, row {row}, col {col}, channel {channel}").format(
            layer=name, row=pos[0], col=pos[1], channel=pos[2]
        )
    if isinstance(layer, Flatten):
        src_pos = tuple(int(p) for p in np.unravel_index(pos, a.shape))
        value = float(a[src_pos])
        text = _(
            "{where}: flatten index {index} = ({position}) of {source} (row, col, channel; channels fastest, as "
            "Keras) → {value}"
        ).format(where=where, index=pos, position=", ".join(map(str, src_pos)), source=src, value=fmt(value))
        out = {"kind": "flatten", "source_index": list(src_pos)}
    elif isinstance(layer, Dropout):
        value = float(a[pos])
        text = _(
            "{where}: Dropout (rate {rate}) only acts while training; when predicting it passes its input on "
            "unchanged → {value}"
        ).format(where=where, rate=fmt(layer.rate), value=fmt(value))
        out = {"kind": "dropout", "rate": float(layer.rate)}
    else:  # Activation, ReLU, Softmax
        act = layer.activation
        z = float(a[pos])
        if act == "softmax":  # over the last axis: the channels of this pixel, or every unit
            y = activations.get(act)(a.astype(np.float64)[None])[0]
            if a.ndim == 3:
                over = _("the {n} channels at this pixel").format(n=a.shape[-1])
            else:
                over = _("the {n} units").format(n=a.shape[-1])
        else:
            y = activations.get(act)(np.array([z], dtype=np.float64)) if act != "linear" else np.array([z])
            over = ""
        value = float(y[pos] if act == "softmax" else y[0])
        text = f"{where}: " + _activation_line(act, z, value, over)
        out = {"kind": "activation", "activation": act, "preactivation": z}
    equal = bool(abs(value - map_value) <= _tolerance(abs(value) + (1.0 if out["kind"] == "activation" else 0.0)))
    out.update(value=value, map_value=map_value, equal=equal, text=text + "\n" + _check_line(equal, map_value))
    return out


def _check_output_entry(entry: Any, layer: Any, i: int) -> None:
    """``outputs[i]`` must be what :func:`layer_outputs` gives for layer ``i``: else a ValueError naming ``outputs``
    (the explanation reads its fields; a stale or hand-made list would fail deep inside with a KeyError)."""
    shape = tuple(int(s) for s in layer.output_shape[1:])
    values = entry.get("values") if isinstance(entry, dict) else None
    if (
        not isinstance(values, np.ndarray)
        or values.shape != shape
        or values.dtype.kind != "f"
        or entry.get("output_shape") != list(shape)
        or entry.get("kind") != _kind(shape)
        or entry.get("name") != layer.name
    ):
        raise ValueError(
            f"outputs must be layer_outputs(model, x): outputs[{i}] is not layer {i}'s output "
            f"({layer.name}, a dict with float values of shape {shape})"
        )


def explain(
    model: Sequential,
    x: np.ndarray,
    layer: int,
    *,
    row: int | None = None,
    col: int | None = None,
    channel: int | None = None,
    unit: int | None = None,
    top: int = 10,
    outputs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """How one number of one layer's output was computed, recomputed the slow way and checked.

    Args:
        model: a built convlab ``Sequential``.
        x: the input, as :func:`layer_outputs` takes it.
        layer: the layer's index in ``model.layers`` (an int, or a decimal string from a query).
        row, col, channel: the position, for layers whose output is feature maps (H×W×C).
        unit: the position, for layers whose output is a vector.
        top: how many of the largest contributions a Dense explanation lists (1 to 1000).
        outputs: :func:`layer_outputs` of ``model`` and ``x`` when the caller has them (saves
            a forward pass); computed otherwise.

    Returns:
        A JSON-ready dict. Always: ``"layer"``, ``"name"``, ``"class_name"``, ``"kind"``
        (``"conv"``, ``"max_pool"``, ``"avg_pool"``, ``"dense"``, ``"flatten"``,
        ``"dropout"``, ``"activation"``), ``"position"`` (``{"row", "col", "channel"}`` or
        ``{"unit"}``), ``"source"`` (the layer's input: the previous layer's name or
        ``"input"``), ``"value"`` (recomputed), ``"map_value"`` (the layer's output there),
        ``"equal"`` (the two agree at float32 tolerance) and ``"text"`` (the explanation,
        one step per line). Conv: ``"window"`` (KH×KW×C_in of the padded input), ``"padded"``
        (KH×KW booleans: a padding position), ``"kernel"`` (KH×KW×C_in), ``"products"``
        (KH×KW×C_in), ``"terms"`` (every product, ``a*b + …`` in row, col, channel order),
        ``"sum"``, ``"bias"``, ``"preactivation"``, ``"activation"``, ``"input_origin"``
        (``[r0, c0]``, the window's top-left in the unpadded input; negative inside the
        padding), ``"kernel_size"``, ``"strides"``, ``"pads"`` (top, bottom, left, right),
        ``"tolerance"``. Pooling: ``"window"`` (PH×PW; ``None`` at padding), ``"padded"``,
        ``"input_origin"``, ``"pool_size"``, ``"strides"``, ``"pads"``; max: ``"winner"``
        (``[r, c]`` in the window) and ``"winner_input"`` (in the input); average:
        ``"count"`` (real pixels averaged). Dense: ``"unit"``, ``"top_contributions"``
        (``[{"input", "x", "w", "product"}, …]``, largest ``|product|`` first, plus
        ``"source"`` text and ``"source_index"`` ``[r, c, ch]`` when the input came through
        a Flatten), ``"inputs"`` (how many), ``"rest"`` (the sum of the products not listed),
        ``"sum"``, ``"bias"``, ``"preactivation"``, ``"activation"``, ``"tolerance"``.

    Raises:
        ValueError: naming the parameter, its range and the value given, e.g. ``row must be
            an int in [0, 25] for layer 0 (conv2d, output 26×26×32), got 30``; a position
            parameter missing or given for the wrong kind of layer; a layer of a kind not
            explained here; ``outputs`` that is not :func:`layer_outputs`' list for this model.
            TypeError: a parameter that is not an int (a float, a bool…); ``model`` / ``x`` as
            :func:`layer_outputs`.
    """
    x = _check_x(model, x)
    if outputs is None:
        outputs = layer_outputs(model, x)
    layers = model.layers
    if not isinstance(outputs, list) or len(outputs) != len(layers):
        raise ValueError(f"outputs must be layer_outputs(model, x): a list of {len(layers)} dicts")
    for i, (entry, obj) in enumerate(zip(outputs, layers)):
        _check_output_entry(entry, obj, i)
    index = _index(layer, "layer", len(layers) - 1, f"model {model.name!r} ({len(layers)} layers)")
    top_n = _index(top, "top", TOP_LIMIT, "a Dense explanation")
    if top_n < 1:
        raise ValueError(
            f"top must be an int in [1, {TOP_LIMIT}] (how many contributions a Dense explanation lists), got {top_n}"
        )
    entry = outputs[index]
    obj = layers[index]
    if not explainable(obj):
        raise ValueError(f"{_layer_where(index, entry)}: a {type(obj).__name__} layer cannot be explained here")
    pos = _position(entry, index, row, col, channel, unit)
    a = x if index == 0 else outputs[index - 1]["values"]
    src = _source_name(model, index)
    said = _("input") if index == 0 else src  # the texts' word for it; "source" stays the name
    map_value = float(entry["values"][pos])
    if isinstance(obj, Conv2D):
        result = _explain_conv(obj, a, pos, said, map_value)
    elif isinstance(obj, (MaxPooling2D, AveragePooling2D)):
        result = _explain_pool(obj, a, pos, said, map_value)
    elif isinstance(obj, Dense):
        result = _explain_dense(model, index, obj, a, pos, said, map_value, top_n)
    else:
        result = _explain_simple(model, index, obj, a, pos, said, map_value)
    position = {"unit": pos} if isinstance(pos, int) else {"row": pos[0], "col": pos[1], "channel": pos[2]}
    head = {
        "layer": index,
        "name": obj.name,
        "class_name": type(obj).__name__,
        "kind": result.pop("kind"),
        "position": position,
        "source": src,
        "output_shape": list(entry["output_shape"]),
    }
    head.update(result)
    return {k: _json(v) for k, v in head.items()}
