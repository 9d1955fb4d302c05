"""VGG16 from scratch and as a frozen ImageNet base: a thin wrapper around Keras 3 on TensorFlow.

The course ends with VGG16 (Simonyan & Zisserman 2015, "Very Deep Convolutional
Networks for Large-Scale Image Recognition", arXiv:1409.1556):

- seeds/000 builds it from scratch for 3 emoji classes (13 conv + 3 dense layers,
  named ``block1_conv1`` … ``block5_pool``, ``flatten``, ``fc1``, ``fc2``,
  ``predictions``) and prints class probabilities for a user's image;
- seeds/002 uses it as a frozen ImageNet base with a small new head
  (``Flatten → Dense(128, relu) → Dropout(0.4) → Dense(3, softmax)``), trains
  with augmentation (shifts of 15%, horizontal and vertical flips, rescale
  1/255) and prints a classification report.

Keras does the heavy lifting — on a GPU when TensorFlow sees one (then with
mixed precision, ``mixed_float16``), on the CPU otherwise. Nothing here
downloads anything: ``weights`` is ``None`` or the path of a local file.

Where TensorFlow itself is imported (everything else is Keras 3's
backend-neutral API, ``keras.layers`` / ``keras.applications`` / ``keras.ops``):

- ``tf.data`` input pipelines in :func:`train` (Keras accepts them on every backend);
- GPU listing in :func:`device_summary` / :func:`gpu_names`;
- distribution strategies: :func:`distribution_strategy` makes one on request (one process on several
  GPUs, or several processes/machines), and the builders and :func:`train` take it as ``strategy=``.

Preprocessing follows seeds/002 (pixels × 1/255) in :func:`train`,
:func:`evaluate_report` and :func:`predict_image` alike. The original ImageNet
VGG16 was trained on mean-subtracted BGR pixels
(``keras.applications.vgg16.preprocess_input``); with real ImageNet weights that
preprocessing usually transfers a little better, but the course's rescale is kept.

The GPU path (device listing, ``mixed_float16``, strategies) uses only
TensorFlow's/Keras' documented switches; the test suite runs on the CPU.

This module imports Keras/TensorFlow lazily, on the first call that needs them;
``import convlab`` and ``import convlab.vgg`` never do.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convlab.bridge import optional
from convlab.data.images import ImageSet, load_image, read_image_folder, size_pair, split_indices
from convlab.model.saving import check_class_names
from convlab.teach.viz import GRID_CMAP
from convlab.util.checks import is_int
from convlab.util.files import atomic_path, check_path
from convlab.util.i18n import _

__all__ = [
    "INSTALL_HINT",
    "VGG16_PARAMS",
    "vgg16",
    "transfer_model",
    "unfreeze",
    "train",
    "TrainResult",
    "evaluate_report",
    "EvaluationReport",
    "predict_image",
    "load_weights",
    "save_model",
    "class_names_of",
    "load_model",
    "device_summary",
    "gpu_names",
    "distribution_strategy",
]

#: What to print when Keras is missing (lessons/11 exits with it).
INSTALL_HINT = f"convlab.vgg needs Keras 3 on TensorFlow, which is not installed; {optional.INSTALL_HINT}"

#: Who needs Keras, in :mod:`convlab.bridge.optional`'s error messages.
_WHO = "convlab.vgg"
# The archive entry where save_model keeps class names in a .keras file (Keras ignores it).
_CLASS_NAMES_ENTRY = "convlab.json"
#: The largest convlab.json class_names_of reads: far above any list of names (a million classes of 16 chars).
_CLASS_NAMES_MAX_BYTES = 16 * 1024 * 1024

#: Parameter counts at 224×224×3 (Keras ``count_params()`` agrees; seeds/003 quotes the first).
VGG16_PARAMS = {"1000 classes": 138_357_544, "3 classes": 134_272_835, "no top": 14_714_688}

#: Keras' own minimum input size for VGG16 (``keras.applications.VGG16``: 32×32).
_MIN_SIZE = 32


# ---------------------------------------------------------------- devices
def gpu_names() -> list[str]:
    """Names of the GPUs TensorFlow sees (e.g. ``["NVIDIA H100 80GB HBM3"]``); ``[]`` on a CPU-only machine."""
    tf = optional.import_tensorflow(_WHO)
    names = []
    for dev in tf.config.list_physical_devices("GPU"):
        try:
            names.append(tf.config.experimental.get_device_details(dev).get("device_name", dev.name))
        except Exception:  # details are optional; the device name always exists
            names.append(dev.name)
    return names


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_summary() -> str:
    """One line naming the device Keras will train on, e.g.
    ``"GPU: NVIDIA H100 80GB HBM3 (mixed_float16 available) — TensorFlow 2.21.0, Keras 3.15.1"`` or
    ``"CPU: AMD EPYC … (2 logical cores), no GPU visible — TensorFlow 2.21.0, Keras 3.15.1"``."""
    keras, tf = optional.import_keras(_WHO, tensorflow_backend=False), optional.import_tensorflow(_WHO)
    versions = f"TensorFlow {tf.__version__}, Keras {keras.__version__} (backend {keras.backend.backend()})"
    gpus = gpu_names()
    if gpus:
        return _("GPU: {names} (mixed_float16 available) — {versions}").format(names=", ".join(gpus), versions=versions)
    text = _("CPU: {name} ({n} logical cores), no GPU visible — {versions}")
    return text.format(name=_cpu_name(), n=os.cpu_count(), versions=versions)


# ---------------------------------------------------------------- distribution
_STRATEGY_KINDS = ("auto", "multi_worker", "mirrored", "default")
_COMMUNICATIONS = ("auto", "ring", "nccl")


def _cluster_tasks() -> int:
    """How many training tasks (``chief`` + ``worker``) the ``TF_CONFIG`` environment variable names; 0 if unset."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return 0
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"the TF_CONFIG environment variable is not JSON: {exc}; got {raw[:200]!r}") from exc
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict):
        raise ValueError(
            'TF_CONFIG must be JSON like {"cluster": {"worker": ["host0:port", "host1:port"]}, '
            f'"task": {{"type": "worker", "index": 0}}}}, got {raw[:200]!r}'
        )
    return sum(len(cluster.get(job) or ()) for job in ("chief", "worker"))


