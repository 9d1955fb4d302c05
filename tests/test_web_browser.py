"""The web explorer in a real browser: Debian's headless Chromium driven by Selenium, against ``convlab serve``.

The server runs in a subprocess on a free port of 127.0.0.1 with a small model trained here
(``web_helpers.digit_model_file``). Digits are drawn on ``#draw`` as a person draws them (pointer strokes of
many small moves, with mouse, pen and touch pointers) and the top prediction must be the digit drawn; the
drawings and the predictions they got are printed and written to ``digits.json`` next to the screenshots.
On "Inside the network" a feature-map pixel, a pooled pixel and a dense unit are clicked and their explanations
must agree with ``/api/layers``; the arithmetic page must show the engine's numbers and errors; "Your model"
classifies a photo with a tiny Keras model (TensorFlow only); a second architecture (two conv blocks on
32×32×3) is served and explained too. No page may log a JavaScript error (SEVERE console entries).

Screenshots (``digits.png``, ``inside.png``, ``arithmetic.png``, ``model.png`` and a few more) go to the folder
in env ``CONVLAB_SCREENSHOTS``, else to a pytest temporary folder (printed). The tests skip with the reason
when Chromium, chromedriver or Selenium are missing, and fail instead when ``CONVLAB_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from web_helpers import (
    DIGIT_STROKES,
    SECOND_CLASSES,
    ServerProcess,
    click_cell,
    console_errors,
    digit_model_file,
    draw_strokes,
    make_driver,
    model_folder,
    require_browser,
    screenshot_dir,
    second_model_file,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT = 60.0  # seconds for the page to show an answer (2 shared cores, a fresh server)
PREDICTION = re.compile(r"^\s*(\S+)\s*\((\d+(?:\.\d+)?)\s*%\)")
NUMBER = re.compile(r"[−-]?\d+(?:\.\d+)?(?:[eE][−+-]?\d+)?")
KERAS_CLASSES = ["cat", "coffee", "rocket"]
DRAWN: list[dict] = []  # the digits drawn and what the page predicted, for the report


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session", autouse=True)
def _browser_present():
    """Skip (or fail, with CONVLAB_REQUIRE_BROWSER=1) before any model is trained or server started."""
    require_browser()


@pytest.fixture(scope="session")
def digit_model(tmp_path_factory) -> Path:
    return digit_model_file(model_folder(tmp_path_factory))


@pytest.fixture(scope="session")
def second_model(tmp_path_factory) -> Path:
    return second_model_file(model_folder(tmp_path_factory))


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = screenshot_dir(tmp_path_factory.mktemp("screenshots"))
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def driver():
    d = make_driver(1280, 900)
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture(scope="module")
def server(digit_model, tmp_path_factory):
    with ServerProcess(digit_model, cache_dir=tmp_path_factory.mktemp("cache")) as s:
        yield s


@pytest.fixture
def console_allow() -> list[str]:
    """Texts of console SEVERE entries the test provokes on purpose (a test appends to it)."""
    return []


@pytest.fixture(autouse=True)
def _no_console_errors(request, console_allow):
    """After each test: no JavaScript errors on the pages it visited. A 4xx answer the test provoked is logged
    by Chromium as "Failed to load resource"; the test lists such texts in ``console_allow``."""
    yield
    if "driver" not in request.fixturenames:
        return
    errors = console_errors(request.getfixturevalue("driver"), console_allow)
    assert not errors, "JavaScript console errors:\n" + "\n".join(errors)


# --------------------------------------------------------------------------- page helpers
def _by(css: str):
    from selenium.webdriver.common.by import By

    return (By.CSS_SELECTOR, css)


def find(driver, css: str):
    return driver.find_element(*_by(css))


def wait_for(driver, condition, what: str, timeout: float = WAIT):
    """Wait until ``condition(driver)`` is truthy and return it; on timeout fail with ``what`` and the page's
    #error text (where there is one)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    # the pages rebuild what they show (an explanation, the bars) when an answer arrives: an element found a
    # moment ago may be gone by the time it is read; look again
    ignored = (NoSuchElementException, StaleElementReferenceException)
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(condition)
    except TimeoutException:
        shown = driver.execute_script(
            "return [...document.querySelectorAll('.error')].map(e => e.id + ': ' + e.textContent.trim()).join('; ')"
        )
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (page errors: {shown or 'none'})")


