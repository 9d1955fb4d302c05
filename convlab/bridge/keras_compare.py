"""The parity report: a convlab model and its Keras twin on the same batch, compared layer by layer.

::

    report = convlab.compare_with_keras(model, x, y)   # per layer: activations, loss, gradients
    print(report.max_rel("gradient"))

For every layer output, the loss, every weight gradient (Keras' from
``tf.GradientTape``) and BatchNormalization's updated moving statistics, the
largest absolute and relative difference. The Keras twin is built by
:func:`convlab.to_keras` (:mod:`convlab.bridge.keras`).

Two modes, as in training: the layer outputs are compared in inference mode
(``training=False``: Dropout is the identity, BatchNormalization uses its
moving statistics); the loss, the gradients and the moving statistics in
training mode (``training=True`` on both sides: BatchNormalization normalises
with the batch's statistics and updates its moving ones), with Dropout off on
both sides so that the two runs see the same numbers.

TensorFlow is imported only when :func:`compare_with_keras` is called.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convlab.bridge.keras import (
    UnsupportedLayerError,
    check_compatible,
    import_keras_tf,
    model_specs,
    require_convlab_built,
    to_keras,
)
from convlab.bridge.optional import import_tensorflow
from convlab.model.layers import Dropout
from convlab.util.checks import check_real_dtype

__all__ = ["compare_with_keras", "KerasComparison", "ParityRow"]

_KINDS = ("activation", "loss", "gradient", "state")


@dataclass(frozen=True)
class ParityRow:
    """One compared quantity.

    Attributes:
        kind: ``"activation"`` (a layer's output, inference mode), ``"loss"``, ``"gradient"``
            (d loss / d weight, training mode) or ``"state"`` (a non-trainable weight after the
            training-mode pass: BatchNormalization's updated moving statistics).
        layer: the layer's name (the loss's name for the loss row).
        layer_type: ``"Conv2D"``…, ``"loss"`` for the loss row.
        quantity: ``"output"``, ``"value"`` (the loss), or the weight's name (``"kernel"``,
            ``"bias"``, ``"depthwise_kernel"``, ``"gamma"``, ``"moving_mean"`` …).
        shape: the compared array's shape (``()`` for the loss).
        max_abs: ``max |convlab − keras|``.
        max_rel: ``max |convlab − keras| / max |keras|`` (the largest difference
            relative to the largest magnitude of the Keras array; for a gradient, of the
            largest Keras gradient of the same layer, so that a gradient that is
            mathematically 0 — a bias before BatchNormalization — is not judged by its
            rounding noise; for the loss, the ordinary relative difference; 0 when both are
            all zeros).
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
    """What :func:`compare_with_keras` measured: one :class:`ParityRow` per layer output, loss, gradient, state.

    Attributes:
        rows: the rows, activations first (layer order), then the loss, the gradients and the
            updated non-trainable weights.
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
        if kind not in (None, *_KINDS):
            raise ValueError(f"kind must be None, 'activation', 'loss', 'gradient' or 'state', got {kind!r}")
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
            what = {
                "activation": "output",
                "loss": "loss",
                "gradient": f"∂loss/∂{r.quantity}",
                "state": f"updated {r.quantity}",
            }[r.kind]
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
            + (f", moving statistics {self.max_rel('state'):.2e}" if self._select("state") else "")
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _diff(a: ArrayLike, b: ArrayLike, scale: float | None = None) -> tuple[float, float]:
    """``(max |a − b|, that / scale)``; ``scale`` defaults to ``max |b|`` (or ``max |a|`` when ``b`` is all zeros)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = float(np.max(np.abs(a - b))) if a.size else 0.0
    if scale is None:
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


@contextlib.contextmanager
def _state_kept(layers: list[Any]) -> Iterator[None]:
    """The training-mode pass updates BatchNormalization's moving statistics: put them back afterwards.

    ``layers``: convlab or Keras layers (both have ``get_weights``/``set_weights`` covering every weight).
    """
    saved = [(l, l.get_weights()) for l in layers]
    try:
        yield
    finally:
        for l, ws in saved:
            if ws:
                l.set_weights(ws)