def distribution_strategy(
    kind: str = "auto", *, communication: str | None = None, devices: Sequence[str] | None = None
) -> Any:
    """A ``tf.distribute`` strategy for the ``strategy=`` of :func:`vgg16`, :func:`transfer_model` and :func:`train`.

    Build the model with it (its variables are then created inside ``strategy.scope()``, one
    copy per replica); :func:`train` picks it up from the model. ``batch_size`` stays the
    *global* batch: each step splits it evenly across the ``strategy.num_replicas_in_sync``
    replicas, each replica computes the gradient of its slice, the gradients are averaged
    across all replicas (an all-reduce), and every replica applies the same update — the
    update one process computes on the whole batch, up to float rounding
    (``tests/test_distributed.py`` checks this with two worker processes). Choose a
    ``batch_size`` that the replicas divide evenly.

    Args:
        kind: ``"auto"`` (default): ``"multi_worker"`` when the ``TF_CONFIG`` environment
            variable names a cluster of two or more tasks, else ``"mirrored"`` when TensorFlow
            sees two or more GPUs, else ``"default"``.
            ``"multi_worker"``: ``tf.distribute.MultiWorkerMirroredStrategy``, one process per
            machine, every machine running the same script with its own ``TF_CONFIG``, e.g.
            ``{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}, "task": {"type":
            "worker", "index": 0}}`` (index 1 on the second machine; worker 0 is the chief).
            Each process trains on its local GPUs, or on its CPU; the in-memory images of
            :func:`train` are sharded by example (``tf.data``'s DATA policy), so each worker
            takes its own slice of every global batch. Without ``TF_CONFIG`` it is one local worker.
            ``"mirrored"``: ``tf.distribute.MirroredStrategy(devices)``, one process, one
            replica per local GPU (the CPU when there is none).
            ``"default"``: ``tf.distribute.get_strategy()``, no distribution (one device).
        communication: the all-reduce between workers, ``"multi_worker"`` only: ``None`` or
            ``"auto"`` (TensorFlow chooses: NCCL on GPUs, otherwise ring), ``"ring"``
            (gRPC; works on CPUs), ``"nccl"`` (GPUs only).
        devices: ``"mirrored"`` only: the devices to mirror on, e.g. ``["/gpu:0", "/gpu:1"]``;
            ``None`` = every local GPU.

    Returns:
        The strategy; ``strategy.num_replicas_in_sync`` counts its replicas (all workers together).

    Raises:
        ValueError: an unknown ``kind`` or ``communication``; ``communication`` or
            ``devices`` given for a kind that does not use them; a ``TF_CONFIG`` that is not
            JSON with a ``"cluster"`` object.
        ImportError: TensorFlow missing, or Keras on another backend (strategies are TensorFlow's).
        RuntimeError: TensorFlow's own error when a ``"multi_worker"`` strategy is made after
            TensorFlow's runtime has started in this process: make it first, before any model
            or tensor (TensorFlow sets up the collective operations once, at start-up).

    Source: TensorFlow's guides "Distributed training with TensorFlow" and "Multi-worker
    training with Keras" (tensorflow.org/tutorials/distribute/multi_worker_with_keras).
    """
    if kind not in _STRATEGY_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, _STRATEGY_KINDS))}, got {kind!r}")
    if communication is not None and communication not in _COMMUNICATIONS:
        raise ValueError(f"communication must be None or one of {_COMMUNICATIONS}, got {communication!r}")
    asked = kind
    if kind == "auto":
        if _cluster_tasks() >= 2:
            kind = "multi_worker"
        elif devices is not None or len(gpu_names()) >= 2:
            kind = "mirrored"
        else:
            kind = "default"
    elif kind == "multi_worker":
        _cluster_tasks()  # a malformed TF_CONFIG is reported here, in our words
    chose = f"kind={asked!r}" + (f" (here: {kind!r})" if asked != kind else "")
    if communication is not None and kind != "multi_worker":
        raise ValueError(f"communication applies to kind='multi_worker' only, got {chose}")
    if devices is not None and kind != "mirrored":
        raise ValueError(f"devices applies to kind='mirrored' only, got {chose}")
    optional.import_keras(_WHO, tensorflow_backend=True)
    tf = optional.import_tensorflow(_WHO)
    if kind == "multi_worker":
        implementation = tf.distribute.experimental.CommunicationImplementation[(communication or "auto").upper()]
        options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(devices) if devices is not None else None)
    return tf.distribute.get_strategy()


# ---------------------------------------------------------------- validation helpers
def _int(value, name, minimum=1):
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _input_shape(input_shape):
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3 or not all(is_int(v) for v in input_shape):
        raise TypeError(f"input_shape must be (height, width, channels) as three ints, got {input_shape!r}")
    h, w, c = (int(v) for v in input_shape)
    if h < _MIN_SIZE or w < _MIN_SIZE or c < 1:
        raise ValueError(
            f"input_shape must be at least ({_MIN_SIZE}, {_MIN_SIZE}, 1) — VGG16's five 2×2 pools "
            f"need 32 pixels (Keras' minimum) — got {input_shape!r}"
        )
    return (h, w, c)


def _mixed(mixed_precision) -> bool:
    if mixed_precision is None:
        return bool(gpu_names())
    if not isinstance(mixed_precision, bool):
        raise TypeError(
            f"mixed_precision must be None (auto: on when a GPU is visible), True or False, got {mixed_precision!r}"
        )
    return mixed_precision


def _check_strategy(strategy):
    if strategy is not None and not callable(getattr(strategy, "scope", None)):
        raise TypeError(f"strategy must be None or a tf.distribute strategy (with a .scope()), got {strategy!r}")


@contextlib.contextmanager
def _build_scope(strategy, mixed: bool):
    """Build inside ``strategy.scope()`` and, for mixed precision, under the ``mixed_float16`` policy
    (restored afterwards, so the global Keras policy is left as it was)."""
    keras = optional.import_keras(_WHO, tensorflow_backend=False)
    _check_strategy(strategy)
    old = keras.config.dtype_policy()
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        if mixed:
            keras.config.set_dtype_policy("mixed_float16")
        try:
            yield
        finally:
            keras.config.set_dtype_policy(old)