def open_page(driver, url: str, ready_css: str) -> None:
    driver.get(url)
    wait_for(driver, lambda d: d.find_elements(*_by(ready_css)), f"{ready_css} on {url}")


def text(driver, css: str) -> str:
    return find(driver, css).text.strip()


def visible(driver, css: str) -> bool:
    els = driver.find_elements(*_by(css))
    return bool(els) and els[0].is_displayed()


def number_in(s: str) -> float:
    """The first number written in ``s`` (the pages write minus as "−" where the slides do)."""
    m = NUMBER.search(s)
    assert m, f"no number in {s!r}"
    return float(m.group(0).replace("−", "-"))


def close_to_shown(shown: str, value: float) -> bool:
    """``shown`` (a number as the page prints it) equals ``value`` to the digits printed."""
    m = NUMBER.search(shown)
    assert m, f"no number in {shown!r}"
    token = m.group(0).replace("−", "-")
    decimals = len(token.split(".")[1].split("e")[0].split("E")[0]) if "." in token else 0
    tol = 0.5 * 10.0**-decimals + 1e-6 * max(1.0, abs(value))
    if "e" in token.lower():  # scientific notation: relative to the mantissa's last digit
        tol = abs(float(token)) * 10.0**-decimals + 1e-12
    return abs(float(token) - value) <= tol


def canvas_ink_payload(driver, css: str = "#draw") -> dict:
    """The drawing canvas' red channel (the ink) as the page's own ``canvas`` payload."""
    pixels = driver.execute_script(
        """
        const c = document.querySelector(arguments[0]);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = '';
        for (let i = 0; i < d.length; i += 4) s += String.fromCharCode(d[i]);
        return [c.width, c.height, btoa(s)];
        """,
        css,
    )
    return {"width": pixels[0], "height": pixels[1], "pixels": pixels[2]}


def input_id_of_page(driver) -> str | None:
    href = find(driver, "#to-inside").get_attribute("href") or ""
    m = re.search(r"[?&]input=([0-9a-f]+)", href)
    return m.group(1) if m else None


def wait_prediction_for(driver, server, payload: dict) -> tuple[dict, str, float]:
    """Post the page's own canvas to the API, then wait until the page shows the prediction for that very
    input (its #to-inside link names the input id): the last answer, not one made while drawing.
    Returns (the API's answer, the class shown, the percentage shown)."""
    status, api = server.post("/api/predict", {"canvas": payload})
    assert status == 200, api
    want = api["input_id"]
    wait_for(
        driver,
        lambda d: input_id_of_page(d) == want and PREDICTION.match(text(d, "#prediction")),
        f"#prediction for input {want}",
    )
    m = PREDICTION.match(text(driver, "#prediction"))
    return api, m.group(1), float(m.group(2))


def shot(driver, path: Path, *, at: str | None = None) -> None:
    """Save a screenshot for the README: no focused field (no caret), scrolled to the top of the page, or
    with ``at`` (a CSS selector) to that element's top. Also checks that the page needs no horizontal scroll."""
    driver.execute_script(
        "if (document.activeElement) document.activeElement.blur();"
        "const el = arguments[0] && document.querySelector(arguments[0]);"
        "if (el) el.scrollIntoView({block: 'start'}); else window.scrollTo(0, 0);",
        at,
    )
    driver.save_screenshot(str(path))
    # the pages must fit 1280 px without a horizontal scroll bar (the brief's layout rule)
    wide = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")
    assert wide[0] <= wide[1], f"{path.name}: the page is {wide[0]} px wide in a {wide[1]} px window"


