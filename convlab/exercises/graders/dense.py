"""Grader of exercise 7: ``flatten(x)`` and ``dense(x, kernel, bias)``, forward, as Keras.

``flatten``: ``(N, H, W, C)`` → ``(N, H·W·C)`` in Keras' order (NHWC, channels fastest: element
``[n, h, w, c]`` goes to position ``(h·W + w)·C + c``), the reference being convlab's ``Flatten`` layer.
``dense``: ``out[n, u] = Σ_d x[n, d]·kernel[d, u] + bias[u]``, ``x (N, D)``, ``kernel (D, U)`` (Keras'
layout), ``bias (U,)`` → ``(N, U)``; the reference is :func:`convlab.ops.dense.dense`.

Worked numbers: the slides' (seeds/003) ``Flatten`` after ``Conv2D(64, 3)`` on 28×28 gives 26·26·64 =
43,264 values per image; lesson 12's 1×1 convolution is a Dense(2) on 3 inputs, ``x (4, 3)``,
``W = [[1, −1], [2, 0], [0, 3]]``, ``b = [1, −1]`` → first row ``[6, −2]``.
"""

from __future__ import annotations

import itertools

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.compare import close, first_wrong, same_shape_and_close
from convlab.exercises.diagnosis import number_text, product_sum_text, shape_mismatch, shape_text, wrong_element
from convlab.model.layers.flatten import Flatten
from convlab.ops.activations import softmax as reference_softmax
from convlab.ops.dense import dense as reference_dense
from convlab.util.i18n import N_, _

__all__ = ["HINTS", "cases", "diagnose"]

HINTS: tuple[str, ...] = (
    N_(
        "flatten keeps one row per image and lays out all of that image's numbers in it; dense gives every sample "
        "one output per unit, each a weighted sum of all its features plus that unit's bias."
    ),
    N_(
        "flatten: (N, H, W, C) → (N, H·W·C), element [n, h, w, c] at position (h·W + w)·C + c (Keras: the channels "
        "of one pixel are next to each other). dense: x (N, D), kernel (D, U), bias (U,) → (N, U), "
        "out[n, u] = Σ_d x[n, d]·kernel[d, u] + bias[u]."
    ),
    N_(
        "flatten: walk the rows, then the columns, then the channels, the channel index changing fastest. dense: "
        "for each sample and each unit, add up the sample's features times that unit's column of the kernel, then "
        "add the unit's bias once."
    ),
)

# Lesson 12 ("1×1 convolutions: a Dense layer at every pixel"): its four pixels of 3 channels, W (3, 2), b (2,).
_LESSON12_X = [[1, 2, 0], [0, 1, 3], [2, 2, 1], [1, 0, 0]]
_LESSON12_W = [[1, -1], [2, 0], [0, 3]]
_LESSON12_B = [1, -1]


def _flatten_case(name: str, x: np.ndarray, slide: bool = False) -> Case:
    x = np.asarray(x, dtype=np.float64)
    expected = np.array(Flatten(dtype=np.float64).forward(x))  # the layer's default dtype is float32
    return Case(name=name, function="flatten", args=(x,), expected=expected, slide=slide)


def _dense_case(name: str, x, kernel, bias, slide: bool = False) -> Case:
    x, kernel, bias = (np.asarray(a, dtype=np.float64) for a in (x, kernel, bias))
    return Case(
        name=name, function="dense", args=(x, kernel, bias), expected=reference_dense(x, kernel, bias), slide=slide
    )


def _random_dense(rng: np.random.Generator, n: int, d: int, u: int, about: str = "") -> Case:
    """``about``: what the case is about, marked for the catalogs (``N_("one sample")``), shown translated."""
    name = _("random: x ({n}, {d}), kernel ({d}, {u})").format(n=n, d=d, u=u)
    if about:
        name = _("{name}: {about}").format(name=name, about=_(about))
    return _dense_case(
        name,
        rng.standard_normal((n, d)),
        rng.standard_normal((d, u)),
        rng.standard_normal(u),
    )


