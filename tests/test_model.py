"""Sequential + optimizers: training on real digits, History, evaluate/predict, seeds, NaN stop, files, errors."""

import json
import math
import os

import numpy as np
import pytest

import convlab
from convlab.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D, reset_names
from convlab.model import NonFiniteLossError, optimizers


@pytest.fixture(autouse=True)
def _fresh():
    reset_names()
    convlab.set_seed(0)


@pytest.fixture(scope="module")
def digits():
    """300 real 8×8 digits (scikit-learn), pixels /16, NHWC."""
    x, y = convlab.datasets.load_digits()
    return (x[:300, :, :, None] / 16.0).astype(np.float32), y[:300]


def small_cnn(dropout=False, dtype=None, softmax=True):
    layers = [
        Input((8, 8, 1)),
        Conv2D(4, 3, activation="relu", dtype=dtype),
        MaxPooling2D(2, dtype=dtype),
        Flatten(dtype=dtype),
    ]
    if dropout:
        layers.append(Dropout(0.3))
    layers.append(Dense(10, activation="softmax" if softmax else None, dtype=dtype))
    return convlab.Sequential(layers)


# --------------------------------------------------------------------------- training
def test_fit_reduces_loss_on_real_digits(digits):
    x, y = digits
    m = small_cnn()
    m.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy", ["accuracy"])
    before = m.evaluate(x, y, verbose=0)
    h = m.fit(x, y, epochs=4, batch_size=32, verbose=0)
    after = m.evaluate(x, y, verbose=0)
    assert isinstance(h, convlab.History) and m.history is h
    assert list(h.history) == ["loss", "accuracy"] and h.epoch == [0, 1, 2, 3]
    assert h.history["loss"][-1] < h.history["loss"][0] < before[0]
    assert after[0] < 0.6 * before[0] and after[1] > 0.7