def seen_pixels(driver) -> np.ndarray:
    """#seen's 28×28 pixels (red channel, 0–255) as the page drew them."""
    data = driver.execute_script(
        """
        const c = document.getElementById('seen');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
        """
    )
    w = int(find(driver, "#seen").get_attribute("width"))
    return np.asarray(data, dtype=np.uint8).reshape(-1, w, 4)[..., 0]


# --------------------------------------------------------------------------- 1. Digits
@pytest.mark.parametrize("digit, pointer", [("1", "mouse"), ("7", "mouse"), ("0", "pen"), ("4", "touch")])
def test_draw_digit(driver, server, shots, digit, pointer):
    open_page(driver, server.url + "/", "#draw")
    find(driver, "#clear").click()
    moves = draw_strokes(driver, find(driver, "#draw"), DIGIT_STROKES[digit], pointer=pointer, seed=int(digit))
    payload = canvas_ink_payload(driver)
    ink = np.frombuffer(__import__("base64").b64decode(payload["pixels"]), np.uint8)
    assert (ink > 127).mean() > 0.02, f"the {pointer} strokes left almost no ink on #draw"
    api, shown, pct = wait_prediction_for(driver, server, payload)
    probs = api["probabilities"]
    top = int(np.argmax(probs))
    record = {
        "digit_drawn": digit,
        "pointer": pointer,
        "pointer_moves": moves,
        "prediction": shown,
        "probability_shown": f"{pct}%",
        "probability": round(float(probs[top]), 4),
        "second": api["classes"][int(np.argsort(probs)[-2])],
        "input_id": api["input_id"],
    }
    DRAWN[:] = [r for r in DRAWN if r["digit_drawn"] != digit] + [record]
    (shots / "digits.json").write_text(json.dumps(DRAWN, indent=1))
    print(f"\ndrew a {digit} with a {pointer} ({moves} moves): the page says {text(driver, '#prediction')}")
    shot(driver, shots / f"digits-{digit}.png")
    if digit == "7":
        shot(driver, shots / "digits.png")
    # the page shows the API's answer for the same canvas, rounded as printed
    assert shown == api["classes"][top]
    assert abs(pct - 100 * probs[top]) <= 0.051
    assert shown == digit, f"drew a {digit}, the page predicted {text(driver, '#prediction')}"
    # ten bars, the seen image is the network's input
    assert len(find(driver, "#bars").find_elements(*_by(":scope > *"))) >= 10
    seen = seen_pixels(driver)
    want = np.rint(np.asarray(api["input"], np.float64)[..., 0] * 255)
    assert seen.shape == want.shape
    assert np.abs(seen.astype(int) - want).max() <= 1, "#seen is not the 28×28 input the network saw"
    assert not visible(driver, "#error")


def test_real_test_digit(driver, server, shots):
    open_page(driver, server.url + "/", "#draw")
    before = input_id_of_page(driver)
    find(driver, "#sample").click()
    wait_for(
        driver,
        lambda d: input_id_of_page(d) not in (None, before) and PREDICTION.match(text(d, "#prediction")),
        "a prediction for a real test digit",
    )
    status, api = server.post("/api/predict", {"input_id": input_id_of_page(driver)})
    assert status == 200
    assert api["label"] is not None, "a test digit comes with its true label"
    m = PREDICTION.match(text(driver, "#prediction"))
    assert m.group(1) == api["classes"][api["top"]]
    print(f"\na real test digit (label {api['label']}): the page says {text(driver, '#prediction')}")
    seen = seen_pixels(driver)
    assert np.abs(seen.astype(int) - np.rint(np.asarray(api["input"])[..., 0] * 255)).max() <= 1


