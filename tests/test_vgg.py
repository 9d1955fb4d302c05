"""convlab.vgg around Keras 3: parameter counts, training on a tiny real set, report, weights files, errors.

Only tiny models are trained (frozen base at 32×32); the 224×224 models are built, never trained.
"""

import contextlib
import io
import os

import numpy as np
import pytest

pytest.importorskip("tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from convlab import vgg
from convlab.images import make_photo_folder, read_image_folder

SMALL = (32, 32, 3)
# Keras' own TF tensors trip NumPy 2's copy-keyword deprecation; not ours to fix.
pytestmark = [
    pytest.mark.tf,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]


def n_trainable(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("faces"), "faces", per_class=20)


@pytest.fixture(scope="module")
def trained(faces_dir):
    """A seeds/002 transfer model (random, frozen base) trained one epoch on 40 real 32×32 images."""
    keras.utils.set_random_seed(0)
    model = vgg.transfer_model(2, input_shape=SMALL)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = vgg.train(model, faces_dir, epochs=1, batch_size=16, verbose=2)
    return model, result, printed.getvalue()


# ------------------------------------------------------------------ architecture (built, not trained)
def test_vgg16_parameter_counts_at_224():
    model = vgg.vgg16()
    assert model.count_params() == 138_357_544
    assert model.output_shape == (None, 1000)
    del model
    m3 = vgg.vgg16(classes=3)
    assert m3.count_params() == 134_272_835
    assert m3.output_shape == (None, 3)


def test_vgg16_matches_keras_applications(tmp_path):
    """Same layers and names as keras.applications.VGG16(include_top=True), so its weights files load."""
    keras.utils.set_random_seed(2)
    theirs = keras.applications.VGG16(weights=None, input_shape=SMALL, classes=3)
    path = tmp_path / "app.weights.h5"
    theirs.save_weights(path)
    ours = vgg.vgg16(classes=3, input_shape=SMALL, weights=path)
    assert [l.name for l in ours.layers[1:]] == [l.name for l in theirs.layers[1:]]  # [0]: auto-named input
    x = np.random.default_rng(0).random((2,) + SMALL).astype("float32")
    np.testing.assert_array_equal(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    assert ours.layers[1].name == "block1_conv1" and [l.name for l in ours.layers[-3:]] == ["fc1", "fc2", "predictions"]
    assert ours.count_params() == theirs.count_params()
    assert vgg.vgg16(include_top=False, input_shape=SMALL).count_params() == 14_714_688


def test_transfer_model_counts_and_unfreeze():
    model = vgg.transfer_model(3)
    assert model.count_params() == 17_926_467
    assert n_trainable(model) == 3_211_779
    assert [type(l).__name__ for l in model.layers] == ["Functional", "Flatten", "Dense", "Dropout", "Dense"]
    assert model.layers[3].rate == 0.4
    vgg.unfreeze(model, from_layer="block5_conv1", learning_rate=1e-5)
    assert n_trainable(model) == 3_211_779 + 3 * 2_359_808
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="from_layer"):
        vgg.unfreeze(model, from_layer="block9_conv1")


# ------------------------------------------------------------------ training, report, prediction
def test_train_splits_history_and_device(trained):
    model, result, printed = trained
    assert "Training on CPU" in printed or "Training on GPU" in printed
    assert "40 images of 2 classes ['face', 'not_face'] at 32×32: train 28, validation 8, test 4" in printed
    assert result.class_names == ("face", "not_face")
    # per class of 20: test round(2.0) = 2, validation round(18·0.2 = 3.6) = 4, train 14
    assert (len(result.train), len(result.validation), len(result.test)) == (28, 8, 4)
    assert result.train.counts() == {"face": 14, "not_face": 14}
    assert not set(result.train.paths) & set(result.test.paths)
    assert set(result.history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(result.history.history["loss"]) == 1 and len(result.epoch_seconds) == 1
    assert "CPU" in result.device or "GPU" in result.device
    assert n_trainable(model) == 512 * 128 + 128 + 129 * 2  # the base stayed frozen


def test_evaluate_report(trained, tmp_path):
    model, result, _ = trained
    fig_path = tmp_path / "cm.png"
    rep = vgg.evaluate_report(model, result, figure_path=fig_path)
    assert rep.confusion.shape == (2, 2) and rep.confusion.sum() == 4
    assert 0.0 <= rep.accuracy <= 1.0
    assert rep.accuracy == pytest.approx(np.trace(rep.confusion) / 4)
    for word in ("precision", "recall", "f1-score", "face", "not_face"):
        assert word in rep.text
    assert set(rep.per_class) >= {"face", "not_face", "accuracy"}
    assert fig_path.is_file() and fig_path.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]  # no temporary file left
    np.testing.assert_allclose(rep.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert str(rep).startswith("accuracy:")


def test_predict_image(trained, faces_dir, capsys):
    model, result, _ = trained
    out = vgg.predict_image(model, faces_dir / "face" / "face_000.png", result.class_names, top=3)
    assert [n for n, _ in out] and {n for n, _ in out} == {"face", "not_face"}  # top clipped to 2 classes
    probs = [p for _, p in out]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, abs=1e-5)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and printed[0].startswith(out[0][0] + ":")
    one = vgg.predict_image(model, result.test.images[0], result.class_names, top=1, verbose=False)
    assert len(one) == 1
    with pytest.raises(ValueError, match="class_names"):
        vgg.predict_image(model, result.test.images[0], ["a", "b", "c"])
    with pytest.raises(FileNotFoundError):
        vgg.predict_image(model, faces_dir / "nope.png", result.class_names)


# ------------------------------------------------------------------ weights files
def test_weights_saved_and_reloaded(trained, tmp_path):
    model, result, _ = trained
    x = result.test.images.astype("float32") / 255
    before = model.predict(x, verbose=0)
    path = vgg.save_model(model, tmp_path / "faces.weights.h5")
    assert [p.name for p in tmp_path.iterdir()] == ["faces.weights.h5"]
    fresh = vgg.transfer_model(2, input_shape=SMALL)
    assert not np.array_equal(fresh.predict(x, verbose=0), before)
    vgg.load_weights(fresh, path)
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), before)
    # the base alone, loaded through the builder's weights= argument
    base_path = vgg.save_model(model.layers[0], tmp_path / "base.weights.h5")
    again = vgg.transfer_model(2, input_shape=SMALL, weights=base_path)
    np.testing.assert_array_equal(
        again.layers[0].get_layer("block5_conv3").kernel.numpy(),
        model.layers[0].get_layer("block5_conv3").kernel.numpy(),
    )
    whole = vgg.save_model(model, tmp_path / "faces.keras")
    np.testing.assert_allclose(vgg.load_model(whole).predict(x, verbose=0), before, rtol=1e-6)
    assert vgg.class_names_of(whole) is None
    # class names travel inside the .keras archive; Keras still loads it
    named = vgg.save_model(model, tmp_path / "named.keras", class_names=result.class_names)
    assert vgg.class_names_of(named) == tuple(result.class_names)
    np.testing.assert_allclose(vgg.load_model(named).predict(x, verbose=0), before, rtol=1e-6)
    with pytest.raises(ValueError, match=r"one name per output unit \(2\), got 3"):
        vgg.save_model(model, tmp_path / "bad.keras", class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="only be saved in a .keras file"):
        vgg.save_model(model, tmp_path / "w.weights.h5", class_names=result.class_names)