def test_history_keys_with_validation(digits):
    x, y = digits
    m = small_cnn()
    m.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
    h = m.fit(x, y, epochs=2, batch_size=64, validation_split=0.2, verbose=0)
    assert list(h.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert h.params == {"epochs": 2, "steps": math.ceil(240 / 64), "verbose": 0}
    # validation = the LAST 20 % (before shuffling), evaluated after the epoch (Keras)
    assert h.history["val_loss"][-1] == pytest.approx(m.evaluate(x[240:], y[240:], verbose=0)[0], rel=1e-6)
    h2 = m.fit(x[:200], y[:200], epochs=1, validation_data=(x[200:], y[200:]), verbose=0)
    assert h2.history["val_accuracy"][0] == pytest.approx(m.evaluate(x[200:], y[200:], verbose=0)[1])


def test_evaluate_predict_shapes(digits):
    x, y = digits
    m = small_cnn()
    m.compile("adam", "sparse_categorical_crossentropy")
    loss = m.evaluate(x[:50], y[:50], batch_size=7, verbose=0)
    assert isinstance(loss, float)
    p = m.predict(x[:50], batch_size=7)
    assert p.shape == (50, 10) and p.dtype == np.float32 and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(p, m.predict(x[:50], batch_size=50), atol=1e-6)  # BLAS blocking differs by batch size
    m.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    out = m.evaluate(x[:50], y[:50], verbose=0)
    assert len(out) == 2 and out[1] == pytest.approx(np.mean(p.argmax(1) == y[:50]))
    assert m.evaluate(x[:50], y[:50], verbose=0, return_dict=True).keys() == {"loss", "accuracy"}
    one_hot = np.eye(10, dtype=np.float32)[y[:50]]
    m.compile("adam", "categorical_crossentropy", ["accuracy"])
    assert m.evaluate(x[:50], one_hot, verbose=0) == pytest.approx(out, rel=1e-5)
    assert isinstance(m.train_on_batch(x[:8], one_hot[:8]), list)

    def top2(y_true, y_pred):  # a user's metric: per-example values
        return np.any(np.argsort(y_pred, axis=1)[:, -2:] == np.argmax(y_true, axis=1)[:, None], axis=1)

    m.compile("adam", "categorical_crossentropy", ["accuracy", top2])
    logs = m.evaluate(x[:50], one_hot[:50], batch_size=16, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "accuracy", "top2"] and logs["accuracy"] <= logs["top2"] <= 1


def test_partial_last_batch_and_verbose(digits, capsys):
    x, y = digits
    m = small_cnn()
    m.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
    h = m.fit(x[:70], y[:70], epochs=2, batch_size=32, verbose=2)
    assert h.params["steps"] == 3
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Epoch")]
    assert len(lines) == 2 and "loss:" in lines[0] and "accuracy:" in lines[0]
    m.fit(x[:70], y[:70], epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_same_seed_same_weights(digits):
    x, y = digits

    def run():
        reset_names()
        convlab.set_seed(123)
        m = small_cnn(dropout=True)
        m.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        m.fit(x, y, epochs=2, batch_size=32, verbose=0)
        return m.get_weights()

    a, b = run(), run()
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    convlab.set_seed(124)
    c = small_cnn().get_weights()
    assert not np.array_equal(a[0], c[0])


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the overflow this test provokes
def test_nan_loss_stops_with_last_good_weights(digits):
    x, y = digits
    m = small_cnn(softmax=False)
    m.compile(optimizers.SGD(learning_rate=1e18), "mse")
    y1 = np.eye(10, dtype=np.float32)[y]
    snapshots = []
    with pytest.raises(FloatingPointError) as info:
        for _ in range(20):
            snapshots.append(m.get_weights())
            m.train_on_batch(x[:32], y1[:32])
    assert isinstance(info.value, NonFiniteLossError)
    assert all(np.array_equal(a, b) for a, b in zip(snapshots[-1], m.get_weights()))
    assert all(np.isfinite(w).all() for w in m.get_weights())
    m2 = small_cnn(softmax=False)
    m2.compile(optimizers.SGD(learning_rate=1e18), "mse")
    with pytest.raises(NonFiniteLossError, match=r"epoch 1/3, batch \d+/\d+") as info:
        m2.fit(x, y1, epochs=3, batch_size=32, verbose=0)
    assert info.value.epoch == 1 and info.value.batch >= 1
    assert all(np.isfinite(w).all() for w in m2.get_weights())


# --------------------------------------------------------------------------- gradients, end to end
def test_model_gradcheck_end_to_end():
    reset_names()
    rng = np.random.default_rng(0)
    m = convlab.Sequential(
        [
            Input((6, 6, 2)),
            Conv2D(3, 3, padding="same", activation="tanh", dtype="float64"),
            MaxPooling2D(2, dtype="float64"),
            Flatten(dtype="float64"),
            Dense(5, activation="sigmoid", dtype="float64"),
            Dense(4, activation="softmax", dtype="float64"),
        ]
    )
    m.set_weights([rng.standard_normal(w.shape) * 0.5 for w in m.get_weights()])
    m.backend = "numpy"  # no float64 kernels to compile; the ops' backends are checked against each other elsewhere
    m.compile("sgd", "sparse_categorical_crossentropy")
    x = rng.standard_normal((3, 6, 6, 2))
    y = np.array([0, 3, 1])
    loss, grads = m.compute_gradients(x, y)
    weights = m.get_weights()
    for i, w in enumerate(weights):

        def f(v, i=i):
            ws = list(weights)
            ws[i] = v
            m.set_weights(ws)
            m._forward(x, training=True)
            return m._loss_value(y, None)

        num = convlab.numeric_gradient(f, w)
        assert convlab.rel_error(grads[i], num) < 1e-6, i
    m.set_weights(weights)
    assert m.compute_gradients(x, y)[0] == pytest.approx(loss)


# --------------------------------------------------------------------------- optimizers (Keras 3 formulas)
def test_optimizer_formulas_by_hand():
    g = np.array([0.5, -2.0], np.float64)
    w0 = np.array([1.0, 1.0])
    w = w0.copy()
    opt = optimizers.Adam(0.1)
    opt.apply_gradients([(g, w)])
    opt.apply_gradients([(g, w)])
    m = v = 0
    ref = w0.copy()
    for t in (1, 2):
        m += (g - m) * 0.1
        v += (g * g - v) * 0.001
        alpha = 0.1 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        ref -= alpha * m / (np.sqrt(v) + 1e-7)
    assert np.allclose(w, ref, rtol=1e-12) and opt.iterations == 2
    w = w0.copy()
    opt = optimizers.SGD(0.1, momentum=0.9, nesterov=True)
    opt.apply_gradients([(g, w)])
    opt.apply_gradients([(g, w)])
    mom, ref = 0, w0.copy()
    for _ in range(2):
        mom = 0.9 * mom - 0.1 * g
        ref += 0.9 * mom - 0.1 * g
    assert np.allclose(w, ref, rtol=1e-12)
    w = w0.copy()
    opt = optimizers.RMSprop(0.1)
    opt.apply_gradients([(g, w)])
    assert np.allclose(w, w0 - 0.1 * g / np.sqrt(0.1 * g * g + 1e-7), rtol=1e-12)


def test_optimizer_get_and_errors():
    assert isinstance(optimizers.get("Adam"), optimizers.Adam) and optimizers.get("sgd").learning_rate == 0.01
    with pytest.raises(ValueError, match="optimizer"):
        optimizers.get("adagrad")
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(-1)
    with pytest.raises(ValueError, match="beta_1"):
        optimizers.Adam(beta_1=1.0)
    w = np.ones(2)
    with pytest.raises(optimizers.NonFiniteUpdateError):
        optimizers.SGD(1.0).apply_gradients([(np.array([np.inf, 0]), w)])
    assert np.array_equal(w, [1, 1])


@pytest.mark.slow
@pytest.mark.tf
def test_matches_keras_training():
    """Three steps and a two-epoch fit (validation_split, partial batches) equal Keras 3's to float32 rounding."""
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    x = rng.random((16, 10, 10, 1)).astype(np.float32)
    y = rng.integers(0, 4, 16)

    def kmodel():
        L = keras.layers
        return keras.Sequential(
            [
                keras.Input((10, 10, 1)),
                L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
                L.MaxPooling2D(2),
                L.Flatten(),
                L.Dense(8, activation="relu"),
                L.Dense(4, activation="softmax"),
            ]
        )

    km = kmodel()
    km.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    cm = convlab.Sequential(
        [
            Input((10, 10, 1)),
            Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            MaxPooling2D(2),
            Flatten(),
            Dense(8, activation="relu"),
            Dense(4, activation="softmax"),
        ]
    )
    cm.set_weights(km.get_weights())
    cm.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy", ["accuracy"])
    for _ in range(3):
        lk, lc = km.train_on_batch(x, y), cm.train_on_batch(x, y)
        assert lc == pytest.approx(lk, rel=1e-5, abs=1e-6)
    for a, b in zip(km.get_weights(), cm.get_weights()):
        assert np.allclose(a, b, atol=1e-6)
    hk = km.fit(x, y, epochs=2, batch_size=5, shuffle=False, verbose=0, validation_split=0.25).history
    hc = cm.fit(x, y, epochs=2, batch_size=5, shuffle=False, verbose=0, validation_split=0.25).history
    for k in hk:
        assert np.allclose(hk[k], hc[k], rtol=1e-5, atol=1e-6), k


# --------------------------------------------------------------------------- files
def test_save_load_predict_identical(tmp_path, digits):
    x, y = digits
    m = small_cnn(dropout=True)
    m.compile(optimizers.Adam(0.005), "sparse_categorical_crossentropy", ["accuracy"])
    m.fit(x, y, epochs=1, verbose=0)
    p = tmp_path / "model.npz"
    m.save(p)
    assert [f.name for f in tmp_path.iterdir()] == ["model.npz"]  # no temp file left
    m2 = convlab.load_model(p)
    assert [l.name for l in m2.layers] == [l.name for l in m.layers]
    assert np.array_equal(m2.predict(x[:40]), m.predict(x[:40]))
    assert m2.summary_text() == m.summary_text()
    assert isinstance(m2.optimizer, optimizers.Adam) and m2.optimizer.learning_rate == 0.005
    assert m2.optimizer.iterations == m.optimizer.iterations
    # training continues identically (optimizer state restored)
    convlab.set_seed(5)  # the same dropout masks for both
    m.train_on_batch(x[:16], y[:16])
    convlab.set_seed(5)
    m2.train_on_batch(x[:16], y[:16])
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), m2.get_weights()))
    with pytest.raises(ValueError, match=r"\.npz"):
        m.save(tmp_path / "model.keras")


