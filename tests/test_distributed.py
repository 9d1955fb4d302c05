"""convlab.vgg on TensorFlow's distribution engine: two worker processes train exactly as one process.

Two processes on 127.0.0.1, each with its own ``TF_CONFIG`` (the same cluster, task index 0 and 1),
run this file as a script: ``vgg.distribution_strategy("auto", communication="ring")``, which finds
the cluster in ``TF_CONFIG`` (a ``MultiWorkerMirroredStrategy``; ring all-reduce over gRPC works on
CPUs), a transfer-style model built under it (a tiny frozen convolutional base, a trainable Dense
head), then ``vgg.train`` on the same 40 images (32 to train on, 8 to validate) with a global batch
of 8: each worker takes 4 images of every batch. A third process trains the same model without
distribution (same initial weights from one file, same seed, same order, batch 8). The gradients of
the two halves, averaged by the all-reduce, are the gradient of the whole batch, so every weight
must end where the single process's ends, and the training and validation losses must agree, up to
float rounding.

All three run on the CPU (``CUDA_VISIBLE_DEVICES=-1``): a GPU's TF32 matrix products would round
differently from the CPU's. They share one deadline and are killed if the test fails.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

N_IMAGES, SIZE, CLASSES = 40, 32, 2  # 32×32: transfer_model's smallest input (VGG16's five pools)
VALIDATION = 0.2  # 4 images of each class: 32 to train on, 8 to validate
GLOBAL_BATCH, EPOCHS, LEARNING_RATE = 8, 2, 0.1
STEPS = EPOCHS * 32 // GLOBAL_BATCH  # optimizer steps, on every worker and in the single process
WORKERS = 2
DEADLINE_S = 110  # the three processes together; on 2 busy CPU cores they take about 30 s
RTOL, ATOL = 1e-5, 1e-6
# Keras' own TF tensors trip NumPy 2's copy-keyword deprecation; not ours to fix.
pytestmark = [
    pytest.mark.tf,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]


# ------------------------------------------------------------------ what the child processes run
def build_model(strategy):
    """vgg.transfer_model on a tiny base: Conv2D(4, 3×3, stride 2) → 2×2 max pool → 7·7·4 = 196 features,
    then Dense(8, relu) → Dense(2, softmax); only the head trains (1,594 weights)."""
    import keras

    from convlab import vgg

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        base = keras.Sequential(
            [
                keras.Input((SIZE, SIZE, 3)),
                keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="base_conv"),
                keras.layers.MaxPooling2D(2, name="base_pool"),
            ],
            name="tiny_base",
        )
    return vgg.transfer_model(
        CLASSES,
        base=base,
        input_shape=(SIZE, SIZE, 3),
        head=(8,),
        dropout=0.0,
        strategy=strategy,
        mixed_precision=False,
    )


def train(strategy, workdir: Path, batch_size: int = GLOBAL_BATCH):
    """Load the shared initial weights and images, run vgg.train; return (weights, [training loss, validation
    loss] per epoch, steps run)."""
    import keras
    import tensorflow as tf

    from convlab import vgg
    from convlab.images import ImageSet

    model = build_model(strategy)
    vgg.load_weights(model, workdir / "initial.weights.h5")
    with np.load(workdir / "data.npz") as f:
        data = ImageSet(f["images"], f["labels"], ("a", "b"))
    steps = []

    class CountSteps(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append(batch)

    result = vgg.train(
        model,
        data,
        epochs=EPOCHS,
        batch_size=batch_size,
        validation_split=VALIDATION,
        test_split=0.0,
        augment=False,
        optimizer="sgd",  # made inside the strategy's scope, as TensorFlow requires
        learning_rate=LEARNING_RATE,
        callbacks=[CountSteps()],
        verbose=0,
    )
    # vgg.train's workaround for Keras under several workers is undone: the model is as it was.
    assert "train_step" not in vars(model) and model.distribute_strategy is (strategy or tf.distribute.get_strategy())
    weights = [np.asarray(w) for w in model.get_weights()]
    losses = np.asarray([result.history.history["loss"], result.history.history["val_loss"]])
    return weights, losses, len(steps)


def _save(path, weights, losses, steps):
    np.savez(path, *weights, losses=losses, steps=steps)


def _load(path):
    with np.load(path) as f:
        weights = [f[f"arr_{i}"] for i in range(len(f.files) - 2)]
        return weights, f["losses"], int(f["steps"])


def main(role: str, workdir: Path) -> None:
    """One child process: ``worker`` (a MultiWorkerMirroredStrategy task under TF_CONFIG) or ``single``."""
    from convlab import vgg

    # The strategy first: TensorFlow sets up its collective operations once, before its runtime starts.
    # "auto" finds the cluster in TF_CONFIG; ring all-reduce (gRPC) is the one that works between CPUs.
    if role == "worker":
        strategy = vgg.distribution_strategy("auto", communication="ring")
    else:
        strategy = vgg.distribution_strategy("auto")
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    if role == "worker":
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), strategy
        assert strategy.num_replicas_in_sync == WORKERS, strategy.num_replicas_in_sync
        _save(workdir / f"worker{index}.npz", *train(strategy, workdir))
    else:
        assert strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1
        _save(workdir / "single.npz", *train(strategy, workdir))
        # What two workers would compute if each took the whole data set instead of its slice: the
        # global batch would be split into halves of 4 but never sharded, i.e. batch 4 and twice the steps.
        _save(workdir / "unsharded.npz", *train(strategy, workdir, batch_size=GLOBAL_BATCH // WORKERS))


# ------------------------------------------------------------------ the test
def _free_ports(n):
    """``n`` distinct free TCP ports on 127.0.0.1 (bound to port 0 together, released for the workers)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def _tail(path, n=3000):
    text = path.read_text(errors="replace") if path.exists() else "(no output)"
    return text[-n:]