# ---------------------------------------------------------------- weights files
_WEIGHT_SUFFIXES = (".weights.h5", ".keras", ".h5", ".hdf5")


def _weights_path(weights) -> Path:
    if isinstance(weights, str) and weights.lower() == "imagenet":
        raise ValueError(
            'weights="imagenet" would download from the internet, which convlab never does: pass the '
            "path of a local file instead, e.g. one saved elsewhere with "
            'keras.applications.VGG16(weights="imagenet").save_weights("vgg16.weights.h5"), or Keras\' '
            "own vgg16_weights_tf_dim_ordering_tf_kernels(_notop).h5"
        )
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be None or the path of a local weights file, got {weights!r}")
    path = Path(weights)
    if not str(path).lower().endswith(_WEIGHT_SUFFIXES):
        raise ValueError(
            f"weights must be a Keras weights file ending in {', '.join(_WEIGHT_SUFFIXES)}, got {str(weights)!r}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {str(path)!r} (convlab never downloads weights)")
    return path


def _check_legacy_h5(model, path: Path) -> None:
    """A legacy ``.h5`` file loaded by layer name must hold every layer of ``model`` that has weights."""
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        names = {n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("layer_names", [])}
    missing = [layer.name for layer in model.layers if layer.weights and layer.name not in names]
    if missing:
        raise ValueError(
            f"weights file {str(path)!r} does not match model {model.name!r}: it has no weights for layer(s) {missing}"
        )


def load_weights(model: Any, weights: str | os.PathLike) -> None:
    """Load a local weights file into ``model`` (in place), or raise a clear error.

    Args:
        model: a Keras model.
        weights: path of a ``.weights.h5`` (Keras 3 ``save_weights``), ``.keras``
            (a whole saved model; its weights are used) or legacy ``.h5``/``.hdf5``
            file (Keras 2 format, e.g. Keras' downloaded
            ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``; matched by
            layer name). Layers in the file that the model lacks (e.g. the
            classifier when loading into a base without top) are ignored; every
            layer of the model must be in the file with the same shapes.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: ``"imagenet"`` (nothing downloads), an unknown suffix, or a
            file whose layers or shapes do not match the model (the message names them).
        TypeError: ``weights`` is not a path.
    """
    path = _weights_path(weights)
    legacy = not str(path).lower().endswith((".weights.h5", ".keras"))
    try:
        if legacy:
            _check_legacy_h5(model, path)
            model.load_weights(str(path), by_name=True)
        else:
            model.load_weights(str(path))
    except ValueError as exc:
        if str(exc).startswith(f"weights file {str(path)!r}"):
            raise
        raise ValueError(
            f"weights file {str(path)!r} does not match model {model.name!r} "
            f"({model.count_params():,} parameters, input {model.input_shape}): {exc}"
        ) from exc
    except OSError as exc:  # h5py / zipfile: not an HDF5 or .keras file at all
        raise ValueError(f"weights file {str(path)!r} is not a readable Keras weights file: {exc}") from exc


