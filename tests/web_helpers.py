"""Shared pieces of the web explorer's real-world tests (``test_web_browser.py``, ``test_web_load.py``,
``test_web_serve.py``).

- Small models made here: :func:`digit_model_file` (trained on the MNIST-5k protocol, good enough to read
  hand-drawn digits after the explorer's MNIST preprocessing) and :func:`second_model_file` (two conv blocks
  on 32×32×3, five classes), each made once per process in :func:`model_folder` (the test modules wrap
  them in session fixtures; a fixture imported from here would be registered once per importing module).
- :class:`ServerProcess`: ``python -m convlab serve`` in a subprocess on a free port of 127.0.0.1, with its
  own model cache folder (``--no-train`` with given models by default; training the default model on request);
  stopped with SIGINT (Ctrl-C) or another signal, which must exit with code 0.
- Digits as a person draws them: :data:`DIGIT_STROKES` (polylines in the 280×280 canvas' pixels),
  :func:`stroke_points` (many small steps with a slight wobble), :func:`draw_strokes` (Selenium pointer
  actions on a canvas) and :func:`render_strokes` (the same strokes as the canvas' pixel payload, in NumPy).
- :func:`require_browser` / :func:`make_driver`: Debian's Chromium and chromedriver through Selenium, given
  explicit paths (Selenium would otherwise try to download a driver, which fails offline).

Tests import these names (``from web_helpers import ...``): pytest puts ``tests/`` on ``sys.path`` (no
``__init__.py`` there, "prepend" import mode), as for ``strategies.py``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Debian's packages (`apt-get install chromium chromium-driver`); other systems name their own paths
CHROMIUM = os.environ.get("CONVLAB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONVLAB_CHROMEDRIVER", "/usr/bin/chromedriver")
CANVAS_SIZE = 280  # the Digits page's drawing canvas (#draw), in canvas pixels
BRUSH_WIDTH = 18  # its stroke width (round caps), as the page draws
SECOND_CLASSES = ("a", "b", "c", "d", "e")

# --------------------------------------------------------------------------- models

_MODELS: dict[str, Path] = {}  # name -> file, made once per test process
_MODELS_LOCK = threading.Lock()


def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder per test session for the models made here."""
    folder = tmp_path_factory.getbasetemp() / "web-models"
    folder.mkdir(exist_ok=True)
    return folder


def digit_model_file(folder: Path) -> Path:
    """A small MNIST CNN saved as ``folder/digits.npz`` (made once per process; later calls return the file).

    Architecture: Input 28×28×1 → Conv2D(16, 3, relu) → MaxPool2D(2) → Flatten → Dense(64, relu) →
    Dense(10, softmax) (173,930 parameters), trained with the MNIST-5k protocol of the default model
    (``load_mnist()``, ``train_test_split(test_size=1000, seed=0)``, /255, ``set_seed(0)``, Adam, batch 32) for
    5 epochs: about 3 s on 2 cores and ~93 % on the 1,000 held-out digits. Smaller variants (8 filters, no
    hidden Dense layer, 4 epochs) reached ~90 % and read the hand-drawn 1s less surely. It is not the default
    model (seeds/004's, 542,230 parameters) only to keep the tests quick; the page code is the same.

    Returns:
        the ``.npz`` path (``Sequential.save``'s format).
    """
    with _MODELS_LOCK:
        if "digits" in _MODELS and _MODELS["digits"].is_file():
            return _MODELS["digits"]
        import convlab
        from convlab.datasets import load_mnist, train_test_split
        from convlab.layers import Conv2D, Dense, Flatten, MaxPool2D

        x, y = load_mnist()
        (x_train, y_train), _ = train_test_split(x, y, test_size=1000, seed=0)
        x_train = (x_train.astype(np.float32) / 255.0)[..., None]
        convlab.set_seed(0)
        model = convlab.Sequential(
            [
                Conv2D(16, 3, activation="relu", input_shape=(28, 28, 1)),
                MaxPool2D(2),
                Flatten(),
                Dense(64, activation="relu"),
                Dense(10, activation="softmax"),
            ]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=0)
        path = folder / "digits.npz"
        model.save(path)
        _MODELS["digits"] = path
        return path