def test_truncated_and_wrong_files_change_nothing(tmp_path, digits):
    x, y = digits
    m = small_cnn()
    m.compile("adam", "sparse_categorical_crossentropy")
    good = tmp_path / "m.npz"
    m.save(good)
    trunc = tmp_path / "t.npz"
    trunc.write_bytes(good.read_bytes()[:-200])
    before = m.get_weights()
    with pytest.raises(ValueError, match="truncated or corrupt"):
        convlab.load_model(trunc)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        m.load_weights(trunc)
    other = convlab.Sequential([Input((8, 8, 1)), Conv2D(5, 3), Flatten(), Dense(10)])
    other_path = tmp_path / "other.npz"
    other.save_weights(other_path)
    m.set_weights([w + 1 for w in before])
    changed = m.get_weights()
    with pytest.raises(ValueError, match="do not fit"):
        m.load_weights(other_path)
    assert all(np.array_equal(a, b) for a, b in zip(changed, m.get_weights()))
    m.load_weights(good)
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a convlab"):
        convlab.load_model(tmp_path / "plain.npz")
    # an architecture whose weights do not fit the stored arrays
    with np.load(good) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["__convlab__"]))
    meta["config"]["layers"][0]["config"]["filters"] = 6
    arrays["__convlab__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="cannot rebuild"):
        convlab.load_model(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError):
        convlab.load_model(tmp_path / "missing.npz")
    assert sorted(os.listdir(tmp_path)) == ["bad.npz", "m.npz", "other.npz", "plain.npz", "t.npz"]


# --------------------------------------------------------------------------- errors
def test_bad_inputs_name_the_argument(digits):
    x, y = digits
    m = small_cnn()
    with pytest.raises(ValueError, match="compile"):
        m.fit(x, y)
    with pytest.raises(ValueError, match="loss"):
        m.compile("adam", "hinge")
    with pytest.raises(ValueError, match="metrics"):
        m.compile("adam", "mse", metrics=["f1"])
    with pytest.raises(ValueError, match="optimizer"):
        m.compile("adamw", "mse")
    m.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    with pytest.raises(ValueError, match=r"x must have shape \(N, 8, 8, 1\)"):
        m.fit(x[:, :, :, 0], y)
    with pytest.raises(ValueError, match="y must have one entry per example"):
        m.fit(x, y[:-1])
    with pytest.raises(ValueError, match="batch_size"):
        m.fit(x, y, batch_size=0)
    with pytest.raises(TypeError, match="epochs"):
        m.fit(x, y, epochs=1.5)
    with pytest.raises(ValueError, match="validation_split"):
        m.fit(x, y, validation_split=1.5)
    with pytest.raises(ValueError, match="verbose"):
        m.fit(x, y, verbose=3)
    with pytest.raises(TypeError, match="x must be a real numeric"):
        m.predict(np.array([["a"]]))
    with pytest.raises(ValueError, match="backend"):
        m.backend = "cuda"
    with pytest.raises(TypeError, match="layer"):
        m.add("dense")
    with pytest.raises(ValueError, match="already has a layer named"):
        m.add(Dense(3, name="dense"))
    with pytest.raises(ValueError, match="not built"):
        convlab.Sequential([Dense(3)]).summary()
    before = m.get_weights()
    with pytest.raises(ValueError, match="already built for inputs"):
        m.build((None, 10, 10, 1))  # weights are never silently re-initialised
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))