def save_model(model: Any, path: str | os.PathLike, *, class_names: Sequence[str] | None = None) -> Path:
    """Save a model or its weights atomically (temporary file in the same folder, then rename).

    Args:
        model: a Keras model.
        path: ``*.weights.h5`` (weights only, ``model.save_weights``) or ``*.keras``
            (architecture + weights + optimizer state, ``model.save``).
        class_names: for a ``.keras`` file, the name of each output class (e.g.
            ``result.class_names`` from :func:`train`). Keras files have no place for them,
            so they are added to the archive as ``convlab.json``, which Keras ignores when
            loading; :func:`class_names_of` reads them back (``convlab serve`` labels its
            predictions with them).

    Returns:
        ``Path(path)``. A reader never sees a half-written file; on failure the
        temporary file is removed and any earlier file at ``path`` is untouched.

    Raises:
        ValueError: another suffix.
        OSError: the file cannot be written (:func:`convlab.util.files.atomic_path`), with the
            class and ``errno`` of the failure and the message naming ``path``:
            ``FileNotFoundError`` (the parent folder does not exist), ``IsADirectoryError``
            (``path`` is a folder), ``PermissionError`` (the folder is not writable)…
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".weights.h5"):
        suffix = ".weights.h5"
    elif name.endswith(".keras"):
        suffix = ".keras"
    else:
        raise ValueError(f"path must end in .weights.h5 (weights) or .keras (whole model), got {str(path)!r}")
    if class_names is not None:
        if suffix != ".keras":
            raise ValueError(f"class_names can only be saved in a .keras file, got {str(path)!r}")
        n_out = int(model.output_shape[-1])
        class_names = check_class_names(class_names, n_out)
    with atomic_path(path, suffix=suffix) as tmp:  # Keras picks the format from the name's ending
        if suffix == ".keras":
            model.save(tmp)
            if class_names is not None:
                with zipfile.ZipFile(tmp, "a") as archive:
                    archive.writestr(_CLASS_NAMES_ENTRY, json.dumps({"class_names": list(class_names)}))
        else:
            model.save_weights(tmp)
    return path


def class_names_of(path: str | os.PathLike) -> tuple[str, ...] | None:
    """The class names :func:`save_model` stored in a ``.keras`` file, or ``None`` if it has none.

    Needs no TensorFlow: the archive is read as a zip.

    Raises:
        TypeError: ``path`` not a str or os.PathLike. FileNotFoundError: no such file.
        ValueError: an empty path or one with a NUL character; not a zip archive, a damaged
        archive or ``convlab.json`` entry (bad CRC, encrypted, larger than 16 MiB), or an
        entry that is not a list of names (the message names the file).
    """
    path = Path(check_path(path))
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {str(path)!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{str(path)!r} is not a readable .keras file (a .keras file is a zip archive; truncated?)")
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo(_CLASS_NAMES_ENTRY)
            except KeyError:
                return None
            if info.file_size > _CLASS_NAMES_MAX_BYTES:  # a zip bomb would otherwise be inflated in memory
                raise ValueError(f"its {_CLASS_NAMES_ENTRY} is {info.file_size:,} bytes, more than any list of names")
            raw = archive.read(info)
    # zipfile reports a damaged archive or entry in many ways: BadZipFile, zlib.error, EOFError, RuntimeError
    # (encrypted), NotImplementedError (an unknown compression method), ValueError (the size check above)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable .keras file: {exc}") from exc
    try:
        return check_class_names(json.loads(raw)["class_names"])
    except (ValueError, TypeError, KeyError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        raise ValueError(f"{str(path)!r}: its {_CLASS_NAMES_ENTRY} has no valid class_names: {exc!s:.200}") from exc


def load_model(path: str | os.PathLike) -> Any:
    """Load a whole ``.keras`` model saved by :func:`save_model`.

    Raises:
        FileNotFoundError: no such file. ValueError: not a ``.keras`` name, or a file
        that is not a zip archive (truncated or corrupt), naming the file.
    """
    keras = optional.import_keras(_WHO, tensorflow_backend=False)
    path = Path(path)
    if not path.name.lower().endswith(".keras"):
        raise ValueError(f"path must be a .keras file (use load_weights for .weights.h5), got {str(path)!r}")
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {str(path)!r}")
    # Keras reports a file that is not a zip as "File not found", which sends the user the wrong way
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{str(path)!r} is not a readable .keras file (a .keras file is a zip archive; truncated?)")
    return keras.saving.load_model(str(path))


# ---------------------------------------------------------------- models
def _vgg16_base(input_shape):
    """The 13 conv + 5 pool layers (``block1_conv1`` … ``block5_pool``) from ``keras.applications``."""
    keras = optional.import_keras(_WHO, tensorflow_backend=False)
    return keras.applications.VGG16(include_top=False, weights=None, input_shape=input_shape)


def vgg16(
    classes: int = 1000,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    weights: str | os.PathLike | None = None,
    include_top: bool = True,
    *,
    strategy: Any = None,
    mixed_precision: bool | None = None,
    name: str = "vgg16",
) -> Any:
    """VGG16 as seeds/000 builds it: 13 3×3 convs in 5 blocks, then ``flatten``, ``fc1``, ``fc2``, ``predictions``.

    The convolutional part is ``keras.applications.VGG16(include_top=False,
    weights=None)``; the top is ``Flatten(name="flatten") → Dense(4096, relu,
    name="fc1") → Dense(4096, relu, name="fc2") → Dense(classes, softmax,
    name="predictions")`` — the same layers, names and order as Keras' own
    ``VGG16(include_top=True)``, so its weights files load here. The last layer
    computes in float32 even under mixed precision.

    Parameters at 224×224×3: 138,357,544 with 1,000 classes, 134,272,835 with 3,
    14,714,688 without the top.

    Args:
        classes: number of output classes (int ≥ 1; used only with ``include_top``).
        input_shape: ``(height, width, channels)`` in pixels, each side ≥ 32.
            With ``include_top`` the Flatten size, hence fc1's parameters, depends
            on it: ``(H // 32) · (W // 32) · 512`` inputs.
        weights: ``None`` (random initialisation, Glorot uniform) or the path of
            a local weights file (see :func:`load_weights`). Never downloads.
        include_top: add the three dense layers.
        strategy: optional ``tf.distribute`` strategy (e.g. ``MirroredStrategy()``):
            the model is built inside ``strategy.scope()`` and :func:`train` uses it.
        mixed_precision: ``None`` = on when TensorFlow sees a GPU; ``True``/``False`` force it.
        name: the Keras model name.

    Returns:
        A ``keras.Model`` with input ``(None, H, W, C)`` and output
        ``(None, classes)`` float32 probabilities (or ``(None, H/32, W/32, 512)`` without top).

    Raises:
        TypeError / ValueError: bad ``classes``, ``input_shape``, ``weights`` or ``strategy``.
        FileNotFoundError: ``weights`` names a missing file.
        ImportError: Keras 3/TensorFlow not installed (with the install command).
    """
    keras = optional.import_keras(_WHO, tensorflow_backend=False)
    classes = _int(classes, "classes")
    input_shape = _input_shape(input_shape)
    if not isinstance(include_top, bool):
        raise TypeError(f"include_top must be True or False, got {include_top!r}")
    if weights is not None:
        _weights_path(weights)  # fail before building 138M parameters
    with _build_scope(strategy, _mixed(mixed_precision)):
        base = _vgg16_base(input_shape)
        if include_top:
            x = keras.layers.Flatten(name="flatten")(base.output)
            x = keras.layers.Dense(4096, activation="relu", name="fc1")(x)
            x = keras.layers.Dense(4096, activation="relu", name="fc2")(x)
            x = keras.layers.Dense(classes, activation="softmax", name="predictions", dtype="float32")(x)
            model = keras.Model(base.input, x, name=name)
        else:
            model = keras.Model(base.input, base.output, name=name)
        if weights is not None:
            load_weights(model, weights)
    return model


def transfer_model(
    classes: int,
    base: Any = "vgg16",
    weights: str | os.PathLike | None = None,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    head: tuple[int, ...] = (128,),
    dropout: float = 0.4,
    freeze: bool = True,
    *,
    strategy: Any = None,
    mixed_precision: bool | None = None,
    name: str = "vgg16_transfer",
) -> Any:
    """seeds/002's model: a (frozen) VGG16 base without top, then a small new head.

    ``Sequential([vgg16 (no top), Flatten, Dense(128, relu), Dropout(0.4), Dense(classes, softmax)])``.
    At 224×224×3 with 3 classes: 17,926,467 parameters, 3,211,779 trainable
    (Flatten 7·7·512 = 25,088 → Dense 25,088·128 + 128 = 3,211,392; output 128·3 + 3 = 387).

    Args:
        classes: number of output classes (int ≥ 1).
        base: ``"vgg16"`` (the only architecture built here) or an already built
            Keras model to use as the base (then ``weights`` must be ``None``).
        weights: ``None`` or a local weights file for the base — typically ImageNet
            weights without top (``*_notop.h5`` or a ``.weights.h5``); a file with the
            top also works (its classifier is ignored). See :func:`load_weights`.
        input_shape: ``(height, width, channels)``, each side ≥ 32.
        head: units of the hidden Dense(relu) layers of the head, in order (``()`` for none).
        dropout: Dropout rate after each hidden Dense, in ``[0, 1)`` (0 = no Dropout layer).
        freeze: make the base non-trainable (``base.trainable = False``); see :func:`unfreeze`.
        strategy, mixed_precision, name: as in :func:`vgg16`.

    Returns:
        A ``keras.Sequential``; ``model.layers[0]`` is the base (a nested model named ``"vgg16"``).

    Raises:
        TypeError / ValueError: a bad argument (named in the message). FileNotFoundError: missing ``weights``.
    """
    keras = optional.import_keras(_WHO, tensorflow_backend=False)
    classes = _int(classes, "classes")
    input_shape = _input_shape(input_shape)
    if is_int(head):
        head = (head,)
    if not isinstance(head, (tuple, list)):
        raise TypeError(f"head must be a tuple of ints (units of each hidden Dense layer), got {head!r}")
    head = tuple(_int(u, "head units") for u in head)
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a rate in [0, 1), got {dropout!r}")
    if not isinstance(freeze, bool):
        raise TypeError(f"freeze must be True or False, got {freeze!r}")
    if isinstance(base, str):
        if base.lower() != "vgg16":
            raise ValueError(f'base must be "vgg16" or a Keras model, got {base!r}')
    elif not isinstance(base, keras.Model):
        raise TypeError(f'base must be "vgg16" or a Keras model, got {type(base).__name__}')
    elif weights is not None:
        raise ValueError("weights must be None when base is a model: load them into that model first")
    if weights is not None:
        _weights_path(weights)
    with _build_scope(strategy, _mixed(mixed_precision)):
        if isinstance(base, str):
            base_model = _vgg16_base(input_shape)
            if weights is not None:
                load_weights(base_model, weights)
        else:
            base_model = base
        base_model.trainable = not freeze
        layers = [keras.Input(shape=input_shape), base_model, keras.layers.Flatten(name="flatten")]
        for i, units in enumerate(head, 1):
            layers.append(keras.layers.Dense(units, activation="relu", name=f"head_dense_{i}"))
            if dropout > 0:
                layers.append(keras.layers.Dropout(dropout, name=f"head_dropout_{i}"))
        layers.append(keras.layers.Dense(classes, activation="softmax", name="predictions", dtype="float32"))
        model = keras.Sequential(layers, name=name)
    return model


def _find_base(model, from_layer):
    """The (possibly nested) model whose layers include ``from_layer``."""
    candidates = [model] + [layer for layer in model.layers if hasattr(layer, "layers")]
    for cand in candidates:
        names = [layer.name for layer in cand.layers]
        if isinstance(from_layer, str) and from_layer in names:
            return cand, names.index(from_layer)
    if is_int(from_layer):
        cand = candidates[1] if len(candidates) > 1 else model
        if not -len(cand.layers) <= from_layer < len(cand.layers):
            raise ValueError(
                f"from_layer index must lie in [-{len(cand.layers)}, {len(cand.layers)}) for "
                f"{cand.name!r}, got {from_layer}"
            )
        return cand, int(from_layer) % len(cand.layers)
    names = [layer.name for cand in candidates for layer in cand.layers]
    raise ValueError(
        f"from_layer must name a layer of the model or of its base, e.g. 'block5_conv1'; "
        f"got {from_layer!r}; layers: {names}"
    )


def unfreeze(
    model: Any,
    from_layer: str | int = "block5_conv1",
    learning_rate: float = 1e-5,
    *,
    recompile: bool = True,
    loss: Any = "categorical_crossentropy",
    metrics: Sequence[Any] = ("accuracy",),
) -> Any:
    """Fine-tuning (slides, seeds/003): unfreeze the base from ``from_layer`` on, recompile with a low learning rate.

    Layers of the base before ``from_layer`` stay frozen; ``from_layer`` and every
    later base layer become trainable (the head stays trainable). Changing
    ``trainable`` only takes effect after compiling, so the model is recompiled
    with ``Adam(learning_rate)`` — small, so the pretrained filters move only a little.

    Args:
        model: a model from :func:`transfer_model` (base nested as ``model.layers[0]``) or :func:`vgg16`.
        from_layer: a layer name (e.g. ``"block5_conv1"``: only the last block is
            retrained) or an index into the base's layers.
        learning_rate: Adam's learning rate for the fine-tuning step (> 0).
        recompile: compile again (needed before ``fit``).
        loss, metrics: for the recompile.

    Returns:
        ``model`` (changed in place). With 3 classes at 224×224, ``from_layer="block5_conv1"``
        gives 3,211,779 + 3·2,359,808 = 10,291,203 trainable parameters.

    Raises:
        ValueError: ``from_layer`` is not a layer of the model or of its base; ``learning_rate`` ≤ 0.
    """
    keras = optional.import_keras(_WHO, tensorflow_backend=False)
    if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    base, start = _find_base(model, from_layer)
    base.trainable = True
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= start
    if recompile:
        strategy = getattr(model, "_distribute_strategy", None)  # a strategy wants its optimizer made in its scope
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=list(metrics))
    return model


# ---------------------------------------------------------------- data pipelines
def _model_image_shape(model) -> tuple[int, int, int]:
    shape = tuple(model.input_shape)
    if len(shape) != 4 or any(d is None for d in shape[1:]):
        raise ValueError(f"model must take images (None, H, W, C) with a fixed size, got input_shape {shape}")
    return tuple(int(d) for d in shape[1:])


def _augmenter(seed: int, augment: bool):
    """seeds/002's ImageDataGenerator as Keras preprocessing layers (backend-neutral, usable in tf.data).

    ``width_shift_range = height_shift_range = 0.15`` → ``RandomTranslation(0.15, 0.15,
    fill_mode="nearest")`` (ImageDataGenerator's default fill); ``horizontal_flip``
    and ``vertical_flip`` → ``RandomFlip("horizontal_and_vertical")``;
    ``rescale=1/255`` → ``Rescaling(1/255)``. Always float32.
    """
    keras = optional.import_keras(_WHO, tensorflow_backend=False)
    layers = []
    if augment:
        layers += [
            keras.layers.RandomTranslation(0.15, 0.15, fill_mode="nearest", seed=seed, dtype="float32"),
            keras.layers.RandomFlip("horizontal_and_vertical", seed=seed + 1, dtype="float32"),
        ]
    layers.append(keras.layers.Rescaling(1.0 / 255, dtype="float32"))
    return keras.Sequential(layers, name="augment" if augment else "rescale")


def _dataset(data: ImageSet, batch_size: int, *, shuffle: bool, augment: bool, seed: int):
    """A ``tf.data`` pipeline: (uint8 images, one-hot labels) → shuffle → batch → augment/rescale → prefetch."""
    tf = optional.import_tensorflow(_WHO)
    prep = _augmenter(seed, augment)
    ds = tf.data.Dataset.from_tensor_slices((data.images, data.one_hot()))
    if shuffle:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    # In-memory images have no files to shard by. Under a multi-worker strategy every worker runs this same
    # pipeline (same seed, same order) and keeps only its replicas' slice of each global batch (DATA), so the
    # workers together see exactly the batches one process would.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options).batch(batch_size)
    ds = ds.map(lambda x, y: (prep(tf.cast(x, tf.float32), training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _scaled(images: np.ndarray) -> np.ndarray:
    """uint8 0–255 → float32 0–1 (the ``rescale=1/255`` of seeds/002)."""
    return np.asarray(images, dtype=np.float32) / np.float32(255)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        history: the Keras ``History`` (``history.history["loss"]``, ``["accuracy"]``,
            ``["val_loss"]``, ``["val_accuracy"]``: one float per epoch).
        class_names: class ``i``'s name (sorted folder names).
        train, validation, test: the three :class:`~convlab.images.ImageSet` splits
            (``uint8`` images, int labels, paths), per :func:`convlab.images.split_indices`.
        skipped: files skipped as unreadable.
        epoch_seconds: wall-clock seconds of each epoch (training + validation).
        device: :func:`device_summary` at the start of training.
    """

    history: object
    class_names: tuple
    train: ImageSet
    validation: ImageSet
    test: ImageSet
    skipped: tuple = ()
    epoch_seconds: list = field(default_factory=list)
    device: str = ""


@contextlib.contextmanager
def _multi_worker_fit(model, strategy):
    """Let Keras 3's ``fit`` run under a strategy that spans two or more worker processes.

    Keras 3 (3.0 to at least 3.15) trips twice there (keras-team/keras#20585, tensorflow/tensorflow#72388):

    1. ``fit`` first builds a model that remembers its strategy from one batch averaged across
       the workers with ``strategy.reduce``, which takes one tensor, not Keras' ``(x, y)`` pair
       ("Attempt to convert a value (PerReplica…) to a Tensor"). A model that remembers no strategy
       skips that and builds when its training step is first traced, by which time ``fit`` runs
       inside ``strategy.scope()`` and finds the same strategy there; so for the length of ``fit``
       the model forgets it (the optimizer is built first, in the cross-replica scope, as Keras'
       own build would). Its variables were created under the strategy and stay mirrored.
    2. Each step's logs (loss, accuracy: scalars) are averaged across workers with
       ``strategy.reduce("MEAN", value, axis=0)``, and a scalar has no axis 0 ("Invalid reduction
       dimension 0 for input with 0 dimensions"). The training and test steps hand them over as
       1-element vectors instead; the mean across workers of ``[v]`` is ``v``'s mean.

    Both are undone afterwards. Single-process strategies (one or several GPUs) are left alone.
    """
    extended = getattr(strategy, "extended", None)
    if strategy is None or strategy.num_replicas_in_sync <= len(getattr(extended, "worker_devices", ())):
        yield
        return
    tf = optional.import_tensorflow(_WHO)

    def as_vectors(step):
        def wrapped(data):
            return tf.nest.map_structure(
                lambda v: tf.reshape(v, [1]) if tf.is_tensor(v) and v.shape.rank == 0 else v, step(data)
            )

        return wrapped

    saved = getattr(model, "_distribute_strategy", None)
    if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model._distribute_strategy = None
    model.train_step, model.test_step = as_vectors(model.train_step), as_vectors(model.test_step)
    try:
        yield
    finally:
        del model.train_step, model.test_step  # the class's methods show through again
        model._distribute_strategy = saved


def train(
    model: Any,
    data_dir: str | os.PathLike,
    epochs: int,
    batch_size: int = 32,
    image_size: int | tuple[int, int] | None = None,
    validation_split: float = 0.2,
    test_split: float = 0.1,
    seed: int = 0,
    augment: bool = True,
    *,
    optimizer: Any = "adam",
    learning_rate: float | None = None,
    compile: bool | None = None,
    strategy: Any = None,
    callbacks: Sequence[Any] | None = None,
    verbose: int = 1,
) -> TrainResult:
    """Train a Keras model on a folder-per-class image set, as seeds/002 does.

    1. Read ``data_dir/<class>/*.png|jpg…`` (:func:`convlab.images.read_image_folder`;
       unreadable files skipped with one warning; fewer than two classes or an
       empty class folder is an error), resized to the model's input size.
    2. Split it, stratified and reproducibly (:func:`convlab.images.split_indices`):
       ``test_split`` of each class for testing, then ``validation_split`` of the rest
       for validation (seeds/002: 10%, then 20%).
    3. ``tf.data`` pipelines: shuffled training batches with seeds/002's augmentation
       (``RandomTranslation(0.15, 0.15)``, ``RandomFlip("horizontal_and_vertical")``,
       ``Rescaling(1/255)``), validation batches rescaled only, both prefetched.
    4. Compile (Adam, categorical cross-entropy, accuracy) unless already compiled,
       print the device, and ``model.fit``.

    ``keras.utils.set_random_seed(seed)`` is called first (shuffling, augmentation
    and dropout become reproducible on the CPU; GPU kernels may still vary).

    Args:
        model: a Keras model with input ``(None, H, W, C)`` and ``classes`` softmax outputs.
        data_dir: the dataset folder, or an :class:`~convlab.images.ImageSet` already read.
        epochs: number of passes over the training split (int ≥ 1).
        batch_size: images per step (int ≥ 1).
        image_size: ``(H, W)`` in pixels; ``None`` (default) takes the model's input
            size; anything else must equal it.
        validation_split, test_split: fractions, see step 2.
        seed: int seed for the split, shuffling and augmentation.
        augment: apply the augmentation to training batches.
        optimizer: ``"adam"``, another Keras optimizer's name (``"sgd"``, ``"rmsprop"``…) or a
            Keras optimizer (used when compiling). A name is turned into an optimizer inside the
            strategy's scope, which a strategy needs; make an optimizer object there yourself.
        learning_rate: the named optimizer's learning rate (default: Keras' own, 0.001 for Adam).
        compile: ``None`` = compile only if the model is not compiled yet, or when
            ``learning_rate`` or another ``optimizer`` is given (so a model
            recompiled by :func:`unfreeze` keeps its low rate); ``True``/``False`` force it.
        strategy: a ``tf.distribute`` strategy (see :func:`distribution_strategy`); default: the
            one the model was built under. ``batch_size`` is then the global batch, split evenly
            across the replicas; with several workers each runs this same call on the same data.
        callbacks: extra Keras callbacks.
        verbose: Keras' ``fit`` verbosity (0, 1, 2); 0 also silences the device line.

    Returns:
        :class:`TrainResult` (the Keras ``History``, class names, the three splits,
        skipped files, seconds per epoch, the device line).

    Raises:
        ValueError: image size or class count disagree with the model; bad split
            fractions; too few images; the folder errors above; an unknown optimizer name;
            ``learning_rate`` given with an optimizer object.
        TypeError: ``epochs``/``batch_size``/``seed`` not ints.
        FileNotFoundError: ``data_dir`` is not a folder.
    """
    keras = optional.import_keras(_WHO, tensorflow_backend=False)
    epochs = _int(epochs, "epochs")
    batch_size = _int(batch_size, "batch_size")
    seed = _int(seed, "seed", minimum=0)
    _check_strategy(strategy)
    if learning_rate is not None and not isinstance(optimizer, str):
        raise ValueError("learning_rate applies to a named optimizer (e.g. 'adam'); set it on the optimizer object")
    h, w, c = _model_image_shape(model)
    if image_size is not None:
        if size_pair(image_size) != (h, w):
            raise ValueError(f"image_size must equal the model's input size {(h, w)}, got {image_size!r}")
    if isinstance(data_dir, ImageSet):
        data = data_dir
        if data.image_size != (h, w) or data.images.shape[-1] != c:
            raise ValueError(f"data_dir images have shape {data.images.shape[1:]}, the model takes {(h, w, c)}")
    else:
        data = read_image_folder(data_dir, (h, w), color_mode="rgb" if c == 3 else "grayscale")
        if data.images.shape[-1] != c:
            raise ValueError(f"the model takes {c} channel(s); convlab reads images as RGB (3) or grayscale (1)")
    n_out = int(model.output_shape[-1])
    if n_out != len(data.class_names):
        raise ValueError(
            f"the model has {n_out} outputs but data_dir has {len(data.class_names)} classes {list(data.class_names)}"
        )
    idx = split_indices(data.labels, validation_split, test_split, seed)
    parts = {k: data.subset(v) for k, v in idx.items()}
    keras.utils.set_random_seed(seed)

    strategy = strategy or getattr(model, "_distribute_strategy", None)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        if compile is None:
            custom = learning_rate is not None or not (isinstance(optimizer, str) and optimizer.lower() == "adam")
            compile = (not getattr(model, "compiled", False)) or custom
        if compile:
            opt = optimizer
            if isinstance(optimizer, str):
                config = {} if learning_rate is None else {"learning_rate": learning_rate}
                opt = keras.optimizers.get({"class_name": optimizer.lower(), "config": config})
            model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
        train_ds = _dataset(parts["train"], batch_size, shuffle=True, augment=augment, seed=seed)
        val_ds = (
            _dataset(parts["validation"], batch_size, shuffle=False, augment=False, seed=seed)
            if len(parts["validation"])
            else None
        )

        device = device_summary()
        if verbose:
            counts = ", ".join(f"{k} {len(v)}" for k, v in parts.items())
            print(f"Training on {device}")
            print(
                f"{len(data)} images of {len(data.class_names)} classes {list(data.class_names)} at {h}×{w}: "
                f"{counts}; batch {batch_size}, {epochs} epoch(s), augmentation {'on' if augment else 'off'}"
            )

        times: list[float] = []

        class _EpochTimer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self._t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self._t)

        with _multi_worker_fit(model, strategy):
            history = model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=epochs,
                verbose=verbose,
                shuffle=False,
                callbacks=[_EpochTimer()] + list(callbacks or []),
            )
    return TrainResult(
        history, data.class_names, parts["train"], parts["validation"], parts["test"], data.skipped, times, device
    )


