"""The parity report: a convlab model and its Keras twin on the same batch, compared layer by layer.

::

    report = convlab.compare_with_keras(model, x, y)   # per layer: activations, loss, gradients
    print(report.max_rel("gradient"))

For every layer output, the loss and every weight gradient (Keras' from
``tf.GradientTape``), the largest absolute and relative difference. The Keras
twin is built by :func:`convlab.to_keras` (:mod:`convlab.bridge.keras`).
TensorFlow is imported only when :func:`compare_with_keras` is called.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convlab.bridge.keras import check_compatible, import_keras_tf, model_specs, require_convlab_built, to_keras
from convlab.bridge.optional import import_tensorflow
from convlab.model.layers import Dropout
from convlab.util.checks import check_real_dtype

__all__ = ["compare_with_keras", "KerasComparison", "ParityRow"]


@dataclass(frozen=True)
class ParityRow:
    """One compared quantity.

    Attributes:
        kind: ``"activation"`` (a layer's output), ``"loss"`` or ``"gradient"`` (d loss / d weight).
        layer: the layer's name (the loss's name for the loss row).
        layer_type: ``"Conv2D"``…, ``"loss"`` for the loss row.
        quantity: ``"output"``, ``"kernel"``, ``"bias"`` or ``"value"``.
        shape: the compared array's shape (``()`` for the loss).
        max_abs: ``max |convlab − keras|``.
        max_rel: ``max |convlab − keras| / max |keras|`` (the largest difference
            relative to the largest magnitude of the Keras array; for the loss, the
            ordinary relative difference; 0 when both are all zeros).
    """

    kind: str
    layer: str
    layer_type: str
    quantity: str
    shape: tuple
    max_abs: float
    max_rel: float


@dataclass
class KerasComparison:
    """What :func:`compare_with_keras` measured: one :class:`ParityRow` per layer output, loss and weight gradient.

    Attributes:
        rows: the rows, activations first (layer order), then the loss, then the gradients.
        dtype: ``"float32"`` or ``"float64"``.
        n_examples: the batch size compared.
        loss: ``(convlab loss, Keras loss)`` or ``None`` without ``y``.
        versions: ``"Keras x.y.z, TensorFlow a.b.c"``.
    """

    rows: list[ParityRow] = field(default_factory=list)
    dtype: str = "float32"
    n_examples: int = 0
    loss: tuple | None = None
    versions: str = ""

    def _select(self, kind: str | None) -> list[ParityRow]:
        if kind not in (None, "activation", "loss", "gradient"):
            raise ValueError(f"kind must be None, 'activation', 'loss' or 'gradient', got {kind!r}")
        return [r for r in self.rows if kind is None or r.kind == kind]

    def max_abs(self, kind: str | None = None) -> float:
        """The largest ``max_abs`` over the rows of ``kind`` (all rows for ``None``; 0.0 when there are none)."""
        return max((r.max_abs for r in self._select(kind)), default=0.0)

    def max_rel(self, kind: str | None = None) -> float:
        """The largest ``max_rel`` over the rows of ``kind`` (all rows for ``None``; 0.0 when there are none)."""
        return max((r.max_rel for r in self._select(kind)), default=0.0)

    def table(self) -> str:
        """The report as a text table (what :func:`compare_with_keras` prints)."""
        head = ("layer (type)", "compared", "shape", "max |Δ|", "max rel")
        body = []
        for r in self.rows:
            what = {"activation": "output", "loss": "loss", "gradient": f"∂loss/∂{r.quantity}"}[r.kind]
            name = f"{r.layer} ({r.layer_type})"
            body.append((name, what, str(r.shape), f"{r.max_abs:.2e}", f"{r.max_rel:.2e}"))
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]

        def fmt(cells: tuple[str, ...]) -> str:
            return "  ".join(c.rjust(w) if i >= 3 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        bar = "=" * len(fmt(head))
        lines = [f"convlab vs {self.versions}: {self.n_examples} examples, {self.dtype}", fmt(head), bar]
        lines += [fmt(b) for b in body] + [bar]
        if self.loss is not None:
            lines.append(f"loss: convlab {self.loss[0]:.9g}, Keras {self.loss[1]:.9g}")
        lines.append(
            f"largest relative difference: activations {self.max_rel('activation'):.2e}"
            + (
                f", loss {self.max_rel('loss'):.2e}, gradients {self.max_rel('gradient'):.2e}"
                if self.loss is not None
                else ""
            )
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _diff(a: ArrayLike, b: ArrayLike) -> tuple[float, float]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    if scale == 0.0:
        scale = float(np.max(np.abs(a))) if a.size else 0.0
    return d, (d / scale if scale > 0 else 0.0)


@contextlib.contextmanager
def _dropout_off(model: Any) -> Iterator[None]:
    """Dropout at inference on both sides: set convlab's Dropout rates to 0 for the gradient pass, then restore."""
    saved = [(l, l.rate) for l in model.layers if isinstance(l, Dropout)]
    try:
        for l, _ in saved:
            l.rate = 0.0
        yield
    finally:
        for l, rate in saved:
            l.rate = rate