def second_model_file(folder: Path) -> Path:
    """A second, different architecture for the "any model" checks, saved as ``folder/second.npz``.

    Input 32×32×3 → Conv2D(6, 3, relu) → MaxPool2D(2) → Conv2D(8, 3, relu, padding="same") →
    MaxPool2D(2) → Flatten → Dense(5, softmax): two conv blocks, colour input, a padded convolution and five
    classes (:data:`SECOND_CLASSES`, given with ``--classes``). Trained for one epoch on 64 random images so
    that the biases are not all zero (a zero bias would hide a bias left out of an explanation).
    """
    with _MODELS_LOCK:
        if "second" in _MODELS and _MODELS["second"].is_file():
            return _MODELS["second"]
        import convlab
        from convlab.layers import Conv2D, Dense, Flatten, MaxPool2D

        convlab.set_seed(1)
        model = convlab.Sequential(
            [
                Conv2D(6, 3, activation="relu", input_shape=(32, 32, 3)),
                MaxPool2D(2),
                Conv2D(8, 3, activation="relu", padding="same"),
                MaxPool2D(2),
                Flatten(),
                Dense(len(SECOND_CLASSES), activation="softmax"),
            ]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(1)
        x = rng.random((64, 32, 32, 3), dtype=np.float32)
        y = rng.integers(0, len(SECOND_CLASSES), 64)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        path = folder / "second.npz"
        model.save(path)
        _MODELS["second"] = path
        return path


# --------------------------------------------------------------------------- the server in a subprocess

_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)")


class ServerError(AssertionError):
    """The server did not start, did not become ready or did not stop cleanly (its output is in the message)."""