@pytest.mark.slow
def test_two_workers_train_exactly_as_one_process(tmp_path):
    import keras

    from convlab import vgg

    rng = np.random.default_rng(17)
    labels = np.repeat(np.arange(CLASSES), N_IMAGES // CLASSES)
    images = rng.integers(0, 256, (N_IMAGES, SIZE, SIZE, 3), dtype=np.uint8)
    images[labels == 1, : SIZE // 2] //= 2  # something to learn: class b is darker at the top
    np.savez(tmp_path / "data.npz", images=images, labels=labels)
    keras.utils.set_random_seed(17)
    initial = build_model(None)
    vgg.save_model(initial, tmp_path / "initial.weights.h5")
    initial_weights = [np.asarray(w) for w in initial.get_weights()]

    ports = _free_ports(WORKERS)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    roles = [("single", None)] + [("worker", i) for i in range(WORKERS)]
    procs, logs = [], []
    start = time.monotonic()
    try:
        for role, index in roles:
            child_env = dict(env)
            if role == "worker":
                child_env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            log = tmp_path / f"{role}{'' if index is None else index}.log"
            logs.append(log)
            with open(log, "wb") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, __file__, role, str(tmp_path)],
                        env=child_env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
        # Poll them all: a worker that fails leaves the other waiting for it, so the first failure ends the test.
        while True:
            codes = [proc.poll() for proc in procs]
            for code, log in zip(codes, logs):
                if code not in (None, 0):
                    pytest.fail(f"{log.stem} exited with {code}; its output:\n{_tail(log)}")
            if all(code == 0 for code in codes):
                break
            if time.monotonic() - start > DEADLINE_S:
                late = [log for code, log in zip(codes, logs) if code is None]
                pytest.fail(
                    f"{', '.join(log.stem for log in late)} still running after {DEADLINE_S} s:\n{_tail(late[0])}"
                )
            time.sleep(0.2)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    elapsed = time.monotonic() - start

    single, single_losses, single_steps = _load(tmp_path / "single.npz")
    unsharded, _, unsharded_steps = _load(tmp_path / "unsharded.npz")
    assert single_steps == STEPS and unsharded_steps == 2 * STEPS
    diffs, loss_diffs, per_worker = [], [], []
    for i in range(WORKERS):
        weights, losses, steps = _load(tmp_path / f"worker{i}.npz")
        assert steps == STEPS, f"worker {i} ran {steps} steps, one process {STEPS}: the global batch was not split"
        for w, s, name in zip(weights, single, (w.path for w in initial.weights)):
            np.testing.assert_allclose(w, s, rtol=RTOL, atol=ATOL, err_msg=f"worker {i}, {name}")
            diffs.append(float(np.max(np.abs(w - s))))
        np.testing.assert_allclose(losses, single_losses, rtol=RTOL, err_msg=f"worker {i}'s losses per epoch")
        loss_diffs.append(float(np.max(np.abs(losses - single_losses))))
        per_worker.append(weights)
    # The check has teeth: training moved the head far more than the tolerance, and so does a wrong split.
    moved = max(float(np.max(np.abs(s - w0))) for s, w0 in zip(single, initial_weights))
    wrong = max(float(np.max(np.abs(s - u))) for s, u in zip(single, unsharded))
    assert moved > 1e3 * ATOL and wrong > 1e3 * ATOL, (moved, wrong)
    # Only the head trains: the frozen base is bit for bit its initial value everywhere.
    for weights in [single] + per_worker:
        for w, w0 in zip(weights[:2], initial_weights[:2]):
            np.testing.assert_array_equal(w, w0)
    print(
        f"max |Δ| worker vs single: weights {max(diffs):.2e}, losses {max(loss_diffs):.2e}; "
        f"trained by {moved:.2e}; wrong split off by {wrong:.2e}; {elapsed:.1f} s"
    )


# ------------------------------------------------------------------ distribution_strategy in this process
def test_distribution_strategy_rejects_bad_arguments(monkeypatch):
    from convlab import vgg

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="kind must be one of"):
        vgg.distribution_strategy("tpu")
    with pytest.raises(ValueError, match="communication must be None or one of"):
        vgg.distribution_strategy("multi_worker", communication="mpi")
    with pytest.raises(ValueError, match=r"communication applies to kind='multi_worker' only, got kind='auto' \(here"):
        vgg.distribution_strategy(communication="ring")  # no cluster: auto is not multi-worker here
    with pytest.raises(ValueError, match="devices applies to kind='mirrored' only"):
        vgg.distribution_strategy("default", devices=["/cpu:0"])
    for bad in ("{not json", '{"task": {"type": "worker", "index": 0}}', "[1, 2]"):
        monkeypatch.setenv("TF_CONFIG", bad)
        with pytest.raises(ValueError, match="TF_CONFIG"):
            vgg.distribution_strategy()  # found before any strategy is made