def _keras_loss(name: str, keras: Any, dtype: str) -> Any:
    """Keras' loss object; its ``dtype`` must be the model's (Keras casts to float32 by default)."""
    return {
        "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
        "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
        "binary_crossentropy": keras.losses.BinaryCrossentropy,
        "mean_squared_error": keras.losses.MeanSquaredError,
    }[name](dtype=dtype)


def compare_with_keras(
    model: Any, x: ArrayLike, y: ArrayLike | None = None, *, keras_model: Any = None, verbose: bool = True
) -> KerasComparison:
    """Run ``model`` and its Keras twin on the same batch and report the differences, layer by layer.

    Both run in inference mode (Dropout is the identity). For every layer the
    outputs are compared; when ``y`` is given, also the loss (the model's
    compiled loss; Keras computes cross-entropy after a softmax/sigmoid output
    from the kept logits, convlab from the fused form) and d loss / d weight for
    every weight (convlab: :meth:`Sequential.compute_gradients`, with Dropout
    rates set to 0 for the pass and restored; Keras: ``tf.GradientTape``).

    Args:
        model: a built convlab ``Sequential`` (compiled when ``y`` is given).
        x: a batch ``(N, …)`` of the model's input shape (cast to the model's dtype).
        y: optional targets, as for ``fit``.
        keras_model: the Keras model to compare with (same layers; checked first);
            default: ``to_keras(model)``.
        verbose: print the table.

    Returns:
        :class:`KerasComparison` (rows with max absolute and relative differences).

    Raises:
        ImportError: Keras/TensorFlow missing (with ``pip install -e ".[keras]"``).
        ValueError / TypeError: model not built, ``x`` of the wrong shape, ``y``
            without a compiled model, or a ``keras_model`` whose layers differ (naming the layer).
    """
    keras, tf = import_keras_tf(), import_tensorflow("the Keras bridge")
    require_convlab_built(model, "compare_with_keras()")
    if keras_model is None:
        keras_model = to_keras(model, compile=False)
    else:
        check_compatible(
            model_specs(model, "compare_with_keras()"),
            model_specs(keras_model, "compare_with_keras()", "keras_model"),
            model,
            keras_model,
            check_input=True,
        )
    arr = check_real_dtype(x, "x")
    if arr.ndim < 2 or arr.shape[1:] != tuple(model.input_shape[1:]) or arr.shape[0] == 0:
        raise ValueError(
            f"x must have shape (N, {', '.join(map(str, model.input_shape[1:]))}) for model "
            f"{model.name!r}, got {arr.shape}"
        )
    if y is not None and model.loss is None:
        raise ValueError(
            f"convlab model {model.name!r}: compile() it (the loss is the compiled one) before "
            "compare_with_keras(model, x, y)"
        )
    layers = model.layers
    dtype = layers[0].dtype
    arr = arr.astype(dtype, copy=False)

    ours, h = [], arr
    for layer in layers:
        h = layer.forward(h, training=False)
        ours.append(np.array(h, copy=True))

    kvars = [[getattr(v, "value", v) for v in kl.weights] for kl in keras_model.layers]  # the tf.Variables
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        for vs in kvars:
            for v in vs:
                tape.watch(v)
        t = tf.constant(arr)
        theirs = []
        for kl in keras_model.layers:
            t = kl(t, training=False)
            theirs.append(t)
        kloss = None
        if y is not None:
            kloss = _keras_loss(model.loss.name, keras, dtype.name)(tf.constant(np.asarray(y)), t)

    report = KerasComparison(
        dtype=dtype.name,
        n_examples=int(arr.shape[0]),
        versions=f"Keras {keras.__version__}, TensorFlow {tf.__version__}",
    )
    for layer, a, b in zip(layers, ours, theirs):
        report.rows.append(
            ParityRow("activation", layer.name, type(layer).__name__, "output", a.shape, *_diff(a, b.numpy()))
        )
    if y is not None:
        kgrads = tape.gradient(kloss, [v for vs in kvars for v in vs])
        with _dropout_off(model):
            loss, grads = model.compute_gradients(arr, y)
        kl_value = float(kloss.numpy())
        report.loss = (float(loss), kl_value)
        report.rows.append(ParityRow("loss", model.loss.name, "loss", "value", (), *_diff(loss, kl_value)))
        gi = 0
        for layer in layers:
            for key in layer.params:
                g, kg = grads[gi], kgrads[gi]
                kg = np.zeros(g.shape) if kg is None else np.asarray(tf.convert_to_tensor(kg).numpy())
                report.rows.append(ParityRow("gradient", layer.name, type(layer).__name__, key, g.shape, *_diff(g, kg)))
                gi += 1
    if verbose:
        print(report.table())
    return report