def test_backend_option_reaches_the_ops(digits):
    x, y = digits
    outs = []
    for backend in ("numpy", "numba"):
        reset_names()
        convlab.set_seed(0)
        m = small_cnn()
        m.backend = backend
        assert all(l.backend == backend for l in m.layers)
        outs.append(m.predict(x[:20]))
    assert np.allclose(outs[0], outs[1], atol=1e-6)


def test_first_layer_skips_input_gradient_only_inside_the_model():
    """Sequential asks the first weighted layer for no dx (need_dx=False); called alone, the layer still gives it."""
    convlab.set_seed(3)
    model = convlab.Sequential(
        [
            convlab.layers.Input((6, 6, 1)),
            convlab.layers.Conv2D(2, 3, activation="relu"),
            convlab.layers.Flatten(),
            convlab.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((4, 6, 6, 1)).astype(np.float32)
    model.fit(x, np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    conv = model.layers[0] if isinstance(model.layers[0], convlab.layers.Conv2D) else model.layers[1]
    conv.forward(x, training=True)
    dx = conv.backward(np.ones(conv.forward(x).shape, np.float32))
    assert dx is not None and dx.shape == x.shape


def test_backward_passes_need_dx_false_to_the_first_weighted_layer_only(monkeypatch):
    """No backward for the layers before the first one with weights; need_dx=False for that one only."""
    model = convlab.Sequential(
        [
            convlab.layers.Input((6, 6, 1)),
            convlab.layers.MaxPooling2D(2),
            convlab.layers.Conv2D(2, 2, activation="relu"),
            convlab.layers.Flatten(),
            convlab.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    calls = []
    for layer in model.layers:
        for method in ("backward", "backward_from_preactivation"):
            original = getattr(layer, method)

            def spy(d, *, need_dx=True, _original=original, _name=layer.name, _method=method):
                calls.append((_name, _method, need_dx))
                return _original(d, need_dx=need_dx)

            monkeypatch.setattr(layer, method, spy)
    x = np.random.default_rng(0).standard_normal((4, 6, 6, 1)).astype(np.float32)
    model.compute_gradients(x, np.array([0, 1, 2, 0]))
    pool, conv, flat, dense = (l.name for l in model.layers)
    assert calls == [
        (dense, "backward_from_preactivation", True),
        (flat, "backward", True),
        (conv, "backward", False),
        (conv, "backward_from_preactivation", False),
    ]  # inner call


def test_training_faults_in_no_pages_step_after_step():
    """The layers reuse their arrays between steps, so a step faults in no new pages (glibc's allocator as it
    comes: convlab no longer changes malloc's settings). Before, each step faulted in its feature maps again."""
    import resource
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("minor page faults are counted by Linux")
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    model = convlab.Sequential(
        [
            convlab.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
            convlab.layers.MaxPooling2D(2),
            convlab.layers.Flatten(),
            convlab.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # 4 steps; allocating its arrays afresh, each step faulted in its ~2 MB of feature maps (~500 pages)
    assert faults < 200, faults


def test_class_names_are_saved_and_loaded(tmp_path):
    from convlab.layers import Dense, Input

    model = convlab.Sequential([Input((4,)), Dense(3, activation="softmax")])
    assert model.class_names is None
    model.class_names = ["cat", "dog", "rocket"]
    model.save(tmp_path / "m.npz")
    assert convlab.load_model(tmp_path / "m.npz").class_names == ("cat", "dog", "rocket")
    with pytest.raises(ValueError, match=r"class_names must have one name per output unit \(3\), got 2"):
        model.class_names = ["a", "b"]
    with pytest.raises(TypeError, match=r"class_names\[1\] must be a str, got 7"):
        model.class_names = ["a", 7, "c"]
    model.class_names = None
    model.save(tmp_path / "plain.npz")
    assert convlab.load_model(tmp_path / "plain.npz").class_names is None


def test_fit_calls_keras_style_callbacks_and_stops_when_asked():
    from convlab.layers import Dense, Input

    calls = []

    class Recorder:
        def on_epoch_begin(self, epoch, logs):
            calls.append(("epoch_begin", epoch))

        def on_train_batch_end(self, batch, logs):
            calls.append(("batch_end", batch, round(logs["loss"], 6) > 0))

        def on_epoch_end(self, epoch, logs):
            calls.append(("epoch_end", epoch, sorted(logs)))

    class StopAfterThreeBatches:  # Keras' idiom: fit hands each callback the model as self.model
        def __init__(self):
            self.seen = 0

        def on_train_batch_end(self, batch, logs):
            self.seen += 1
            if self.seen == 3:
                self.model.stop_training = True

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 4)).astype(np.float32), rng.integers(0, 3, 20)
    model = convlab.Sequential([Input((4,)), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[Recorder()])
    assert calls == [
        ("epoch_begin", 0),
        ("batch_end", 0, True),
        ("batch_end", 1, True),
        ("epoch_end", 0, ["accuracy", "loss"]),
        ("epoch_begin", 1),
        ("batch_end", 0, True),
        ("batch_end", 1, True),
        ("epoch_end", 1, ["accuracy", "loss"]),
    ]
    stopper = StopAfterThreeBatches()
    history = model.fit(x, y, epochs=5, batch_size=10, verbose=0, callbacks=[stopper])
    assert stopper.seen == 3 and len(history.epoch) == 2 and stopper.model is model
    with pytest.raises(TypeError, match=r"callbacks\[0\] must have at least one of the methods"):
        model.fit(x, y, verbose=0, callbacks=[object()])
    with pytest.raises(TypeError, match="callbacks must be a list"):
        model.fit(x, y, verbose=0, callbacks=Recorder())