def cases(rng: np.random.Generator) -> list[Case]:
    """flatten cases, then dense cases: readable/lesson numbers first, then random ones (all tiny but one).

    flatten: values ``100·h + 10·w + c`` (each number says where it came from), the slides' 26×26×64
    feature map, random NHWC arrays with H ≠ W and 1×1 images. dense: lesson 12's numbers, square kernels
    (D = U: a transposed kernel still runs and gives wrong numbers), D < U and D > U, one sample.
    """
    h, w, c = np.meshgrid(np.arange(2), np.arange(3), np.arange(2), indexing="ij")
    readable = (100 * h + 10 * w + c)[None].astype(np.float64)  # (1, 2, 3, 2)
    return [
        _flatten_case(_("readable: x[0, h, w, c] = 100·h + 10·w + c, shape (1, 2, 3, 2)"), readable, slide=True),
        _flatten_case(
            _("slides: Flatten after Conv2D(64, 3) on 28×28: (1, 26, 26, 64) → 26·26·64 = 43,264 values"),
            rng.standard_normal((1, 26, 26, 64)),
        ),
        _flatten_case(_("random (2, 3, 4, 2)"), rng.standard_normal((2, 3, 4, 2))),
        _flatten_case(_("random (2, 4, 3, 3)"), rng.standard_normal((2, 4, 3, 3))),
        _flatten_case(_("random (1, 5, 5, 1): one channel"), rng.standard_normal((1, 5, 5, 1))),
        _flatten_case(_("random (2, 1, 1, 3): 1×1 images"), rng.standard_normal((2, 1, 1, 3))),
        _flatten_case(_("random (2, 2, 5, 3)"), rng.standard_normal((2, 2, 5, 3))),
        _dense_case(
            _("lesson 12: 4 pixels of 3 channels, Dense(2): W = [[1, −1], [2, 0], [0, 3]], b = [1, −1]"),
            _LESSON12_X,
            _LESSON12_W,
            _LESSON12_B,
            slide=True,
        ),
        _dense_case(
            _("small integers: x (2, 3), square kernel (3, 3)"),
            rng.integers(-3, 4, (2, 3)),
            rng.integers(-3, 4, (3, 3)),
            rng.choice([-3, -2, -1, 1, 2, 3], 3),  # no zero: a missing bias must show
        ),
        _random_dense(rng, 2, 5, 3),
        _random_dense(rng, 1, 4, 4, N_("one sample, square kernel")),
        _random_dense(rng, 3, 6, 2),
        _random_dense(rng, 2, 4, 10, N_("more units than features")),
        _random_dense(rng, 2, 24, 10, N_("Flatten (2, 2, 3, 4) → Dense(10), as the slides' model, small")),
    ]


# ------------------------------------------------------------------------------------------ flatten
_AXIS_NAMES = {1: N_("rows (h)"), 2: N_("columns (w)"), 3: N_("channels (c)")}


def _order_words(perm: tuple[int, ...]) -> str:
    """``(0, 3, 1, 2)`` → ``"channels (c), then rows (h), then columns (w)"`` (slowest first)."""
    first, second, third = (_(_AXIS_NAMES[a]) for a in perm[1:])
    return _("{first}, then {second}, then {third}").format(first=first, second=second, third=third)


def _flatten_shape(x: np.ndarray, got: np.ndarray, expected: np.ndarray) -> Diagnosis:
    n, h, w, c = x.shape
    keras = f"(N, H·W·C) = ({n}, {h}·{w}·{c}) = {shape_text(expected.shape)}"
    d = h * w * c
    if got.shape == (n * d,) and n > 1:
        why = _("you flattened the whole batch into one vector. Keep one row per image: {shape}.")
    elif got.shape == (d,):
        why = _("you dropped the batch axis (or flattened only one image). Keep one row per image: {shape}.")
    elif got.shape == (d, n):
        why = _("one column per image: the batch must be the first axis, one ROW per image: {shape}.")
    elif got.ndim > 2:
        why = _("the output must be 2-D: each image's H·W·C numbers in one row, {shape}.")
    else:
        why = _("each image's H·W·C numbers in one row: {shape}.")
    return shape_mismatch("out", got.shape, expected.shape, why.format(shape=keras))