class ServerProcess:
    """``python -m convlab serve --host 127.0.0.1 --port 0 [--no-train] [--model M]... [--classes ...] [EXTRA]``.

    ``--no-train`` is there unless ``no_train=False`` (then, with no ``.npz`` model given, the server trains
    the default model in the background and says ``ready`` once it is trained); ``host=None`` leaves ``--host``
    out (the command's default). The port is chosen by the OS (``--port 0``) and read back from the URL the
    server prints. The server gets its own ``CONVLAB_CACHE_DIR`` (so a test never reads or writes the user's
    cached model; the folder is not created here, so a test can check the server left it alone) and this
    checkout on ``PYTHONPATH`` (the subprocess runs the code under test even where the editable install points
    elsewhere); ``env`` adds or overrides variables after those (e.g. ``CONVLAB_EXPLORER_QUICK=1``).

    Use as a context manager: ``with ServerProcess(model, cache_dir=tmp) as server: server.get("/api/status")``.
    Entering starts the server and waits, ``start_timeout`` seconds in all, for its URL and then for
    ``/api/status`` to say ``ready``. Leaving the block sends SIGINT (what Ctrl-C sends) and fails unless the
    server exits with code 0 within ``stop_timeout`` seconds (it is killed then); a test that stops it itself
    (:meth:`stop`, e.g. with SIGTERM) gets that exit checked instead. Every line the server printed (stdout and
    stderr merged) is kept in :attr:`lines`, also after it stopped.

    Raises:
        ServerError: the process exited early, printed no URL within ``start_timeout`` seconds, or
            ``/api/status`` did not say ``ready`` in time (the message quotes the server's output).
    """

    def __init__(
        self,
        *models: str | os.PathLike,
        cache_dir: str | os.PathLike,
        classes: Sequence[str] | None = None,
        extra_args: Sequence[str] = (),
        no_train: bool = True,
        host: str | None = "127.0.0.1",
        env: Mapping[str, str] | None = None,
        start_timeout: float = 120.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.models = [Path(m) for m in models]
        self.cache_dir = Path(cache_dir)
        self.classes = list(classes) if classes else None
        self.extra_args = list(extra_args)
        self.no_train = no_train
        self.host = host
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.lines: list[str] = []
        self.url: str | None = None
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._url_seen = threading.Event()
        self.returncode: int | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "convlab", "serve"]
        if self.host is not None:
            cmd += ["--host", self.host]
        cmd += ["--port", "0"]
        if self.no_train:
            cmd.append("--no-train")
        for m in self.models:
            cmd += ["--model", str(m)]
        if self.classes:
            cmd += ["--classes", ",".join(self.classes)]
        return cmd + self.extra_args

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server is not started"
        return self.proc.pid

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.url is None:
                m = _URL.search(line)
                if m and int(m.group(1)) != 0:
                    self.url = f"http://127.0.0.1:{m.group(1)}"
                    self._url_seen.set()

    def _fail(self, what: str) -> ServerError:
        return ServerError(f"{what}\ncommand: {' '.join(self.command)}\nserver output:\n{self.output or '(none)'}")

    def start(self) -> ServerProcess:
        """Start the server and wait until it is ready (see the class); returns ``self``."""
        env = dict(os.environ)
        env["CONVLAB_CACHE_DIR"] = str(self.cache_dir)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env["PYTHONUNBUFFERED"] = "1"  # the URL line must arrive while the server runs, not at exit
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.update(self.env)
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            cwd=REPO_ROOT,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, name="server-output", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._url_seen.wait(0.1):
            if self.proc.poll() is not None:
                self._finish()
                raise self._fail(f"the server exited with code {self.proc.returncode} before printing its URL")
            if time.monotonic() > deadline:
                self.kill()
                raise self._fail(f"the server printed no http://127.0.0.1:PORT URL within {self.start_timeout:.0f} s")
        while True:
            try:
                status, body = self.get("/api/status", timeout=5)
                if status == 200 and body.get("ready"):
                    return self
            except OSError:
                pass  # not accepting yet
            if self.proc.poll() is not None:
                self._finish()
                raise self._fail(f"the server exited with code {self.proc.returncode} before it was ready")
            if time.monotonic() > deadline:
                self.kill()
                raise self._fail(f"/api/status did not say ready within {self.start_timeout:.0f} s")
            time.sleep(0.2)

    def _finish(self) -> None:
        assert self.proc is not None
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.returncode = self.proc.returncode

    def kill(self) -> None:
        """Kill the process (no clean exit expected) and collect it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if self.proc is not None:
            self._finish()

    def stop(self, check: bool = True, *, sig: signal.Signals = signal.SIGINT) -> int:
        """Send ``sig`` (SIGINT, what Ctrl-C sends, by default) unless the server has exited, and wait; with
        ``check``, fail unless the exit code is 0. Returns the code. Calling it again only checks the code."""
        assert self.proc is not None, "the server is not started"
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                if check:
                    raise self._fail(
                        f"the server did not exit within {self.stop_timeout:.0f} s of {sig.name}"
                    ) from None
        self._finish()
        if check and self.proc.returncode != 0:
            raise self._fail(f"the server exited with code {self.proc.returncode} after {sig.name}, expected 0")
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        # a failing test still stops the server; its own error is the one to see
        self.stop(check=exc_type is None)

    # ------------------------------------------------------------------ requests
    def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        """One HTTP request; returns ``(status, parsed JSON body, or the text when it is not JSON)``.

        Keywords as :meth:`request_with_headers`. 4xx/5xx answers are returned, not raised. Raises ``OSError``
        (``URLError``, timeouts) when the server does not answer.
        """
        status, _, body = self.request_with_headers(method, path, **kw)
        return status, body

    def request_with_headers(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], Any]:
        """As :meth:`request`, with the answer's headers: ``(status, headers, body)``.

        ``json_body`` is sent as JSON (with its ``Content-Type``), else ``data`` as it is; ``timeout`` in seconds.
        """
        assert self.url is not None, "the server is not started"
        headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, answer_headers, raw = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            with err:
                status, answer_headers, raw = err.code, dict(err.headers), err.read()
        try:
            return status, answer_headers, json.loads(raw)
        except ValueError:
            return status, answer_headers, raw.decode("utf-8", "replace")

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return self.request("POST", path, json_body=body, **kw)

    def post_file(self, path: str, field: str, filename: str, content: bytes, **kw: Any) -> tuple[int, Any]:
        """A multipart/form-data POST with one file field, as a browser's form upload sends it."""
        boundary = "convlab-test-boundary-7d1f"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self.request("POST", path, data=body, headers=headers, **kw)


# --------------------------------------------------------------------------- digits as a person draws them