# ---------------------------------------------------------------- evaluation
@dataclass
class EvaluationReport:
    """What :func:`evaluate_report` returns; ``str(report)`` is the printed table.

    Attributes:
        accuracy: fraction of correct predictions (0–1).
        text: scikit-learn's ``classification_report`` (precision, recall, F1, support per class).
        per_class: the same as a dict (``classification_report(output_dict=True)``).
        confusion: ``int64`` ``(classes, classes)``; row = true class, column = predicted.
        probabilities: ``float32`` ``(N, classes)`` softmax outputs.
        y_true, y_pred: ``int64`` ``(N,)``.
        class_names: names in label order.
        figure: the confusion-matrix ``matplotlib.figure.Figure``.
        figure_path: where it was saved, or ``None``.
    """

    accuracy: float
    text: str
    per_class: dict
    confusion: np.ndarray
    probabilities: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    class_names: tuple
    figure: object = None
    figure_path: Path | None = None

    def __str__(self) -> str:
        return (
            _("accuracy: {value:.4f} ({percent:.1%})").format(value=self.accuracy, percent=self.accuracy)
            + "\n"
            + self.text
        )


def _confusion_figure(cm, class_names, title):
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(3.5, 0.9 * len(class_names) + 2)
    fig = Figure(figsize=(size, size * 0.9))
    ax = fig.add_subplot()
    # the lessons' number-grid convention (convlab.viz.GRID_CMAP): grey, a larger count lighter
    ConfusionMatrixDisplay(cm, display_labels=list(class_names)).plot(
        ax=ax, cmap=GRID_CMAP, colorbar=False, values_format="d"
    )
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _save_figure(fig, path) -> Path:
    """Save ``fig`` atomically; the format follows ``path``'s suffix (PNG when it has none)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=100, bbox_inches="tight")
    return path


def evaluate_report(
    model: Any,
    data: ImageSet,
    class_names: Sequence[str] | None = None,
    *,
    batch_size: int = 32,
    figure_path: str | os.PathLike | None = None,
    digits: int = 2,
    title: str = "Confusion matrix",
) -> EvaluationReport:
    """Accuracy, per-class precision/recall/F1 (seeds/002's table) and a confusion matrix.

    Args:
        model: a trained Keras classifier (softmax outputs).
        data: a :class:`TrainResult` (its ``test`` split), an
            :class:`~convlab.images.ImageSet`, or a pair ``(images, labels)`` with
            ``uint8``/0–255 images ``(N, H, W, C)`` and int labels ``(N,)``.
            Images are rescaled by 1/255, as in training.
        class_names: names in label order (taken from ``data`` when it has them).
        batch_size: prediction batch size.
        figure_path: save the confusion-matrix figure there (atomically; format from the suffix).
        digits: decimals in the printed table (seeds/002 shows 2).
        title: the figure's title.

    Returns:
        :class:`EvaluationReport`. Sources: ``sklearn.metrics.classification_report``
        (F1 = 2PR/(P + R); ``zero_division=0``) and ``confusion_matrix``.

    Raises:
        ValueError: an empty set, or labels/class names that disagree with the model's outputs.
        TypeError: ``data`` of another type.
    """
    from sklearn.metrics import classification_report, confusion_matrix

    if isinstance(data, TrainResult):
        data = data.test
        if len(data) == 0:
            raise ValueError(
                "data (a TrainResult) has an empty test split: train with test_split > 0, or pass result.validation"
            )
    if isinstance(data, ImageSet):
        images, labels = data.images, data.labels
        class_names = data.class_names if class_names is None else class_names
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = np.asarray(data[0]), np.asarray(data[1]).astype(np.int64)
    else:
        raise TypeError(f"data must be a TrainResult, an ImageSet or (images, labels), got {type(data).__name__}")
    if images.ndim != 4 or len(images) == 0 or labels.shape != (len(images),):
        raise ValueError(
            f"data must hold N ≥ 1 images (N, H, W, C) and labels (N,), got {images.shape} and {labels.shape}"
        )
    n_out = int(model.output_shape[-1])
    if class_names is None:
        class_names = tuple(str(i) for i in range(n_out))
    class_names = tuple(str(c) for c in class_names)
    if len(class_names) != n_out:
        raise ValueError(f"class_names must have one name per model output ({n_out}), got {len(class_names)}")
    if labels.min() < 0 or labels.max() >= n_out:
        raise ValueError(f"labels must lie in 0..{n_out - 1}, got {labels.min()}..{labels.max()}")
    probs = np.asarray(
        model.predict(_scaled(images), batch_size=_int(batch_size, "batch_size"), verbose=0), dtype=np.float32
    )
    y_pred = probs.argmax(axis=1).astype(np.int64)
    k = list(range(n_out))
    text = classification_report(
        labels, y_pred, labels=k, target_names=list(class_names), digits=digits, zero_division=0
    )
    per_class = classification_report(
        labels, y_pred, labels=k, target_names=list(class_names), output_dict=True, zero_division=0
    )
    cm = confusion_matrix(labels, y_pred, labels=k).astype(np.int64)
    fig = _confusion_figure(cm, class_names, title)
    saved = _save_figure(fig, figure_path) if figure_path is not None else None
    return EvaluationReport(
        float(np.mean(y_pred == labels)), text, per_class, cm, probs, labels, y_pred, class_names, fig, saved
    )


def predict_image(
    model: Any, path: str | os.PathLike, class_names: Sequence[str], top: int = 3, *, verbose: bool = True
) -> list[tuple[str, float]]:
    """Class probabilities for one image, printed the way seeds/000 prints them.

    The image is read (RGB, or greyscale for a 1-channel model), resized to the
    model's input size and rescaled by 1/255, as in :func:`train`.

    Args:
        model: a trained Keras classifier with softmax outputs.
        path: an image file, or a ``uint8`` array ``(H, W, C)`` of the model's size.
        class_names: names in output order (e.g. ``result.class_names``).
        top: how many of the most probable classes to return (int ≥ 1; at most the class count).
        verbose: print ``name:  0.99  (99.0%)`` lines, most probable first
            (seeds/000 printed the probability with a "%" sign; it is a fraction).

    Returns:
        ``[(class_name, probability), …]``, most probable first; probabilities are floats in [0, 1].

    Raises:
        FileNotFoundError: no such file. ValueError: not an image, wrong array shape,
        or ``class_names`` of the wrong length.
    """
    h, w, c = _model_image_shape(model)
    top = _int(top, "top")
    class_names = tuple(str(n) for n in class_names)
    n_out = int(model.output_shape[-1])
    if len(class_names) != n_out:
        raise ValueError(f"class_names must have one name per model output ({n_out}), got {len(class_names)}")
    if isinstance(path, np.ndarray):
        img = path
        if img.shape != (h, w, c):
            raise ValueError(f"path (an array) must have the model's shape {(h, w, c)}, got {img.shape}")
    else:
        img = load_image(path, (h, w), "rgb" if c == 3 else "grayscale")
    probs = np.asarray(model.predict(_scaled(img[None]), verbose=0), dtype=np.float64)[0]
    order = np.argsort(-probs, kind="stable")[: min(top, n_out)]
    out = [(class_names[i], float(probs[i])) for i in order]
    if verbose:
        width = max(len(n) for n, _ in out) + 1
        for name, p in out:
            print(f"{name + ':':<{width}} {p:.2f}   ({p:.1%})")
    return out