def _diagnose_flatten(case: Case, got: np.ndarray) -> Diagnosis | None:
    x = np.asarray(case.args[0], dtype=float)
    expected = np.asarray(case.expected, dtype=float)
    n, h, w, c = x.shape
    if got.shape != expected.shape:
        return _flatten_shape(x, got, expected)
    for perm in itertools.permutations((1, 2, 3)):
        perm = (0, *perm)
        if perm == (0, 1, 2, 3):
            continue
        if same_shape_and_close(got, x.transpose(perm).reshape(n, -1)):
            if perm == (0, 3, 1, 2):
                message = _(
                    "Your numbers are right but in the wrong order: you went through the {order} (channels-first: "
                    "the NCHW order of PyTorch and Caffe; Keras keeps the channels of a pixel together). Keras goes "
                    "through the rows, then the columns, then the channels (the channel index changes fastest): "
                    "x[n, h, w, c] goes to position (h·W + w)·C + c, so out[n, 0], out[n, 1], … are x[n, 0, 0, 0], "
                    "x[n, 0, 0, 1], …, x[n, 0, 1, 0], …"
                )
            else:
                message = _(
                    "Your numbers are right but in the wrong order: you went through the {order}. Keras goes through "
                    "the rows, then the columns, then the channels (the channel index changes fastest): x[n, h, w, c] "
                    "goes to position (h·W + w)·C + c, so out[n, 0], out[n, 1], … are x[n, 0, 0, 0], x[n, 0, 0, 1], …, "
                    "x[n, 0, 1, 0], …"
                )
            return Diagnosis("flatten_order", message.format(order=_order_words(perm)))
    index = first_wrong(got, expected, case.tolerance)
    if index is None:
        return None
    b, p = index
    hh, ww, cc = np.unravel_index(p, (h, w, c))
    detail = _(
        "Position {p} holds x[{b}, {h}, {w}, {c}] = {value}: (h·W + w)·C + c = ({h}·{width} + {w})·{channels} + {c} "
        "= {p}."
    ).format(p=p, b=b, h=hh, w=ww, c=cc, value=number_text(expected[index]), width=w, channels=c)
    found = np.argwhere(np.isclose(x[b], got[index], rtol=0, atol=1e-12))
    if got[index] != 0 and len(found) == 1:
        fh, fw, fc = (int(v) for v in found[0])
        detail += " " + _("Your number is x[{b}, {h}, {w}, {c}], which belongs at position {p}.").format(
            b=b, h=fh, w=fw, c=fc, p=(fh * w + fw) * c + fc
        )
    return wrong_element("out", index, got[index], expected[index], detail)