def _check_keras_can_run(keras_model: Any, tf: Any) -> None:
    """TensorFlow's CPU kernels refuse a transposed convolution with dilation > 1: say so before running."""
    if tf.config.list_logical_devices("GPU"):
        return
    for kl in keras_model.layers:
        if type(kl).__name__ == "Conv2DTranspose" and max(kl.dilation_rate) > 1:
            raise UnsupportedLayerError(
                f"Keras layer {kl.name!r} (Conv2DTranspose): dilation_rate={tuple(kl.dilation_rate)} — "
                "TensorFlow computes a dilated transposed convolution only on a GPU ('Current CPU "
                "implementations do not yet support dilation rates larger than 1'), and none is visible"
            )


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

    The layer outputs are compared in inference mode (``training=False`` on both
    sides: Dropout is the identity, BatchNormalization uses its moving
    statistics). When ``y`` is given, a training-mode pass follows
    (``training=True`` on both sides: BatchNormalization normalises with the
    batch's mean and variance and updates its moving statistics; Dropout stays
    off on both sides — convlab's rates are set to 0 for the pass and restored,
    Keras' Dropout layers are called with ``training=False``), and the report
    compares its loss (the model's compiled loss; Keras computes cross-entropy
    after a softmax/sigmoid output from the kept logits, convlab from the fused
    form), d loss / d weight for every trainable weight (convlab:
    :meth:`Sequential.compute_gradients`; Keras: ``tf.GradientTape``) and the
    updated moving statistics. Both models are left as they were: every
    weight, the moving statistics included, is restored after the pass.

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
        UnsupportedLayerError (a ValueError): a layer Keras cannot run here (a
            ``Conv2DTranspose`` with ``dilation_rate`` > 1 without a GPU), naming it.
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
    _check_keras_can_run(keras_model, tf)
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
    layers, klayers = model.layers, keras_model.layers
    dtype = layers[0].dtype
    arr = arr.astype(dtype, copy=False)
    report = KerasComparison(
        dtype=dtype.name,
        n_examples=int(arr.shape[0]),
        versions=f"Keras {keras.__version__}, TensorFlow {tf.__version__}",
    )

    # inference mode: every layer's output
    h, t = arr, tf.constant(arr)
    for layer, kl in zip(layers, klayers):
        h = layer.forward(h, training=False)
        t = kl(t, training=False)
        row = _diff(h, t.numpy())
        report.rows.append(ParityRow("activation", layer.name, type(layer).__name__, "output", h.shape, *row))
    if y is None:
        if verbose:
            print(report.table())
        return report

    # training mode: the loss, the gradients and the updated moving statistics
    with _state_kept(klayers):
        # The trainable weights come first in each layer's Keras weights (gamma, beta before the moving stats).
        kvars = [
            [getattr(v, "value", v) for v in kl.weights[: len(layer.params)]] for layer, kl in zip(layers, klayers)
        ]
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            for vs in kvars:
                for v in vs:
                    tape.watch(v)
            t = tf.constant(arr)
            for kl in klayers:
                t = kl(t, training=not isinstance(kl, keras.layers.Dropout))
            kloss = _keras_loss(model.loss.name, keras, dtype.name)(tf.constant(np.asarray(y)), t)
        kgrads = tape.gradient(kloss, [v for vs in kvars for v in vs])
        kstate = [kl.get_weights()[len(layer.params) :] for layer, kl in zip(layers, klayers)]
    with _state_kept(layers), _dropout_off(model):
        loss, grads = model.compute_gradients(arr, y)  # leaves the moving statistics as they were
        model(arr, training=True)  # the same forward pass, which updates them
        state = [[a.copy() for a in layer.state.values()] for layer in layers]

    kl_value = float(kloss.numpy())
    report.loss = (float(loss), kl_value)
    report.rows.append(ParityRow("loss", model.loss.name, "loss", "value", (), *_diff(loss, kl_value)))
    gi = 0
    for layer in layers:
        pairs = []
        for key in layer.params:
            g, kg = grads[gi], kgrads[gi]
            kg = np.zeros(g.shape) if kg is None else np.asarray(tf.convert_to_tensor(kg).numpy())
            pairs.append((key, g, kg))
            gi += 1
        # Each gradient is measured against the largest of its layer's: a bias followed by
        # BatchNormalization has a gradient that is mathematically 0, and its rounding noise divided
        # by its own (noise-sized) magnitude would read as a 100% difference.
        scale = max((float(np.max(np.abs(kg))) for _, _, kg in pairs if kg.size), default=0.0) or None
        for key, g, kg in pairs:
            report.rows.append(
                ParityRow("gradient", layer.name, type(layer).__name__, key, g.shape, *_diff(g, kg, scale))
            )
    for layer, ours, theirs in zip(layers, state, kstate):
        for key, a, b in zip(layer.state, ours, theirs):
            report.rows.append(ParityRow("state", layer.name, type(layer).__name__, key, a.shape, *_diff(a, b)))
    if verbose:
        print(report.table())
    return report