# Polylines in the 280×280 canvas' pixel coordinates (x right, y down), one list per pen-down stroke.
DIGIT_STROKES: dict[str, list[list[tuple[float, float]]]] = {
    # a slightly slanted vertical stroke with a small flag at the top, drawn in one go
    "1": [[(134, 68), (152, 48), (146, 110), (138, 180), (132, 236)]],
    # a horizontal top bar, then the diagonal down to the left, without lifting the pen
    "7": [[(82, 62), (140, 60), (202, 58), (170, 120), (140, 180), (118, 238)]],
    # an oval, counter-clockwise from the top, closing on itself
    "0": [[(140 - 58 * np.sin(t), 140 - 92 * np.cos(t)) for t in np.linspace(0, 2 * np.pi * 1.04, 40)]],
    # an open 4: down-left diagonal, across; then the vertical stroke on its own
    "4": [[(158, 46), (112, 118), (78, 170), (150, 170), (212, 170)], [(172, 80), (170, 160), (168, 240)]],
}


def stroke_points(polyline: Sequence[tuple[float, float]], step: float = 4.0, wobble: float = 0.6, seed: int = 0):
    """The polyline resampled every ``step`` pixels with a small seeded wobble, as integer canvas pixels.

    A hand moves in many small steps; Selenium sends one pointer event per move, so a long move would leave
    two dots on the canvas instead of a line (DESIGN.md, "Testing a page in a real browser").
    """
    rng = np.random.default_rng(seed)
    pts = np.asarray(polyline, dtype=np.float64)
    out = [pts[0]]
    for a, b in zip(pts[:-1], pts[1:]):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        for i in range(1, n + 1):
            out.append(a + (b - a) * i / n + rng.normal(0.0, wobble, 2))
    arr = np.clip(np.rint(np.array(out)), 1, CANVAS_SIZE - 2).astype(int)
    # drop repeats: a zero-length move is no movement
    keep = np.r_[True, np.any(np.diff(arr, axis=0) != 0, axis=1)]
    return [(int(x), int(y)) for x, y in arr[keep]]


def render_strokes(strokes: Iterable[Sequence[tuple[float, float]]], size: int = CANVAS_SIZE) -> np.ndarray:
    """The strokes as the page's canvas holds them: (size, size) uint8 ink, 255 on 0, round brush of
    :data:`BRUSH_WIDTH` (no anti-aliasing; the page's is, the network does not care)."""
    yy, xx = np.mgrid[0:size, 0:size]
    ink = np.zeros((size, size), dtype=bool)
    r2 = (BRUSH_WIDTH / 2) ** 2
    for k, stroke in enumerate(strokes):
        for x, y in stroke_points(stroke, seed=k):
            ink |= (xx - x) ** 2 + (yy - y) ** 2 <= r2
    return np.where(ink, 255, 0).astype(np.uint8)


def canvas_payload(image: np.ndarray) -> dict[str, Any]:
    """``{"width", "height", "pixels"}`` as the Digits page posts it (pixels = base64 of the uint8 ink)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = image.shape
    return {"width": int(w), "height": int(h), "pixels": base64.b64encode(image.tobytes()).decode("ascii")}


# --------------------------------------------------------------------------- the browser


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when Chromium, chromedriver and Selenium are present."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        return (
            f"{' and '.join(missing)} not found: install Debian's browser and driver with "
            "`apt-get install -y chromium chromium-driver` (or point CONVLAB_CHROMIUM / CONVLAB_CHROMEDRIVER at them)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return 'selenium is not installed: `pip install -e ".[test]"`'
    return None


def require_browser() -> None:
    """Skip with the reason when the browser is missing; fail instead when ``CONVLAB_REQUIRE_BROWSER=1``
    (CI sets it, so the browser tests cannot skip there without anyone noticing)."""
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("CONVLAB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CONVLAB_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}")
    pytest.skip(reason)


def make_driver(width: int = 1280, height: int = 900):
    """Headless Chromium through chromedriver at a ``width``×``height`` window, console messages logged.

    Explicit binary and driver paths (no Selenium Manager download), ``--headless=new`` and ``--no-sandbox``
    (root in a container) as DESIGN.md's browser notes say.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(width, height)
    driver.set_page_load_timeout(60)
    return driver