def test_bad_upload_shows_message_and_page_keeps_working(driver, server, shots, tmp_path, console_allow):
    console_allow.append("/api/predict - Failed to load resource")
    open_page(driver, server.url + "/", "#draw")
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"these are my notes, not a picture\n")
    find(driver, "#upload").send_keys(str(bad))
    wait_for(driver, lambda d: visible(d, "#error") and text(d, "#error"), "#error after a text-file upload")
    shown = text(driver, "#error")
    status, api = server.post_file("/api/predict", "image", "notes.txt", bad.read_bytes())
    assert 400 <= status < 500, api
    print(f"\nuploading a text file: #error says {shown!r} (the API: {status} {api['error']!r})")
    assert api["error"].split("\n")[0][:40] in shown, f"#error {shown!r} is not the server's message {api['error']!r}"
    assert "Traceback" not in shown and "<" not in shown
    shot(driver, shots / "digits-error.png")
    # the page still works: draw a 7
    find(driver, "#clear").click()
    draw_strokes(driver, find(driver, "#draw"), DIGIT_STROKES["7"])
    _, got, _ = wait_prediction_for(driver, server, canvas_ink_payload(driver))
    assert got == "7"
    wait_for(driver, lambda d: not visible(d, "#error"), "#error to hide after a good prediction", timeout=10)


# --------------------------------------------------------------------------- 2. Inside the network
def _layers(server, input_id: str) -> list[dict]:
    status, body = server.get(f"/api/layers?input={input_id}&format=list")
    assert status == 200, body
    return body["layers"]


def _explained(driver, what: str, title: str) -> tuple[str, str]:
    """Wait for the explanation whose #explain-title contains ``title`` (the one just clicked, not the last
    one) and return (#explained-value, #explain-check)."""
    wait_for(
        driver,
        lambda d: visible(d, "#explain-title") and title in text(d, "#explain-title") and text(d, "#explained-value"),
        f"the explanation of {what} (#explain-title with {title!r})",
    )
    return text(driver, "#explained-value"), text(driver, "#explain-check")


def _click_map_pixel(driver, layers, layer: int, pick: str = "max") -> tuple[int, int, int, float]:
    """Click one pixel of a feature map of ``layer``: the largest value over all its maps (a pixel the ReLU
    let through), or with ``pick="centre"`` the centre of the map with the largest centre. Returns
    (row, col, channel, the map value from /api/layers)."""
    values = np.asarray(layers[layer]["values"], np.float64)  # (H, W, C)
    h, w, c = values.shape
    if pick == "max":
        r, col, ch = np.unravel_index(int(np.argmax(values)), values.shape)
    else:
        r, col = h // 2, w // 2
        ch = int(np.argmax(values[r, col]))
    fmap = find(driver, f'.fmap[data-layer="{layer}"][data-channel="{ch}"]')
    click_cell(driver, fmap, int(r), int(col), h, w)
    return int(r), int(col), int(ch), float(values[r, col, ch])


def _check_explanation(driver, server, input_id, layer, value, what, **where) -> dict:
    """The page's explanation of ``where`` (row/col/channel or unit) in ``layer``: its value equals ``value``
    (the map value from /api/layers) to the digits shown, and its check says ✓, as the API's does."""
    title = (
        f"unit {where['unit']}"
        if "unit" in where
        else f"map {where['channel']} · row {where['row']}, col {where['col']}"
    )
    shown, check = _explained(driver, what, title)
    query = "&".join(f"{k}={v}" for k, v in where.items())
    status, api = server.get(f"/api/explain?input={input_id}&layer={layer}&{query}")
    assert status == 200, api
    assert api["equal"], f"the engine's own check failed for {what}: {api}"
    assert "✓" in check, f"#explain-check for {what} says {check!r}"
    assert close_to_shown(shown, value), f"{what}: the page explains {shown!r}, the map holds {value!r}"
    print(f"\n{what}: #explained-value {shown!r}, map value {value:.6g}, check {check!r}")
    return api


