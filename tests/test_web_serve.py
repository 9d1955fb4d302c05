"""``convlab serve`` and the default model: the command line, the cache, training, a real server process.

The fast tests run ``convlab.cli.main`` in this process for every invocation that must fail (exit 2,
one line naming the option) and check the default model's cache logic on small files. The slow ones
start ``python -m convlab serve`` on a free port (``--port 0``) in a subprocess (``web_helpers.ServerProcess``),
talk to it over HTTP on 127.0.0.1 and stop it with SIGINT (what Ctrl-C sends) or SIGTERM, which must exit 0;
and train the default model in quick mode (``CONVLAB_EXPLORER_QUICK=1``: 1 epoch on 500 digits, an accuracy
bar of 50 %).
Every test gets its own ``CONVLAB_CACHE_DIR``: nothing reads or writes the user's cached model.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from web_helpers import ServerProcess

import convlab
from convlab.cli import main
from convlab.layers import Conv2D, Dense, Flatten, Input, MaxPool2D
from convlab.web import default_model
from convlab.web.keras_page import KerasSlot, photo_for
from convlab.web.state import ExplorerState


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """An empty model cache of this test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(default_model.CACHE_ENV, str(folder))
    monkeypatch.delenv(default_model.QUICK_ENV, raising=False)
    return folder


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory):
    convlab.set_seed(0)
    model = convlab.Sequential(
        [Input((28, 28, 1)), Conv2D(2, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(3, activation="softmax")]
    )
    path = tmp_path_factory.mktemp("models") / "small.npz"
    model.save(path)
    return path


def run_cli(argv, capsys) -> tuple[int, str, str]:
    """``convlab ARGV`` in this process: (exit code, stdout, stderr); a parser error's SystemExit is a code too."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("convlab serve: error: "), lines[0]
    return lines[0]


# --------------------------------------------------------------------------- the command line: bad invocations
def test_serve_help(capsys):
    code, out, _ = run_cli(["serve", "--help"], capsys)
    assert code == 0
    for word in ("--host", "--port", "--model", "--classes", "--no-train", "127.0.0.1", "Ctrl-C"):
        assert word in out


@pytest.mark.parametrize(
    "args, words",
    [
        (["--port", "abc"], ["--port", "'abc'"]),
        (["--port", "-1"], ["--port", "'-1'"]),
        (["--port", "70000"], ["--port", "65535", "'70000'"]),
        (["--port", "8.5"], ["--port"]),
        (["--classes", ""], ["--classes"]),
        (["--classes", "a,,b"], ["--classes", "'a,,b'"]),
        (["--classes", "cat,dog,cat"], ["--classes", "'cat'"]),
        (["--unknown"], ["unrecognized", "--unknown"]),
        (["--model"], ["--model"]),
    ],
)
def test_bad_arguments_exit_2(capsys, args, words):
    code, _, err = run_cli(["serve", *args], capsys)
    assert code == 2
    line = one_error_line(err)
    for w in words:
        assert w in line


def _garbage(path: Path, data: bytes = b"this is not a model\x00\x01" * 10) -> Path:
    path.write_bytes(data)
    return path


def test_bad_model_files_exit_2_naming_model_and_file(capsys, tmp_path, small_npz):
    convlab.set_seed(0)
    vector_model = convlab.Sequential([Input((8,)), Dense(3, activation="softmax")])
    vector_model.save(tmp_path / "vector.npz")
    (tmp_path / "folder.npz").mkdir()
    cases = [
        ([str(tmp_path / "missing.npz")], ["--model", "missing.npz", "no such file"]),
        ([str(_garbage(tmp_path / "weights.txt"))], ["--model", "weights.txt", ".npz", ".keras"]),
        ([str(_garbage(tmp_path / "garbage.npz"))], ["--model", "garbage.npz"]),
        ([str(_garbage(tmp_path / "truncated.npz", small_npz.read_bytes()[:300]))], ["--model", "truncated.npz"]),
        ([str(_garbage(tmp_path / "garbage.keras"))], ["--model", "garbage.keras", "zip"]),
        ([str(tmp_path / "vector.npz")], ["--model", "vector.npz", "images"]),
        ([str(tmp_path / "folder.npz")], ["--model", "folder.npz", "folder"]),
        ([str(small_npz), str(small_npz)], ["--model", "2 .npz files"]),
    ]
    for paths, words in cases:
        argv = ["serve", "--no-train"]
        for p in paths:
            argv += ["--model", p]
        code, _, err = run_cli(argv, capsys)
        assert code == 2, (paths, err)
        line = one_error_line(err)
        for w in words:
            assert w in line, (w, line)


def test_classes_must_match_the_model(capsys, small_npz):
    code, _, err = run_cli(["serve", "--model", str(small_npz), "--classes", "a,b"], capsys)
    assert code == 2
    line = one_error_line(err)
    assert "--classes" in line and "2 classes" in line and "3 outputs" in line
    # the default model has 10 classes
    code, _, err = run_cli(["serve", "--classes", "a,b,c"], capsys)
    assert code == 2 and "--classes" in one_error_line(err)


def test_classes_must_match_the_names_saved_in_a_keras_file(capsys, tmp_path):
    import zipfile

    # a .keras archive as vgg.save_model(class_names=...) leaves it, without TensorFlow: only the names matter here
    path = tmp_path / "photos.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("convlab.json", json.dumps({"class_names": ["cat", "dog", "bird"]}))
        archive.writestr("config.json", "{}")
    code, _, err = run_cli(["serve", "--no-train", "--model", str(path), "--classes", "a,b"], capsys)
    assert code == 2
    line = one_error_line(err)
    assert "--classes names 2 classes" in line and "photos.keras has 3" in line


def test_no_train_without_a_cached_model_says_how_to_make_one(capsys, cache_dir):
    code, out, err = run_cli(["serve", "--no-train"], capsys)
    assert code == 2
    line = one_error_line(err)
    for w in (
        "no trained model",
        str(cache_dir),
        "--no-train",
        "`convlab serve`",
        "--model my_model.npz",
        "model.save",
    ):
        assert w in line, (w, line)
    assert not cache_dir.exists() or not any(cache_dir.iterdir())  # nothing was written


def test_no_train_with_a_corrupt_cached_model(capsys, cache_dir):
    cache_dir.mkdir()
    _garbage(cache_dir / default_model.FILENAME, os.urandom(4000))
    code, _, err = run_cli(["serve", "--no-train"], capsys)
    assert code == 2
    line = one_error_line(err)
    assert "is corrupt (" in line and default_model.FILENAME in line and "--no-train" in line


def test_port_in_use_exits_2_naming_port(capsys, small_npz):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = run_cli(["serve", "--port", str(port), "--model", str(small_npz)], capsys)
    assert code == 2
    line = one_error_line(err)
    assert f"--port {port}" in line and "in use" in line and "--port 0" in line


def test_host_that_is_not_this_machine_exits_2(capsys, small_npz):
    code, _, err = run_cli(["serve", "--host", "203.0.113.7", "--port", "0", "--model", str(small_npz)], capsys)
    assert code == 2
    assert "--host" in one_error_line(err)


# --------------------------------------------------------------------------- the default model's cache
def test_architecture_is_seeds_004():
    convlab.set_seed(0)
    model = default_model.build_model()
    assert default_model.architecture_of(model) == default_model.ARCHITECTURE
    assert model.count_params() == default_model.PARAMS == 542_230
    assert model.input_shape == (None, 28, 28, 1)


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv(default_model.CACHE_ENV, str(tmp_path / "here"))
    assert default_model.cache_path() == tmp_path / "here" / "explorer-mnist-cnn.npz"
    monkeypatch.delenv(default_model.CACHE_ENV)
    import platformdirs

    assert default_model.cache_dir() == Path(platformdirs.user_cache_dir("convlab"))


def test_training_plans(monkeypatch):
    assert default_model.training_plan() == default_model.FULL_PLAN
    full = default_model.FULL_PLAN
    assert (full.epochs, full.train_size, full.min_accuracy) == (10, 4000, 0.9)
    monkeypatch.setenv(default_model.QUICK_ENV, "1")
    assert default_model.training_plan().quick and default_model.training_plan().epochs == 1
    assert default_model.training_plan(quick=False) == full


def test_load_cached_reports_what_is_wrong(tmp_path, small_npz):
    with pytest.raises(FileNotFoundError):
        default_model.load_cached(tmp_path / "none.npz")
    with pytest.raises(default_model.CorruptModelError) as info:
        default_model.load_cached(_garbage(tmp_path / "garbage.npz"))
    assert str(tmp_path) not in str(info.value)  # the caller's message names the file once
    with pytest.raises(default_model.CorruptModelError, match="layers are not seeds/004"):
        default_model.load_cached(small_npz)
    convlab.set_seed(0)
    model = default_model.build_model()
    weights = model.get_weights()
    weights[2][0, 0] = np.nan
    model.set_weights(weights)
    model.save(tmp_path / "nan.npz")
    with pytest.raises(default_model.CorruptModelError, match="NaN"):
        default_model.load_cached(tmp_path / "nan.npz")


@pytest.mark.slow
def test_an_untrained_model_is_not_served(tmp_path):
    convlab.set_seed(0)
    default_model.build_model().save(tmp_path / "untrained.npz")
    with pytest.raises(default_model.CorruptModelError, match="below the 90% required"):
        default_model.load_cached(tmp_path / "untrained.npz")


@pytest.mark.slow
def test_quick_training_saves_a_usable_model(tmp_path):
    seen = []
    lines = []
    model = default_model.train(seen.append, plan=default_model.QUICK_PLAN, log=lines.append)
    assert model.explorer_accuracy >= 0.5
    assert seen[0]["epoch"] == 1 and seen[0]["epochs"] == 1 and seen[0]["batches"] == 16
    assert seen[-1]["loss"] is not None and seen[-1]["batch"] == 16 and "epoch 1/1" in seen[-1]["message"]
    assert any("CONVLAB_EXPLORER_QUICK" in line for line in lines)
    path = default_model.save(model, tmp_path / "deep" / "folder" / "m.npz")
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.npz"]  # atomic: no temporary file left
    loaded = default_model.load_cached(path, min_accuracy=0.5)
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    # the same seed and data: the same weights (one set_seed(0), epoch by epoch)
    again = default_model.train(plan=default_model.QUICK_PLAN, log=None)
    np.testing.assert_array_equal(again.get_weights()[0], model.get_weights()[0])


def test_training_can_be_stopped():
    stop = threading.Event()
    stop.set()
    with pytest.raises(default_model.TrainingStopped):
        default_model.train(plan=default_model.QUICK_PLAN, stop=stop, log=None)


@pytest.mark.slow
def test_background_training_then_served(tmp_path):
    _, _, x_test, y_test = default_model.mnist_split()
    state = ExplorerState(test_digits=(x_test, y_test), source="default")
    thread = state.train_default_in_background(default_model.QUICK_PLAN, save_to=tmp_path / "m.npz", log=None)
    assert state.training is not None or state.ready
    thread.join(timeout=300)
    assert state.ready and state.training is None and state.training_error is None
    assert (tmp_path / "m.npz").is_file()
    status = state.status()
    assert status["model"]["params"] == 542_230 and status["model"]["source"] == "default"
    assert "500 MNIST digits" in status["model"]["description"]


def test_background_training_failure_is_reported(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise MemoryError("no room")

    monkeypatch.setattr(default_model, "train", broken)
    state = ExplorerState(test_digits=(np.zeros((1, 28, 28), np.uint8), np.zeros(1, int)))
    state.train_default_in_background(default_model.QUICK_PLAN, log=None).join(timeout=30)
    assert not state.ready and "MemoryError: no room" in state.training_error
    assert "MemoryError" in capsys.readouterr().err


# --------------------------------------------------------------------------- a real server process
@pytest.mark.slow
def test_serve_prints_its_url_answers_and_stops_with_ctrl_c(small_npz, cache_dir):
    # host=None: the command's own default host, as a person types it
    with ServerProcess(small_npz, cache_dir=cache_dir, classes=["x", "y", "z"], host=None) as server:
        assert f"convlab explorer: {server.url}/ (Ctrl-C to stop)" in server.output  # 127.0.0.1, a real port
        _, status = server.get("/api/status")
        assert status["model"]["file"] == "small.npz" and status["model"]["classes"] == ["x", "y", "z"]
        assert status["model"]["source"] == "file" and status["model"]["description"] == ""  # the page adds the rest
        code, headers, body = server.request_with_headers("POST", "/api/predict", json_body={"test_index": 0})
        assert code == 200 and body["classes"] == ["x", "y", "z"] and len(body["probabilities"]) == 3
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        code, body = server.post("/api/predict", {"test_index": 5000})
        assert code == 400 and "test_index" in body["error"]
        assert server.get("/api/status")[0] == 200  # still serving
    # leaving the block sent SIGINT and checked the exit code is 0
    assert "stopped" in server.output and "Traceback" not in server.output
    assert not cache_dir.exists()  # --model: the cache is never touched


@pytest.mark.slow
def test_serve_stops_cleanly_on_sigterm(small_npz, cache_dir):
    with ServerProcess(small_npz, cache_dir=cache_dir, no_train=False) as server:
        server.stop(sig=signal.SIGTERM)  # fails unless the exit code is 0


@pytest.mark.slow
def test_corrupt_cached_model_is_reported_retrained_and_reused(cache_dir):
    cache_dir.mkdir()
    cached = cache_dir / default_model.FILENAME
    cached.write_bytes(os.urandom(5000))  # garbage where the model should be
    quick = {default_model.QUICK_ENV: "1"}
    # no model, training allowed: the server prints its URL and answers at once, and is ready once trained
    with ServerProcess(cache_dir=cache_dir, no_train=False, env=quick, start_timeout=300) as server:
        _, status = server.get("/api/status")
        assert status["model"]["source"] == "default" and status["model"]["params"] == 542_230
        assert status["training"] is None
    assert f"cached model {cached} is corrupt (" in server.output and "retraining" in server.output
    assert "saved the model to" in server.output
    default_model.load_cached(cached, min_accuracy=0.5)  # the file is a good model now
    assert sorted(p.name for p in cache_dir.iterdir()) == [default_model.FILENAME]
    # the next start reuses it, even with --no-train
    with ServerProcess(cache_dir=cache_dir, env=quick) as server:
        pass  # ready: entering waited for it
    assert "using the cached model" in server.output, server.output


# --------------------------------------------------------------------------- a real Keras model (TensorFlow)
@pytest.mark.slow
@pytest.mark.tf
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")  # Keras' own, as test_vgg
def test_keras_slot_loads_a_keras_file_and_predicts_as_vgg(tmp_path):
    pytest.importorskip("tensorflow")
    import keras

    from convlab.bridge import vgg
    from convlab.web.images import decode_upload

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((20, 16, 3)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(), keras.layers.Dense(3, "softmax")]
    )
    path = vgg.save_model(model, tmp_path / "tiny.keras", class_names=["cat", "dog", "bird"])
    slot = KerasSlot(path)
    assert slot.status()["state"] == "loading"
    slot.start_loading().join(timeout=120)
    status = slot.status()
    assert status["available"] and status["classes"] == ["cat", "dog", "bird"] and status["input_shape"] == [20, 16, 3]
    from PIL import Image

    photo = np.random.default_rng(0).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    data = (tmp_path / "photo.png").read_bytes()
    body = slot.predict(decode_upload(data))
    expected = vgg.predict_image(slot.model, tmp_path / "photo.png", ["cat", "dog", "bird"], verbose=False)
    assert [t["class"] for t in body["top"]] == [name for name, _ in expected]
    np.testing.assert_allclose([t["probability"] for t in body["top"]], [p for _, p in expected], rtol=1e-6)
    assert photo_for(decode_upload(data), (20, 16, 3)).shape == (20, 16, 3)
    # --classes overrides the saved names, and must fit
    assert KerasSlot(path, ["a", "b", "c"]).load() is not None
    bad = KerasSlot(path, ["a", "b"])
    assert bad.load() is None and "--classes" in bad.status()["message"]