_RECT_JS = """
const el = arguments[0], content = arguments[1];
el.scrollIntoView({block: 'center', inline: 'center'});
const r = el.getBoundingClientRect();
if (!content) return {x: r.left, y: r.top, width: r.width, height: r.height};
const s = getComputedStyle(el), px = (v) => parseFloat(v) || 0;
const left = px(s.borderLeftWidth) + px(s.paddingLeft), top = px(s.borderTopWidth) + px(s.paddingTop);
return {x: r.left + left, y: r.top + top,
        width: r.width - left - px(s.borderRightWidth) - px(s.paddingRight),
        height: r.height - top - px(s.borderBottomWidth) - px(s.paddingBottom)};
"""


def viewport_rect(driver, element, *, content: bool = False) -> dict[str, float]:
    """The element's box in CSS pixels, viewport coordinates, after scrolling it into view: the border box
    (``getBoundingClientRect()``), or with ``content`` the box inside its border and padding (where a
    canvas' pixels are drawn)."""
    return driver.execute_script(_RECT_JS, element, content)


def draw_strokes(driver, canvas, strokes, *, pointer: str = "mouse", seed: int = 0) -> int:
    """Draw ``strokes`` (canvas-pixel polylines) on ``canvas`` with W3C pointer actions, as a hand would.

    Each stroke: move to its start, press, many moves of a few pixels (:func:`stroke_points`), release.
    ``pointer`` is ``"mouse"``, ``"pen"`` or ``"touch"``. Coordinates are scaled from the canvas' own size
    (its ``width`` attribute) to its border box on the page, as the Digits page maps pointer positions back.
    Returns the number of pointer moves sent.
    """
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    kinds = {"mouse": interaction.POINTER_MOUSE, "pen": interaction.POINTER_PEN, "touch": interaction.POINTER_TOUCH}
    rect = viewport_rect(driver, canvas)
    own_w = float(canvas.get_attribute("width") or CANVAS_SIZE)
    own_h = float(canvas.get_attribute("height") or CANVAS_SIZE)
    sx, sy = rect["width"] / own_w, rect["height"] / own_h
    moves = 0
    for k, stroke in enumerate(strokes):
        # a fresh input source per stroke: a touch pointer is a new finger each time
        builder = ActionBuilder(driver, mouse=PointerInput(kinds[pointer], f"{pointer}-{k}"), duration=10)
        pts = stroke_points(stroke, seed=seed + k)
        x0, y0 = pts[0]
        builder.pointer_action.move_to_location(int(rect["x"] + x0 * sx), int(rect["y"] + y0 * sy))
        builder.pointer_action.pointer_down()
        for x, y in pts[1:]:
            builder.pointer_action.move_to_location(int(rect["x"] + x * sx), int(rect["y"] + y * sy))
            moves += 1
        builder.pointer_action.pointer_up()
        builder.perform()
    return moves


def click_at(driver, element, fx: float, fy: float) -> None:
    """Click inside ``element`` at fractions ``(fx, fy)`` of its content box (0 = left/top, 1 = right/bottom)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    rect = viewport_rect(driver, element, content=True)
    builder = ActionBuilder(driver, duration=10)
    builder.pointer_action.move_to_location(int(rect["x"] + fx * rect["width"]), int(rect["y"] + fy * rect["height"]))
    builder.pointer_action.click()
    builder.perform()


def click_cell(driver, element, row: int, col: int, rows: int, cols: int) -> None:
    """Click the centre of cell ``(row, col)`` of an element drawn as a ``rows``×``cols`` grid (a feature map)."""
    click_at(driver, element, (col + 0.5) / cols, (row + 0.5) / rows)


def console_errors(driver, allow: Sequence[str] = ()) -> list[str]:
    """The browser console's SEVERE entries since the last call, except those containing a string of ``allow``
    (e.g. the network log line of a 4xx answer a test provoked on purpose)."""
    entries = driver.get_log("browser")
    return [e["message"] for e in entries if e.get("level") == "SEVERE" and not any(a in e["message"] for a in allow)]


def screenshot_dir(default: Path) -> Path:
    """The folder for screenshots and the drawn-digit record: env ``CONVLAB_SCREENSHOTS``, else ``default``."""
    folder = Path(os.environ.get("CONVLAB_SCREENSHOTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