def _click_unit(driver, layer: int, unit: int, n: int) -> None:
    """Click unit ``unit`` of a vector layer: its cell (``.unit``), or its pixel in the strip of a long vector
    (``.unit-strip``, 170 units to a row)."""
    cells = driver.find_elements(*_by(f'.unit[data-layer="{layer}"][data-unit="{unit}"]'))
    if cells:
        cells[0].click()
        return
    strip = find(driver, f'.unit-strip[data-layer="{layer}"]')
    cols = int(strip.get_attribute("width"))
    click_cell(driver, strip, unit // cols, unit % cols, -(-n // cols), cols)


def test_inside_explains_conv_pool_and_dense(driver, server, shots):
    # from the Digits page: draw a 7, follow the link
    open_page(driver, server.url + "/", "#draw")
    find(driver, "#clear").click()
    draw_strokes(driver, find(driver, "#draw"), DIGIT_STROKES["7"])
    api, _, _ = wait_prediction_for(driver, server, canvas_ink_payload(driver))
    iid = api["input_id"]
    find(driver, "#to-inside").click()
    wait_for(driver, lambda d: "/inside" in d.current_url, "the Inside page")
    assert f"input={iid}" in driver.current_url
    wait_for(driver, lambda d: find(d, "#layers").get_attribute("data-state") == "ready", "every layer drawn")
    layers = _layers(server, iid)
    n_panels = len(driver.find_elements(*_by(".layer-panel[data-layer]:not([data-layer='input'])")))
    assert n_panels == len(layers), f"{n_panels} layer panels for {len(layers)} layers"
    assert len(driver.find_elements(*_by('.fmap[data-layer="0"]'))) == np.asarray(layers[0]["values"]).shape[-1]

    # a feature-map pixel of the first Conv2D
    r, c, ch, value = _click_map_pixel(driver, layers, 0)
    api = _check_explanation(driver, server, iid, 0, value, f"conv pixel ({r}, {c}, {ch})", row=r, col=c, channel=ch)
    terms = text(driver, "#terms")
    assert terms.count("*") == 9 and "+" in terms, f"#terms: {terms!r}"
    explanation = text(driver, "#explanation")
    assert "bias" in explanation.lower() and "relu" in explanation.lower()
    assert value > 0 and api["activation"] == "relu"
    shot(driver, shots / "inside.png", at='.layer-panel[data-layer="0"]')

    # a pooled pixel: its window and the winner
    r, c, ch, value = _click_map_pixel(driver, layers, 1)
    _check_explanation(driver, server, iid, 1, value, f"pooled pixel ({r}, {c}, {ch})", row=r, col=c, channel=ch)
    shot(driver, shots / "inside-pool.png", at='.layer-panel[data-layer="1"]')

    # a dense unit: the class unit of the last layer (softmax) and one of the hidden Dense layer
    last = len(layers) - 1
    for layer in (last, last - 1):
        values = np.asarray(layers[layer]["values"], np.float64)
        unit = int(np.argmax(values))
        _click_unit(driver, layer, unit, len(values))
        _check_explanation(driver, server, iid, layer, float(values[unit]), f"dense unit {layer}:{unit}", unit=unit)
    shot(driver, shots / "inside-dense.png", at=f'.layer-panel[data-layer="{last - 1}"]')


def test_inside_without_input_shows_a_test_digit(driver, server):
    open_page(driver, server.url + "/inside", '#layers[data-state="ready"]')
    assert "input=" in driver.current_url  # the page names its input, so the link can be shared
    assert driver.find_elements(*_by(".fmap"))
    shown = text(driver, "#inside-prediction")
    assert PREDICTION.search(shown.replace("the network says", "").strip()) and "true label" in shown, shown


# --------------------------------------------------------------------------- 3. Convolution arithmetic
def _set(driver, css: str, value) -> None:
    el = find(driver, css)
    el.clear()
    el.send_keys(str(value))


def test_arithmetic_page(driver, server, shots, console_allow):
    # typing a number passes through other values (clearing "28" leaves "", "2" comes before "28"); the
    # page asks the engine about each and shows its error, and Chromium logs each 400 it gets
    console_allow.append("/api/size?")
    open_page(driver, server.url + "/arithmetic", "#n")
    for n, k, p, s in [(5, 3, 1, 2), (28, 3, "valid", 1), (28, 3, "same", 2), (7, 3, 0, 2)]:
        for css, v in (("#n", n), ("#k", k), ("#p", p), ("#s", s)):
            _set(driver, css, v)
        status, api = server.get(f"/api/size?n={n}&k={k}&p={p}&s={s}")
        assert status == 200, api
        want = str(api["output_size"])
        engine = " ".join(api["formula"].split())
        wait_for(
            driver,
            lambda d, want=want, engine=engine: (
                text(d, "#output-size") == want and engine in " ".join(text(d, "#formula").split())
            ),
            f"#output-size {want} and #formula {engine!r} for n={n} k={k} p={p} s={s}",
        )
        formula = " ".join(text(driver, "#formula").split())
        assert not visible(driver, "#size-error")
        print(f"\nn={n} k={k} p={p} s={s}: #output-size {want}, #formula {formula!r}")
    # the slide's example, as the page opens with it
    for css, v in (("#n", 5), ("#k", 3), ("#p", 1), ("#s", 2)):
        _set(driver, css, v)
    wait_for(
        driver,
        lambda d: text(d, "#output-size") == "3" and "(5 + 2·1 − 3)/2 + 1 = 3" in text(d, "#formula"),
        "#output-size 3 and the slide's formula for 5/3/1/2",
    )
    shot(driver, shots / "arithmetic.png")

    # an impossible combination: the engine's own message
    for css, v in (("#n", 2), ("#k", 5), ("#p", 0), ("#s", 1)):
        _set(driver, css, v)
    status, api = server.get("/api/size?n=2&k=5&p=0&s=1")
    assert status == 400
    wait_for(driver, lambda d: visible(d, "#size-error") and text(d, "#size-error"), "#size-error for n=2 k=5")
    shown = " ".join(text(driver, "#size-error").split())
    assert " ".join(api["error"].split()) in shown, f"#size-error {shown!r} is not the engine's {api['error']!r}"
    print(f"\nn=2 k=5 p=0 s=1: #size-error {shown!r}")
    shot(driver, shots / "arithmetic-error.png")

    # the slide's sharpen example: the top-left output of padding 0 is 266
    sharpen = find(driver, "#sharpen")
    cells = [e for e in sharpen.find_elements(*_by("[data-row][data-col]")) if e.text.strip() == "266"]
    assert cells, "#sharpen shows no output cell with the slide's 266"
    cells[0].click()
    wait_for(driver, lambda d: "266" in text(d, "#sharpen-line"), "#sharpen-line for 266")
    line = text(driver, "#sharpen-line")
    assert "60*0" in line.replace(" ", "") and "113*(-1)" in line.replace(" ", "").replace("−", "-"), line


# --------------------------------------------------------------------------- 4. Your model
def test_model_page_without_keras_model_says_how(driver, server, shots):
    open_page(driver, server.url + "/model", "#photo")
    wait_for(driver, lambda d: text(d, "#model-message"), "#model-message")
    message = text(driver, "#model-message")
    assert "--model" in message, f"#model-message does not say how to start with a Keras model: {message!r}"
    shot(driver, shots / "model-no-keras.png")


def _tiny_keras(path: Path) -> Path:
    """A tiny Keras classifier of 32×32×3 photos into cat / coffee / rocket, saved with convlab.vgg.save_model.

    Trained here in a few seconds on scikit-image's own three photos (``chelsea``, ``coffee``, ``rocket``: no
    download), each resized whole and as random crops, so that the page has a right answer to show.
    """
    keras = pytest.importorskip("keras")
    from PIL import Image
    from skimage import data

    from convlab import vgg

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for label, photo in enumerate([data.chelsea(), data.coffee(), data.rocket()]):
        img = Image.fromarray(photo)
        w, h = img.size
        xs.append(np.asarray(img.resize((32, 32), Image.BILINEAR)))
        ys.append(label)
        for _ in range(23):
            s = rng.uniform(0.6, 1.0)
            cw, ch = int(w * s), int(h * s)
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            xs.append(np.asarray(img.crop((x0, y0, x0 + cw, y0 + ch)).resize((32, 32), Image.BILINEAR)))
            ys.append(label)
    x, y = np.stack(xs).astype(np.float32) / 255.0, np.array(ys)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(KERAS_CLASSES), activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    return vgg.save_model(model, path)


@pytest.mark.tf
def test_model_page_with_a_keras_model(driver, digit_model, tmp_path, shots):
    pytest.importorskip("tensorflow")
    from PIL import Image
    from skimage import data

    classes = KERAS_CLASSES
    tiny = _tiny_keras(tmp_path / "tiny.keras")
    photo = tmp_path / "chelsea.jpg"
    Image.fromarray(data.chelsea()).save(photo, quality=90)
    with ServerProcess(digit_model, tiny, classes=classes, cache_dir=tmp_path / "cache") as keras_server:
        open_page(driver, keras_server.url + "/model", "#photo")
        find(driver, "#photo").send_keys(str(photo))
        rows_css = "#top3 > *"
        wait_for(driver, lambda d: len(d.find_elements(*_by(rows_css))) == 3, "three rows in #top3")
        rows = [e.text.strip() for e in driver.find_elements(*_by(rows_css))]
        status, api = keras_server.post_file("/api/keras/predict", "image", "chelsea.jpg", photo.read_bytes())
        assert status == 200, api
        print(f"\nYour model, chelsea.jpg: #top3 {rows}; API {api['top']}")
        for row, want in zip(rows, api["top"]):
            assert want["class"] in row, f"#top3 row {row!r}, the API's {want}"
            assert f"{100 * want['probability']:.1f}" in row or f"{100 * want['probability']:.0f}" in row
        assert {t["class"] for t in api["top"]} == set(classes)
        assert api["top"][0]["class"] == "cat" and "cat" in rows[0], "the photo of a cat, seen in training"
        # the model loads in the background (TensorFlow takes seconds); the page says when it is ready
        wait_for(driver, lambda d: find(d, "#model-message").get_attribute("data-state") == "ready", "ready")
        message = text(driver, "#model-message")
        assert "tiny.keras" in message and all(c in message for c in classes), message
        shot(driver, shots / "model.png")


# --------------------------------------------------------------------------- your own network
def test_second_architecture_two_conv_blocks(driver, second_model, tmp_path, shots):
    from PIL import Image
    from skimage import data

    photo = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(photo)
    with ServerProcess(second_model, classes=SECOND_CLASSES, cache_dir=tmp_path / "cache") as other:
        status, st = other.get("/api/status")
        assert st["model"]["input_shape"] == [32, 32, 3] and st["model"]["classes"] == list(SECOND_CLASSES)
        open_page(driver, other.url + "/", "#upload")
        find(driver, "#upload").send_keys(str(photo))
        wait_for(driver, lambda d: input_id_of_page(d) and PREDICTION.match(text(d, "#prediction")), "a prediction")
        shown = PREDICTION.match(text(driver, "#prediction")).group(1)
        assert shown in SECOND_CLASSES
        bars = text(driver, "#bars")
        assert all(c in bars.split() or c in bars for c in SECOND_CLASSES), f"#bars: {bars!r}"
        iid = input_id_of_page(driver)
        shot(driver, shots / "digits-second.png")
        open_page(driver, f"{other.url}/inside?input={iid}", '#layers[data-state="ready"]')
        layers = _layers(other, iid)
        assert [np.asarray(x["values"]).shape for x in layers[:4]] == [(30, 30, 6), (15, 15, 6), (15, 15, 8), (7, 7, 8)]
        # a pixel of the second conv block (padding "same": also check a border pixel, which sees padding)
        r, c, ch, value = _click_map_pixel(driver, layers, 2)
        _check_explanation(
            driver, other, iid, 2, value, f"second-block conv pixel ({r}, {c}, {ch})", row=r, col=c, channel=ch
        )
        values = np.asarray(layers[2]["values"], np.float64)
        ch = int(np.argmax(values[0, 0]))
        click_cell(driver, find(driver, f'.fmap[data-layer="2"][data-channel="{ch}"]'), 0, 0, 15, 15)
        api = _check_explanation(
            driver, other, iid, 2, float(values[0, 0, ch]), f"corner pixel (0, 0, {ch})", row=0, col=0, channel=ch
        )
        assert np.asarray(api["padded"]).any(), "the corner window of a 'same' conv covers padding"
        shot(driver, shots / "inside-second.png", at='.layer-panel[data-layer="2"]')


# --------------------------------------------------------------------------- in Spanish
def test_pages_in_spanish(driver, digit_model, tmp_path, shots, console_allow):
    """``convlab serve --lang es``: every word on the pages is Spanish — the templates' and the ones the
    scripts write (the status line, the arithmetic page's notes and caption, the layer panels, an
    explanation) — and the numbers are the same as the API's."""
    console_allow.append("/api/size?")  # typing a number passes through values the engine refuses
    with ServerProcess(digit_model, cache_dir=tmp_path / "cache", extra_args=["--lang", "es"]) as server:
        open_page(driver, server.url + "/arithmetic", "#n")
        assert find(driver, "html").get_attribute("lang") == "es"
        assert text(driver, "#nav-arithmetic") == "Aritmética de la convolución"
        wait_for(driver, lambda d: "parámetros" in text(d, "#status-text"), "the status line in Spanish")
        status = text(driver, "#status-text")
        assert "parameters" not in status and "modelo:" in status and "entrada 28×28×1" in status, status
        for css, v in (("#n", 5), ("#k", 3), ("#p", 1), ("#s", 2)):
            _set(driver, css, v)
        wait_for(
            driver,
            lambda d: (
                text(d, "#output-size") == "3" and "Entrada con relleno: 7×7; salida: 3×3." in text(d, "#size-note")
            ),
            "#size-note in Spanish for 5/3/1/2",
        )
        wait_for(driver, lambda d: text(d, "#slide-caption").startswith("ventana "), "#slide-caption in Spanish")
        caption = text(driver, "#slide-caption")
        assert " de la entrada con relleno → salida (" in caption and "window" not in caption, caption
        assert text(driver, "#play") in ("Pausa", "Reproducir") and text(driver, "#step") == "Avanzar"
        shot(driver, shots / "arithmetic-es.png")

        # Inside: the panels the script builds, then one explanation
        open_page(driver, server.url + "/inside", '#layers[data-state="ready"]')
        facts = [e.text for e in driver.find_elements(*_by(".layer-facts"))]
        assert facts and all("parámetro" in f for f in facts) and not any("parameter" in f for f in facts), facts
        said = text(driver, "#inside-prediction")
        assert said.startswith("la red dice ") and "etiqueta real" in said, said
        iid = re.search(r"[?&]input=([0-9a-f]+)", driver.current_url).group(1)
        layers = _layers(server, iid)
        r, c, ch, value = _click_map_pixel(driver, layers, 0)
        title = f"mapa {ch} · fila {r}, col. {c}"
        shown, check = _explained(driver, f"conv pixel ({r}, {c}, {ch}) in Spanish", title)
        assert close_to_shown(shown, value), (shown, value)
        assert check.startswith("✓ igual al valor del mapa"), check
        explanation = text(driver, "#explanation").lower()  # the labels are upper case (CSS)
        for words in ("la ventana 3×3 de la entrada", "productos", "más el sesgo", "activación", "ventana", "kernel"):
            assert words in explanation, f"the explanation does not say {words!r}: {explanation!r}"
        for english in ("window of the", "plus the bias", "products", "equals the map value"):
            assert english not in explanation, f"the explanation still says {english!r}"
        shot(driver, shots / "inside-es.png", at='.layer-panel[data-layer="0"]')