def test_distribution_strategy_default_and_mirrored(monkeypatch, tmp_path):
    """Without a cluster "auto" is TensorFlow's default strategy (one GPU or the CPU). A model built under
    "mirrored" on one device trains as the plain model does.

    One batch holds the whole set: under a strategy Keras draws a batch before training, which moves
    ``vgg.train``'s reshuffled order on by one epoch; the mean gradient of the whole set does not
    depend on the order."""
    import keras
    import tensorflow as tf

    from convlab import vgg

    monkeypatch.delenv("TF_CONFIG", raising=False)
    if len(tf.config.list_physical_devices("GPU")) < 2:
        assert vgg.distribution_strategy() is tf.distribute.get_strategy()
    assert vgg.distribution_strategy("default") is tf.distribute.get_strategy()
    mirrored = vgg.distribution_strategy("mirrored", devices=["/cpu:0"])
    assert isinstance(mirrored, tf.distribute.MirroredStrategy) and mirrored.num_replicas_in_sync == 1
    n = 16
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(CLASSES), n // CLASSES)
    np.savez(tmp_path / "data.npz", images=rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8), labels=labels)
    keras.utils.set_random_seed(3)
    vgg.save_model(build_model(None), tmp_path / "initial.weights.h5")
    with tf.device("/cpu:0"):
        plain, plain_losses, _ = train(None, tmp_path, batch_size=n)
        weights, losses, steps = train(mirrored, tmp_path, batch_size=n)
    assert steps == EPOCHS  # one batch of 12 training images per epoch, 4 to validate
    for w, p in zip(weights, plain):
        np.testing.assert_allclose(w, p, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(losses, plain_losses, rtol=RTOL)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