# -------------------------------------------------------------------------------------------- dense
def _diagnose_dense(case: Case, got: np.ndarray) -> Diagnosis | None:
    x, kernel, bias = (np.asarray(a, dtype=float) for a in case.args)
    expected = np.asarray(case.expected, dtype=float)
    n, d = x.shape
    u = kernel.shape[1]
    formula = _(
        "x {x} · kernel {kernel} → (N, U) = ({n}, {u}): one row per sample (N = {n}), one column per unit (U = {u}, "
        "the kernel's columns), and bias {bias} added to every row"
    ).format(x=shape_text(x.shape), kernel=shape_text(kernel.shape), n=n, u=u, bias=shape_text(bias.shape))
    if got.shape != expected.shape:
        if got.shape == (u, n) and close(got.T, expected, case.tolerance):
            why = _("your numbers are right but transposed. {formula}.").format(formula=formula)
        elif got.shape == (n, d) and d != u:
            why = _(
                "you have one column per input feature (D = {d}); Dense gives one per unit. Did you use the kernel's "
                "rows as units? In Keras' layout kernel[d, u] has D = {d} rows (features) and U = {u} columns "
                "(units). {formula}."
            ).format(d=d, u=u, formula=formula)
        else:
            why = f"{formula}."
        return shape_mismatch("out", got.shape, expected.shape, why)
    plain = x @ kernel
    if d == u and (same_shape_and_close(got, x @ kernel.T + bias) or same_shape_and_close(got, x @ kernel.T)):
        if same_shape_and_close(got, x @ kernel.T + bias):
            message = _(
                "You used the kernel transposed: kernel[d, u] connects input feature d (its row) to unit u (its "
                "column), Keras' layout (D, U) = {shape}. out[n, u] adds x[n, d]·kernel[d, u] over d — down column u "
                "of the kernel. (With a square kernel the shapes still fit, so only the numbers are wrong; with "
                "D ≠ U it would not even run.)"
            )
        else:
            message = _(
                "You used the kernel transposed (and the bias is missing): kernel[d, u] connects input feature d (its "
                "row) to unit u (its column), Keras' layout (D, U) = {shape}. out[n, u] adds x[n, d]·kernel[d, u] "
                "over d — down column u of the kernel. (With a square kernel the shapes still fit, so only the "
                "numbers are wrong; with D ≠ U it would not even run.)"
            )
        return Diagnosis("kernel_transposed", message.format(shape=shape_text(kernel.shape)))
    if same_shape_and_close(got, plain):
        message = _(
            "The bias is missing: after the weighted sum, add bias[u] to every sample's output for unit u, e.g. "
            "bias = {bias}."
        )
        return Diagnosis("bias_missing", message.format(bias=_vector_text(bias)))
    if d > 1 and same_shape_and_close(got, plain + d * bias):
        message = _(
            "You added the bias {d} times (once per product, inside the loop over the D = {d} features): add "
            "bias[u] once, after the sum over d."
        )
        return Diagnosis("bias_per_pixel", message.format(d=d))
    z = plain + bias
    with np.errstate(all="ignore"):
        for name, act in (("ReLU", np.maximum(z, 0.0)), ("softmax", reference_softmax(z))):
            if same_shape_and_close(got, act):
                message = _(
                    "You applied {activation} after the sum: this exercise's dense is the layer's linear part only, "
                    "x·kernel + bias (the activation is a separate step, exercise 6)."
                )
                return Diagnosis("activation_applied", message.format(activation=name))
    index = first_wrong(got, expected, case.tolerance)
    if index is None:
        return None
    row, unit = index
    line = product_sum_text(x[row], kernel[:, unit], width=68, indent="    ")
    detail = _(
        "out[{row}, {unit}] = Σ_d x[{row}, d]·kernel[d, {unit}] + bias[{unit}]: row {row} of x times column {unit} "
        "of the kernel,\n    {products}\n    plus bias[{unit}] = {bias}: {sum} + {bias_in_sum} = {total}."
    ).format(
        row=row,
        unit=unit,
        products=line,
        bias=number_text(bias[unit], digits=6),
        sum=number_text(plain[index], digits=6),
        bias_in_sum=number_text(bias[unit], in_sum=True, digits=6),
        total=number_text(expected[index], digits=6),
    )
    return wrong_element("out", index, got[index], expected[index], detail)


def _vector_text(v: np.ndarray) -> str:
    text = ", ".join(number_text(a, digits=4) for a in v[:6])
    return f"[{text}{', …' if v.size > 6 else ''}]"


def diagnose(case: Case, got) -> Diagnosis | None:
    """Why the learner's ``flatten``/``dense`` output is wrong (called for finite, wrong outputs of the right type).

    flatten: wrong_shape (the whole batch in one vector, the batch axis dropped, transposed, not 2-D: with
    ``(N, H·W·C)`` in numbers), flatten_order (any other loop order, e.g. channels-first NCHW), else
    first_wrong naming the element that belongs there. dense: wrong_shape (transposed output, one column per
    feature, …, with the shapes explained), kernel_transposed (square kernels), bias_missing, bias_per_pixel
    (added once per product), activation_applied (ReLU/softmax on top), else first_wrong with the row·column
    product sum plus the bias.
    """
    got = np.asarray(got, dtype=float)
    if same_shape_and_close(got, case.expected, case.tolerance):
        return None  # right after all (a mistake that changes nothing on this case's numbers)
    if case.function == "flatten":
        return _diagnose_flatten(case, got)
    if case.function == "dense":
        return _diagnose_dense(case, got)
    return None