def test_legacy_h5_by_name(tmp_path):
    """Keras' own ImageNet downloads are legacy .h5 files (Keras 2 format), matched by layer name."""
    h5py = pytest.importorskip("h5py")
    legacy = pytest.importorskip("keras.src.legacy.saving.legacy_h5_format")
    notop = keras.applications.VGG16(weights=None, input_shape=SMALL, include_top=False)
    path = tmp_path / "vgg16_notop.h5"
    with h5py.File(path, "w") as f:
        legacy.save_weights_to_hdf5_group(f, notop)
    model = vgg.transfer_model(3, input_shape=SMALL, weights=path)
    np.testing.assert_array_equal(
        model.layers[0].get_layer("block1_conv1").kernel.numpy(), notop.get_layer("block1_conv1").kernel.numpy()
    )
    with pytest.raises(ValueError, match="no weights for layer.*fc1"):
        vgg.vgg16(classes=3, input_shape=SMALL, weights=path)


def test_missing_and_mismatched_weights(trained, tmp_path):
    model, _, _ = trained
    with pytest.raises(FileNotFoundError, match="never downloads"):
        vgg.vgg16(weights=tmp_path / "absent.weights.h5")
    with pytest.raises(ValueError, match="never does"):
        vgg.vgg16(weights="imagenet")
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        vgg.vgg16(weights=tmp_path / "weights.bin")
    path = vgg.save_model(model, tmp_path / "two.weights.h5")
    three = vgg.transfer_model(3, input_shape=SMALL)
    with pytest.raises(ValueError, match="does not match"):
        vgg.load_weights(three, path)
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="junk.weights.h5"):
        vgg.load_weights(three, junk)
    with pytest.raises(ValueError, match="path must end"):
        vgg.save_model(model, tmp_path / "model.h5")


def test_save_and_load_errors_name_the_users_path(trained, tmp_path):
    model, _, _ = trained
    folder = tmp_path / "taken.weights.h5"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        vgg.save_model(model, folder)
    assert str(folder) in str(info.value) and ".tmp" not in str(info.value)
    with pytest.raises(FileNotFoundError):
        vgg.save_model(model, tmp_path / "no" / "m.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.weights.h5"]  # nothing left behind
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.keras.*not a readable .keras"):
        vgg.load_model(junk)


def test_training_on_a_folder_with_unreadable_files_closes_them(faces_dir, tmp_path):
    """Every corrupt file is skipped by name and closed: no ResourceWarning (there were dozens)."""
    import gc
    import shutil
    import warnings

    messy = tmp_path / "messy"
    shutil.copytree(faces_dir, messy)
    for i in range(6):
        (messy / "face" / f"bad{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
        (messy / "not_face" / f"bad{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    keras.utils.set_random_seed(0)
    model = vgg.transfer_model(2, input_shape=SMALL, head=(4,))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = vgg.train(model, messy, epochs=1, batch_size=16, validation_split=0, test_split=0, verbose=0)
        gc.collect()
    assert len(result.train) == 40
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks[:3]
    skipped = [str(w.message) for w in caught if "not readable images" in str(w.message)]
    assert len(skipped) == 1 and "skipped 12 file(s)" in skipped[0]


# ------------------------------------------------------------------ strategy, mixed precision, errors
def test_strategy_scope_and_mixed_precision(faces_dir):
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    model = vgg.transfer_model(2, input_shape=SMALL, head=(4,), strategy=strategy)
    assert model.distribute_strategy is strategy
    data = read_image_folder(faces_dir, (32, 32)).subset(np.arange(0, 40, 4))  # 10 images
    result = vgg.train(model, data, epochs=1, validation_split=0, test_split=0, verbose=0)
    assert len(result.train) == 10 and np.isfinite(result.history.history["loss"][0])
    policy = keras.config.dtype_policy().name
    mixed = vgg.transfer_model(2, input_shape=SMALL, head=(4,), mixed_precision=True)
    assert mixed.layers[0].get_layer("block1_conv1").dtype_policy.name == "mixed_float16"
    assert mixed.layers[-1].dtype_policy.name == "float32"
    assert keras.config.dtype_policy().name == policy  # the global policy is restored
    out = mixed.predict(np.zeros((1,) + SMALL, "float32"), verbose=0)
    assert out.dtype == np.float32 and out.shape == (1, 2)
    mixed.compile("adam", "categorical_crossentropy")
    assert type(mixed.optimizer).__name__ == "LossScaleOptimizer"  # Keras scales the float16 loss itself


def test_bad_arguments(faces_dir):
    with pytest.raises(ValueError, match="classes"):
        vgg.vgg16(classes=0)
    with pytest.raises(ValueError, match="input_shape"):
        vgg.vgg16(input_shape=(16, 16, 3))
    with pytest.raises(TypeError, match="input_shape"):
        vgg.vgg16(input_shape=(224, 224))
    with pytest.raises(ValueError, match="base"):
        vgg.transfer_model(3, base="resnet50")
    with pytest.raises(ValueError, match="dropout"):
        vgg.transfer_model(3, dropout=1.5)
    with pytest.raises(TypeError, match="strategy"):
        vgg.vgg16(strategy="mirrored")
    with pytest.raises(TypeError, match="mixed_precision"):
        vgg.vgg16(mixed_precision="yes")
    model = vgg.transfer_model(3, input_shape=SMALL, head=(4,))
    with pytest.raises(ValueError, match="3 outputs but data_dir has 2 classes"):
        vgg.train(model, faces_dir, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="image_size"):
        vgg.train(model, faces_dir, epochs=1, image_size=(64, 64), verbose=0)
    with pytest.raises(TypeError, match="epochs"):
        vgg.train(model, faces_dir, epochs=1.5, verbose=0)
