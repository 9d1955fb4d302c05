"""The explorer's Flask app through Flask's test client: every route, every bad input, the numbers.

Models are built here, small and untrained (random weights and biases, ``set_seed``): the app must show
any convlab model's numbers exactly, trained or not. The 1,000 held-out MNIST digits come from
``default_model.mnist_split()`` (read once per process). Nothing here trains, opens a socket or
touches the model cache.
"""

from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pytest
from PIL import Image

import convlab
from convlab.layers import Conv2D, Dense, Flatten, Input, MaxPool2D
from convlab.web import app as web_app
from convlab.web import default_model, keras_page
from convlab.web.app import CSP, MAX_CONTENT_LENGTH, create_app
from convlab.web.digits import fit_input
from convlab.web.explain import layer_outputs
from convlab.web.images import MAX_UPLOAD_BYTES, decode_canvas, decode_upload
from convlab.web.keras_page import KerasSlot, photo_for
from convlab.web.state import ExplorerState, InputCache, check_servable, class_names_for

SECOND_CLASSES = ["a", "b", "c", "d", "e"]


# --------------------------------------------------------------------------- models and apps
def _randomize(model: convlab.Sequential, seed: int) -> convlab.Sequential:
    """Non-zero biases everywhere (a bias left out of an explanation must show), larger dense weights."""
    rng = np.random.default_rng(seed)
    weights = [w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(w.dtype) for w in model.get_weights()]
    model.set_weights(weights)
    return model


@pytest.fixture(scope="module")
def digits():
    """(x_test uint8 (1000, 28, 28), y_test) of the MNIST-5k protocol."""
    _, _, x_test, y_test = default_model.mnist_split()
    return x_test, y_test


@pytest.fixture(scope="module")
def small_model():
    convlab.set_seed(0)
    model = convlab.Sequential(
        [
            Input((28, 28, 1)),
            Conv2D(4, 3, activation="relu"),
            MaxPool2D(2),
            Flatten(),
            Dense(16, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )
    return _randomize(model, 0)


@pytest.fixture(scope="module")
def second_model():
    """Two conv blocks on 32×32×3 (the second padded "same"), five classes."""
    convlab.set_seed(1)
    model = convlab.Sequential(
        [
            Input((32, 32, 3)),
            Conv2D(6, 3, activation="relu"),
            MaxPool2D(2),
            Conv2D(8, 3, activation="relu", padding="same"),
            MaxPool2D(2),
            Flatten(),
            Dense(5, activation="softmax"),
        ]
    )
    return _randomize(model, 1)


@pytest.fixture
def state(small_model, digits):
    return ExplorerState(small_model, test_digits=digits, source="file", file="small.npz")


@pytest.fixture
def client(state):
    return create_app(state).test_client()


def canvas_payload(pixels: np.ndarray) -> dict:
    h, w = pixels.shape
    return {"width": w, "height": h, "pixels": base64.b64encode(np.ascontiguousarray(pixels, np.uint8)).decode()}


def drawn_seven() -> np.ndarray:
    """A 280×280 canvas with a thick 7 (white ink on black)."""
    img = np.zeros((280, 280), np.uint8)
    img[60:80, 70:210] = 255
    for r in range(80, 230):
        c = int(205 - (r - 80) * 0.55)
        img[r, c - 10 : c + 10] = 255
    return img


def png_bytes(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def digit_png(digits, index: int = 0, invert: bool = True) -> bytes:
    """Test digit ``index`` as a greyscale PNG, dark ink on white (as a photo of paper), 3× larger."""
    x = digits[0][index]
    img = Image.fromarray(255 - x if invert else x).resize((84, 84))
    return png_bytes(img)


def multipart(field: str, data: bytes, filename: str | None = "digit.png") -> tuple[bytes, str]:
    """A multipart/form-data body with one field, built in memory (werkzeug's test client would spool a large
    one to a temporary file it never closes: a ResourceWarning, and this suite fails on those)."""
    boundary = "convlab-test-boundary-7d3f"
    disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename is not None else "")
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: application/octet-stream\r\n\r\n"
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload(client, data: bytes, name: str = "digit.png", url: str = "/api/predict", field: str = "image"):
    body, content_type = multipart(field, data, name)
    return client.post(url, data=body, content_type=content_type)


def assert_json_error(response, status: int | tuple[int, ...], *words: str) -> str:
    """A JSON error with a message (containing ``words``), no traceback, the app's headers; returns the message."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.data[:500])
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) >= {"error"} and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert 'File "' not in response.get_data(as_text=True)
    for w in words:
        assert w in body["error"], (w, body["error"])
    assert response.headers["Content-Security-Policy"] == CSP
    return body["error"]


def layer_values(layer: dict) -> np.ndarray:
    """A layer of /api/layers' default answer as an array: ``values_b64`` (little-endian float32 bytes, C order)
    decoded with ``shape``, as the page decodes it (atob → Float32Array)."""
    assert "values" not in layer and layer["dtype"] == "float32"
    raw = base64.b64decode(layer["values_b64"], validate=True)
    return np.frombuffer(raw, dtype="<f4").reshape(layer["shape"])


def assert_still_serving(client):
    r = client.post("/api/predict", json={"test_index": 1})
    assert r.status_code == 200, r.get_data(as_text=True)


# --------------------------------------------------------------------------- pages and headers
@pytest.mark.parametrize(
    "url, page",
    [
        ("/", "digits"),
        ("/inside", "inside"),
        ("/arithmetic", "arithmetic"),
        ("/model", "model"),
        ("/inside?input=0123456789abcdef", "inside"),
    ],
)
def test_pages(client, url, page):
    r = client.get(url)
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    assert f'data-page="{page}"' in r.get_data(as_text=True)
    assert r.headers["Content-Security-Policy"] == CSP
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_static_files_carry_the_headers(client):
    r = client.get("/static/common.js")
    assert r.status_code == 200
    assert r.headers["Content-Security-Policy"] == CSP
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r.close()


def test_no_path_can_be_named(client):
    for url in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py"):
        r = client.get(url)
        assert r.status_code == 404
        assert b"import" not in r.data


def test_unknown_page_is_a_plain_page_and_unknown_api_is_json(client):
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "Traceback" not in r.get_data(as_text=True)
    assert r.headers["Content-Security-Policy"] == CSP
    assert_json_error(client.get("/api/nowhere"), 404, "/api/nowhere")


@pytest.mark.parametrize(
    "method, url",
    [
        ("post", "/api/status"),
        ("get", "/api/predict"),
        ("delete", "/api/layers"),
        ("post", "/api/explain"),
        ("post", "/api/size"),
        ("put", "/api/sharpen"),
        ("get", "/api/keras/predict"),
    ],
)
def test_wrong_method_is_a_json_405(client, method, url):
    assert_json_error(getattr(client, method)(url), 405, "not allowed")


# --------------------------------------------------------------------------- status
def test_status(client, small_model):
    r = client.get("/api/status")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    s = r.get_json()
    assert s["ready"] is True and s["training"] is None
    m = s["model"]
    assert m["input_shape"] == [28, 28, 1]
    assert m["classes"] == [str(d) for d in range(10)]
    assert m["params"] == small_model.count_params()
    assert m["file"] == "small.npz"
    assert [layer["class_name"] for layer in m["layers"]] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert m["layers"][0]["output_shape"] == [26, 26, 4] and m["layers"][0]["params"] == 40
    assert sum(layer["params"] for layer in m["layers"]) == m["params"]
    k = s["keras"]
    assert k["available"] is False and "--model" in k["message"]
    assert s["max_upload_bytes"] == MAX_UPLOAD_BYTES


# --------------------------------------------------------------------------- predict: the same numbers as Python
def test_predict_test_digit_equals_model_predict(client, small_model, digits):
    for index in (0, 7, 999):
        body = client.post("/api/predict", json={"test_index": index}).get_json()
        x = default_model.as_inputs(digits[0][index : index + 1])  # (1, 28, 28, 1) float32, as trained
        seen = np.asarray(body["input"], dtype=np.float32)
        assert seen.shape == (28, 28, 1)
        np.testing.assert_array_equal(seen, x[0])
        expected = small_model.predict(x)[0]
        np.testing.assert_allclose(body["probabilities"], expected, rtol=1e-6, atol=1e-7)
        assert body["top"] == int(np.argmax(expected))
        assert body["label"] == int(digits[1][index])
        assert body["classes"] == [str(d) for d in range(10)]
        assert body["input_id"] == InputCache.input_id(x[0])
        assert len(body["input_id"]) == 16


def test_predict_canvas_equals_model_predict(client, small_model):
    pixels = drawn_seven()
    body = client.post("/api/predict", json={"canvas": canvas_payload(pixels)}).get_json()
    x = fit_input(decode_canvas(canvas_payload(pixels)), (28, 28, 1))
    seen = np.asarray(body["input"], dtype=np.float32)
    np.testing.assert_array_equal(seen, x)  # what the network saw is what the page shows
    np.testing.assert_allclose(body["probabilities"], small_model.predict(x[None])[0], rtol=1e-6, atol=1e-7)
    assert body["label"] is None
    # the same drawing again: the same id
    again = client.post("/api/predict", json={"canvas": canvas_payload(pixels)}).get_json()
    assert again["input_id"] == body["input_id"]


def test_predict_upload_equals_model_predict(client, small_model, digits):
    data = digit_png(digits, 3)
    body = upload(client, data).get_json()
    x = fit_input(decode_upload(data, filename="digit.png"), (28, 28, 1))
    np.testing.assert_array_equal(np.asarray(body["input"], dtype=np.float32), x)
    np.testing.assert_allclose(body["probabilities"], small_model.predict(x[None])[0], rtol=1e-6, atol=1e-7)


def test_predict_by_input_id(client):
    first = client.post("/api/predict", json={"test_index": 5}).get_json()
    again = client.post("/api/predict", json={"input_id": first["input_id"]}).get_json()
    assert again == first  # the label is remembered with the input


def test_uploads_are_never_written_to_disk(client, monkeypatch, small_model):
    import tempfile

    import werkzeug.formparser

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was about to be written to a temporary file")

    for module, name in [
        (tempfile, "SpooledTemporaryFile"),
        (tempfile, "TemporaryFile"),
        (tempfile, "NamedTemporaryFile"),
        (tempfile, "mkstemp"),
        (werkzeug.formparser, "SpooledTemporaryFile"),
        (werkzeug.formparser, "TemporaryFile"),
    ]:
        if hasattr(module, name):
            monkeypatch.setattr(module, name, refuse)
    # 2 MB of noise as PNG: far above werkzeug's 500 kB in-memory threshold
    noise = np.random.default_rng(0).integers(0, 256, (900, 900, 3), dtype=np.uint8)
    data = png_bytes(Image.fromarray(noise), compress_level=0)
    assert len(data) > 2_000_000
    r = upload(client, data, "noise.png")
    assert r.status_code == 200, r.get_data(as_text=True)


# --------------------------------------------------------------------------- layers and explanations
def test_layers_equal_layer_outputs(client, small_model, digits):
    key = client.post("/api/predict", json={"test_index": 2}).get_json()["input_id"]
    body = client.get(f"/api/layers?input={key}").get_json()
    assert body["input_id"] == key
    x = default_model.as_inputs(digits[0][2:3])[0]
    expected = layer_outputs(small_model, x)
    assert len(body["layers"]) == len(expected) == 5
    for got, want in zip(body["layers"], expected):
        assert got["name"] == want["name"] and got["class_name"] == want["class_name"]
        assert got["output_shape"] == got["shape"] == want["output_shape"]
        values = layer_values(got)
        assert values.dtype == np.float32 and values.shape == want["values"].shape
        assert values.tobytes() == want["values"].tobytes()  # exact: the engine's bytes
        assert got["min"] == float(values.min()) and got["max"] == float(values.max())
    np.testing.assert_allclose(layer_values(body["layers"][-1]), small_model.predict(x[None])[0], rtol=1e-6)


def test_layers_as_lists(client, small_model, digits):
    """``?format=list``: nested lists of numbers, for curl; the float32s written in full, so still exact."""
    key = client.post("/api/predict", json={"test_index": 2}).get_json()["input_id"]
    listed = client.get(f"/api/layers?input={key}&format=list").get_json()
    packed = client.get(f"/api/layers?input={key}&format=b64").get_json()
    assert packed == client.get(f"/api/layers?input={key}").get_json()  # b64 is the default
    expected = layer_outputs(small_model, default_model.as_inputs(digits[0][2:3])[0])
    for got, b64, want in zip(listed["layers"], packed["layers"], expected, strict=True):
        assert "values_b64" not in got and "shape" not in got and "dtype" not in got
        assert np.shape(got["values"]) == tuple(want["output_shape"])
        np.testing.assert_array_equal(np.asarray(got["values"], dtype=np.float32), want["values"])
        meta = {k: v for k, v in b64.items() if k not in ("values_b64", "shape", "dtype")}
        assert {k: v for k, v in got.items() if k != "values"} == meta
    # the format of a POST too, and case/space do not matter
    posted = client.post("/api/layers?format= LIST", json={"input_id": key}).get_json()
    assert posted == listed


def test_layers_of_a_float64_model_stay_float64(digits):
    convlab.set_seed(3)
    f64 = "float64"
    model = convlab.Sequential(
        [Input((28, 28, 1), dtype=f64), Conv2D(2, 3, dtype=f64), Flatten(dtype=f64), Dense(3, dtype=f64)]
    )
    client = create_app(ExplorerState(model, test_digits=digits)).test_client()
    body = client.post("/api/layers", json={"test_index": 1}).get_json()
    expected = layer_outputs(model, default_model.as_inputs(digits[0][1:2])[0])
    for got, want in zip(body["layers"], expected, strict=True):
        assert got["dtype"] == "float64" and want["values"].dtype == np.float64
        raw = base64.b64decode(got["values_b64"])
        np.testing.assert_array_equal(np.frombuffer(raw, "<f8").reshape(got["shape"]), want["values"])


@pytest.mark.parametrize("fmt", ["xml", "json", "float32", "b64,list"])
def test_layers_bad_format(client, fmt):
    key = client.post("/api/predict", json={"test_index": 0}).get_json()["input_id"]
    message = assert_json_error(client.get(f"/api/layers?input={key}&format={fmt}"), 400, "format", "b64", "list")
    assert repr(fmt) in message
    assert_json_error(client.post(f"/api/layers?format={fmt}", json={"test_index": 0}), 400, "format")


def test_layers_by_post(client):
    body = client.post("/api/layers", json={"test_index": 4}).get_json()
    assert len(body["layers"]) == 5 and len(body["input_id"]) == 16
    again = client.get(f"/api/layers?input={body['input_id']}").get_json()
    assert again == body


def _positions(layer: dict, rng, n: int = 4) -> list[dict]:
    shape = layer["output_shape"]
    values = layer_values(layer)
    out = []
    if layer["kind"] == "maps":
        # the largest value (a pixel where the ink is) and random ones
        r, c, ch = np.unravel_index(int(np.argmax(values)), values.shape)
        out.append({"row": int(r), "col": int(c), "channel": int(ch)})
        for _ in range(n - 1):
            out.append(
                {
                    "row": int(rng.integers(shape[0])),
                    "col": int(rng.integers(shape[1])),
                    "channel": int(rng.integers(shape[2])),
                }
            )
    else:
        out.append({"unit": int(np.argmax(values))})
        out += [{"unit": int(rng.integers(shape[0]))} for _ in range(n - 1)]
    return out


def _check_explanations(client, key: str) -> int:
    layers = client.get(f"/api/layers?input={key}").get_json()["layers"]
    rng = np.random.default_rng(0)
    checked = 0
    for layer in layers:
        if not layer["explainable"]:
            continue
        for pos in _positions(layer, rng):
            query = "&".join(f"{k}={v}" for k, v in pos.items())
            r = client.get(f"/api/explain?input={key}&layer={layer['index']}&{query}")
            assert r.status_code == 200, r.get_data(as_text=True)
            e = r.get_json()
            where = tuple(pos.values())
            shown = layer_values(layer)[where]
            assert e["map_value"] == pytest.approx(float(shown), rel=1e-6, abs=1e-7)  # the value on the page
            assert e["value"] == pytest.approx(float(shown), rel=1e-4, abs=1e-5)  # recomputed the slow way
            assert e["equal"] is True
            assert isinstance(e["text"], str) and e["text"]
            if e["kind"] == "conv":
                window, kernel = np.asarray(e["window"]), np.asarray(e["kernel"])
                assert e["sum"] == pytest.approx(float(np.sum(window * kernel)), rel=1e-4, abs=1e-5)
                assert e["preactivation"] == pytest.approx(e["sum"] + e["bias"], rel=1e-5, abs=1e-6)
                assert e["bias"] != 0  # biases were randomized: the explanation must carry them
            if e["kind"] == "max_pool":
                window = np.asarray([[v if v is not None else -np.inf for v in row] for row in e["window"]])
                assert e["value"] == pytest.approx(float(window.max()), rel=1e-6)
            if e["kind"] == "dense":
                assert e["top_contributions"] and "product" in e["top_contributions"][0]
            checked += 1
    return checked


def test_every_kind_of_explanation_equals_the_map_value(client):
    key = client.post("/api/predict", json={"test_index": 0}).get_json()["input_id"]
    assert _check_explanations(client, key) >= 12


def test_explain_kinds(client):
    key = client.post("/api/predict", json={"test_index": 0}).get_json()["input_id"]
    kinds = {}
    for q in (
        "layer=0&row=12&col=12&channel=0",
        "layer=1&row=6&col=6&channel=1",
        "layer=2&unit=100",
        "layer=3&unit=0",
        "layer=4&unit=7&top=3",
    ):
        body = client.get(f"/api/explain?input={key}&{q}").get_json()
        kinds[q.split("&")[0]] = body["kind"]
        if body["kind"] == "dense" and "top=3" in q:
            assert len(body["top_contributions"]) == 3
    assert kinds == {
        "layer=0": "conv",
        "layer=1": "max_pool",
        "layer=2": "flatten",
        "layer=3": "dense",
        "layer=4": "dense",
    }


# --------------------------------------------------------------------------- a second architecture
@pytest.fixture
def second_client(second_model, digits):
    state = ExplorerState(second_model, classes=SECOND_CLASSES, test_digits=digits)
    return create_app(state).test_client()


def test_second_architecture_served_and_explained(second_client, second_model, digits):
    s = second_client.get("/api/status").get_json()["model"]
    assert s["input_shape"] == [32, 32, 3] and s["classes"] == SECOND_CLASSES
    assert [layer["output_shape"] for layer in s["layers"]] == [
        [30, 30, 6],
        [15, 15, 6],
        [15, 15, 8],
        [7, 7, 8],
        [392],
        [5],
    ]
    # a test digit, fitted to 32×32×3
    body = second_client.post("/api/predict", json={"test_index": 3}).get_json()
    x = fit_input(digits[0][3], (32, 32, 3))
    np.testing.assert_array_equal(np.asarray(body["input"], dtype=np.float32), x)
    np.testing.assert_allclose(body["probabilities"], second_model.predict(x[None])[0], rtol=1e-6, atol=1e-7)
    # the digit's MNIST label (7) is not one of this model's classes a–e: no label, no "✓ right"
    assert body["classes"] == SECOND_CLASSES and body["label"] is None
    assert _check_explanations(second_client, body["input_id"]) >= 16
    # a colour upload and a drawing
    photo = np.random.default_rng(2).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    r = upload(second_client, png_bytes(Image.fromarray(photo)), "photo.png")
    assert r.status_code == 200
    x = fit_input(photo, (32, 32, 3))
    np.testing.assert_allclose(r.get_json()["probabilities"], second_model.predict(x[None])[0], rtol=1e-6, atol=1e-7)
    r = second_client.post("/api/predict", json={"canvas": canvas_payload(drawn_seven())})
    assert r.status_code == 200
    _check_explanations(second_client, r.get_json()["input_id"])


def test_explain_padding_same_conv_at_the_border(second_client):
    key = second_client.post("/api/predict", json={"test_index": 0}).get_json()["input_id"]
    layers = second_client.get(f"/api/layers?input={key}").get_json()["layers"]
    e = second_client.get(f"/api/explain?input={key}&layer=2&row=0&col=14&channel=3").get_json()
    assert e["kind"] == "conv" and e["equal"] is True
    assert any(any(row) for row in e["padded"])  # the window reaches into the zero padding
    assert e["map_value"] == pytest.approx(float(layer_values(layers[2])[0, 14, 3]), rel=1e-6, abs=1e-7)


# --------------------------------------------------------------------------- bad input: 4xx JSON, and the app goes on
def _image_cases():
    grey = Image.fromarray(np.full((40, 40), 128, np.uint8))
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    good_png = png_bytes(rgb)
    gif = io.BytesIO()
    frames = [Image.fromarray(np.full((20, 20), v, np.uint8)).convert("P") for v in (0, 255)]
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return {
        "zero bytes": b"",
        "not an image": b"hello, I am a text file\n" * 10,
        "truncated PNG": good_png[: len(good_png) // 2],
        "corrupt PNG": good_png[:40] + bytes(200) + good_png[240:],
        "16-bit": png_bytes(Image.fromarray(np.full((40, 40), 40000, np.uint16))),
        "RGBA": png_bytes(rgb.convert("RGBA")),
        "grey + alpha": png_bytes(grey.convert("LA")),
        "CMYK": png_bytes(rgb.convert("CMYK"), "JPEG"),
        "palette": png_bytes(rgb.convert("P")),
        "animated GIF": gif.getvalue(),
        "a PDF": b"%PDF-1.4\n" + bytes(100),
    }


IMAGE_CASES = _image_cases()


@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
def test_bad_uploads_are_4xx_json(client, case):
    r = upload(client, IMAGE_CASES[case], "bad.png")
    message = assert_json_error(r, (400, 413, 415))
    assert len(message) < 600
    assert_still_serving(client)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns, then the app refuses
def test_decompression_bomb_is_refused(client, monkeypatch):
    # Pillow's limit, lowered so that a small image exceeds it twice over (its hard error) and once (its warning)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for side in (50, 40):  # 2,500 px: over 2× the limit; 1,600 px: over the limit only (a warning in Pillow)
        data = png_bytes(Image.fromarray(np.zeros((side, side), np.uint8)))
        assert_json_error(upload(client, data, "bomb.png"), (400, 413, 415))
    monkeypatch.undo()
    assert_still_serving(client)


def test_blank_canvas(client):
    message = assert_json_error(client.post("/api/predict", json={"canvas": canvas_payload(np.zeros((280, 280)))}), 400)
    assert "draw" in message
    assert_still_serving(client)


@pytest.mark.parametrize(
    "body, words",
    [
        ({"canvas": {"width": 280, "height": 280, "pixels": base64.b64encode(bytes(12)).decode()}}, ["canvas.pixels"]),
        ({"canvas": {"width": 280, "height": 280, "pixels": "***not base64***"}}, ["canvas.pixels"]),
        ({"canvas": {"width": 0, "height": 280, "pixels": ""}}, ["canvas.width"]),
        ({"canvas": {"width": 5000, "height": 280, "pixels": ""}}, ["canvas.width"]),
        ({"canvas": {"width": "280", "height": 280, "pixels": ""}}, ["canvas.width"]),
        ({"canvas": {"height": 280, "pixels": ""}}, ["canvas.width"]),
        ({"canvas": "pixels"}, ["canvas"]),
        ({"canvas": [1, 2, 3]}, ["canvas"]),
        ({"test_index": 1000}, ["test_index", "999"]),
        ({"test_index": -1}, ["test_index"]),
        ({"test_index": "3"}, ["test_index"]),
        ({"test_index": 2.5}, ["test_index"]),
        ({"test_index": True}, ["test_index"]),
        ({"test_index": None}, ["test_index"]),
        ({"input_id": "../../etc/passwd"}, ["input_id"]),
        ({"input_id": 12}, ["input_id"]),
        ({"test_index": 1, "input_id": "0123456789abcdef"}, ["exactly one"]),
        ({}, ["exactly one"]),
        ({"image": "x.png"}, ["exactly one"]),
        ([1, 2], ["JSON object"]),
        ("just a string", ["JSON object"]),
    ],
)
def test_bad_predict_bodies(client, body, words):
    assert_json_error(client.post("/api/predict", json=body), 400, *words)
    assert_still_serving(client)


@pytest.mark.parametrize(
    "data, content_type",
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"test_index=3", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00", "application/octet-stream"),
        (b"", None),
    ],
)
def test_bodies_that_are_not_json(client, data, content_type):
    kwargs = {"content_type": content_type} if content_type else {}
    assert_json_error(client.post("/api/predict", data=data, **kwargs), 400, "JSON object")
    assert_still_serving(client)


def test_multipart_without_an_image_field(client):
    assert_json_error(upload(client, b"abc", "x.png", field="file"), 400, '"image"', "file")
    body, content_type = multipart("text", b"hello", None)
    assert_json_error(client.post("/api/predict", data=body, content_type=content_type), 400, '"image"')


def test_unknown_input_id_is_404(client):
    assert_json_error(client.post("/api/predict", json={"input_id": "0123456789abcdef"}), 404, "unknown input", "again")
    assert_json_error(client.get("/api/layers?input=0123456789abcdef"), 404, "unknown input")
    assert_json_error(
        client.get("/api/explain?input=0123456789abcdef&layer=0&row=0&col=0&channel=0"), 404, "unknown input"
    )


@pytest.mark.parametrize(
    "url, words",
    [("/api/layers", ["input", "required"]), ("/api/layers?input=xyz", ["input"]), ("/api/layers?input=", ["input"])],
)
def test_layers_bad_queries(client, url, words):
    assert_json_error(client.get(url), 400, *words)


@pytest.mark.parametrize(
    "query, words",
    [
        ("layer=0&row=30&col=0&channel=0", ["row", "30", "25"]),
        ("layer=0&row=-1&col=0&channel=0", ["row", "-1"]),
        ("layer=0&row=0&col=26&channel=0", ["col", "26"]),
        ("layer=0&row=0&col=0&channel=4", ["channel", "4"]),
        ("layer=0&row=abc&col=0&channel=0", ["row", "'abc'"]),
        ("layer=0&row=1.5&col=0&channel=0", ["row", "'1.5'"]),
        ("layer=0&row=99999999999999999999&col=0&channel=0", ["row"]),
        ("layer=0&col=0&channel=0", ["row"]),
        ("layer=0&unit=3", ["row"]),
        ("layer=3&row=0&col=0&channel=0", ["unit"]),
        ("layer=3&unit=16", ["unit", "16"]),
        ("layer=3&unit=-2", ["unit"]),
        ("layer=9&unit=0", ["layer", "9"]),
        ("layer=-1&unit=0", ["layer"]),
        ("layer=x&unit=0", ["layer", "'x'"]),
        ("row=0&col=0&channel=0", ["layer", "required"]),
        ("layer=3&unit=0&top=0", ["top"]),
        ("layer=3&unit=0&top=many", ["top"]),
    ],
)
def test_explain_bad_queries(client, query, words):
    key = client.post("/api/predict", json={"test_index": 0}).get_json()["input_id"]
    assert_json_error(client.get(f"/api/explain?input={key}&{query}"), 400, *words)
    assert_still_serving(client)


def test_explain_needs_an_input(client):
    assert_json_error(client.get("/api/explain?layer=0&row=0&col=0&channel=0"), 400, "input", "required")
    assert_json_error(client.get("/api/explain?input=%2Fetc%2Fpasswd&layer=0"), 400, "input")


def test_too_large_bodies_are_413(client):
    big = bytes(MAX_CONTENT_LENGTH + 1)
    assert_json_error(client.post("/api/predict", data=big, content_type="application/json"), 413, "10 MB")
    assert_json_error(upload(client, big, "huge.png"), 413, "10 MB")
    assert_json_error(upload(client, big, "huge.png", url="/api/keras/predict"), (413, 503))
    assert_still_serving(client)


def test_an_upload_just_over_the_stated_limit_is_413(client):
    # over MAX_UPLOAD_BYTES but within the request limit: decode_upload's own readable 413
    data = bytes(MAX_UPLOAD_BYTES + 10)
    assert_json_error(upload(client, data, "big.png"), 413)


# --------------------------------------------------------------------------- the arithmetic page's API
def test_size(client):
    from convlab.web.arithmetic import size_explanation

    body = client.get("/api/size?n=5&k=3&p=1&s=2").get_json()
    assert body == size_explanation(5, 3, 1, 2)
    assert body["output_size"] == 3
    assert client.get("/api/size?n=28&k=3").get_json()["output_size"] == 26
    assert client.get("/api/size?n=28&k=3&p=same&s=2").get_json()["output_size"] == 14
    assert client.get("/api/size?n=28&k=3&p=VALID").get_json()["output_size"] == 26


@pytest.mark.parametrize(
    "query, words",
    [
        ("k=3", ["n", "required"]),
        ("n=5", ["k", "required"]),
        ("n=five&k=3", ["n", "'five'"]),
        ("n=5&k=3&s=two", ["s", "'two'"]),
        ("n=5&k=3&p=wide", ["p", "'wide'"]),
        ("n=5&k=7", ["kernel"]),
        ("n=5&k=0", []),
        ("n=5&k=3&s=0", []),
        ("n=5&k=3&p=-1", []),
        ("n=-5&k=3", []),
    ],
)
def test_size_bad_values_show_the_engines_message(client, query, words):
    assert_json_error(client.get(f"/api/size?{query}"), 400, *words)


def test_sharpen(client):
    from convlab.web.arithmetic import sharpen_example

    body = client.get("/api/sharpen").get_json()
    assert body == web_app.jsonable(sharpen_example())
    assert "266" in str(body)


# --------------------------------------------------------------------------- training, 500s, concurrency
def test_training_answers_503_with_the_progress(digits, small_model):
    state = ExplorerState(test_digits=digits, source="default")
    state.begin_training(10, 125)
    state.update_training({"epoch": 3, "batch": 40, "loss": 0.25, "accuracy": 0.92, "message": "training…"})
    client = create_app(state).test_client()
    s = client.get("/api/status").get_json()
    assert s["ready"] is False and s["model"] is None
    assert s["training"] == {
        "epoch": 3,
        "epochs": 10,
        "batch": 40,
        "batches": 125,
        "loss": 0.25,
        "accuracy": 0.92,
        "message": "training…",
    }
    for r in (
        client.post("/api/predict", json={"test_index": 0}),
        client.get("/api/layers?input=0123456789abcdef"),
        client.get("/api/explain?input=0123456789abcdef&layer=0&unit=0"),
        client.post("/api/layers", json={"test_index": 0}),
    ):
        message = assert_json_error(r, 503, "training", "3/10")
        assert r.get_json()["training"]["epoch"] == 3
        assert message
    # the pages and the arithmetic work meanwhile
    assert client.get("/").status_code == 200
    assert client.get("/api/size?n=5&k=3").status_code == 200
    # done: the model is served
    state.set_model(small_model, source="default", description="trained on 4,000 MNIST digits")
    assert client.post("/api/predict", json={"test_index": 0}).status_code == 200
    assert client.get("/api/status").get_json()["training"] is None


def test_training_failure_is_a_503_with_the_reason(digits):
    state = ExplorerState(test_digits=digits)
    state.begin_training(10)
    state.training_failed("training the model failed: MemoryError: out of memory")
    client = create_app(state).test_client()
    assert_json_error(client.post("/api/predict", json={"test_index": 0}), 503, "MemoryError")
    assert client.get("/api/status").get_json()["error"].startswith("training the model failed")


def test_no_model_at_all_is_a_503(digits):
    client = create_app(ExplorerState(test_digits=digits)).test_client()
    assert_json_error(client.post("/api/predict", json={"test_index": 0}), 503, "convlab serve")


def test_a_bug_is_a_json_500_without_traceback_and_logged(state, client, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail /home/user/thing.py")

    monkeypatch.setattr(state.model, "predict", broken)
    r = client.post("/api/predict", json={"test_index": 0})
    message = assert_json_error(r, 500, "internal error", "RuntimeError")
    assert "secret" not in message and "/home/user" not in message
    err = capsys.readouterr().err
    assert "Traceback" in err and "secret internal detail" in err
    monkeypatch.undo()
    assert_still_serving(client)
    # a page's bug is a plain page
    monkeypatch.setattr(web_app, "render_template", broken)
    r = client.get("/")
    assert r.status_code == 500 and r.mimetype == "text/html" and "Traceback" not in r.get_data(as_text=True)
    capsys.readouterr()


def test_concurrent_requests_give_the_same_numbers(small_model, digits):
    app = create_app(ExplorerState(small_model, test_digits=digits))
    expected = {i: small_model.predict(default_model.as_inputs(digits[0][i : i + 1]))[0] for i in range(8)}
    errors = []

    def worker(i):
        client = app.test_client()
        for _ in range(5):
            body = client.post("/api/predict", json={"test_index": i}).get_json()
            if not np.allclose(body["probabilities"], expected[i], rtol=1e-6, atol=1e-7):
                errors.append(i)
            layers = client.get(f"/api/layers?input={body['input_id']}").get_json()["layers"]
            if not np.allclose(layer_values(layers[-1]), expected[i], rtol=1e-6, atol=1e-7):
                errors.append(-i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# --------------------------------------------------------------------------- the input LRU
def test_input_cache_is_a_bounded_lru():
    cache = InputCache(max_items=3)
    xs = [np.full((2, 2, 1), i, np.float32) for i in range(5)]
    keys = [cache.put(x, i) for i, x in enumerate(xs[:3])]
    assert cache.get(keys[0])[1] == 0  # now the most recent
    cache.put(xs[3], 3)
    assert cache.get(keys[1]) is None  # the least recently used went
    assert cache.get(keys[0]) is not None and len(cache) == 3
    x, label = cache.get(keys[2])
    assert not x.flags.writeable and label == 2
    # bounded by bytes too
    small = InputCache(max_items=100, max_bytes=3 * 16)
    for x in xs:
        small.put(x)
    assert len(small) == 3 and small.nbytes == 48
    # the same input twice is one entry; a later unlabelled put keeps the label
    again = InputCache()
    k1 = again.put(xs[0], 7)
    assert again.put(xs[0].copy()) == k1 and len(again) == 1 and again.get(k1)[1] == 7


def test_input_cache_under_threads():
    cache = InputCache(max_items=50)
    xs = [np.full((4, 4, 1), i, np.float32) for i in range(200)]

    def worker(offset):
        for i in range(offset, 200, 4):
            key = cache.put(xs[i], i)
            item = cache.get(key)
            assert item is None or item[1] == i

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 50 and cache.nbytes == 50 * 64


def test_evicted_input_is_404(small_model, digits):
    client = create_app(ExplorerState(small_model, test_digits=digits, max_inputs=2)).test_client()
    keys = [client.post("/api/predict", json={"test_index": i}).get_json()["input_id"] for i in range(3)]
    assert_json_error(client.get(f"/api/layers?input={keys[0]}"), 404, "unknown input")
    assert client.get(f"/api/layers?input={keys[2]}").status_code == 200


# --------------------------------------------------------------------------- models and classes
def test_check_servable_refuses_what_cannot_be_shown():
    convlab.set_seed(0)
    with pytest.raises(ValueError, match="Sequential"):
        check_servable("model.npz")
    with pytest.raises(ValueError, match="not built"):
        check_servable(convlab.Sequential([Dense(3)]))
    with pytest.raises(ValueError, match="images"):
        check_servable(convlab.Sequential([Input((8,)), Dense(3)]))
    with pytest.raises(ValueError, match="images"):
        check_servable(convlab.Sequential([Input((8, 8, 2)), Flatten(), Dense(3)]))
    with pytest.raises(ValueError, match="vector"):
        check_servable(convlab.Sequential([Input((8, 8, 1)), Conv2D(2, 3)]))
    with pytest.raises(ValueError, match="Sequential"):
        ExplorerState(object())


def test_class_names():
    assert class_names_for(3, None) == ["0", "1", "2"]
    assert class_names_for(3, ["a", "b", "c"]) == ["a", "b", "c"]
    assert class_names_for(3, None, ("x", "y", "z")) == ["x", "y", "z"]
    assert class_names_for(3, ["a", "b", "c"], ("x", "y", "z")) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="--classes names 2 classes"):
        class_names_for(3, ["a", "b"])


def test_saved_class_names_are_shown(second_model, digits):
    second_model.class_names = ("v", "w", "x", "y", "z")
    try:
        client = create_app(ExplorerState(second_model, test_digits=digits)).test_client()
        assert client.get("/api/status").get_json()["model"]["classes"] == ["v", "w", "x", "y", "z"]
        assert client.post("/api/predict", json={"test_index": 0}).get_json()["classes"][0] == "v"
    finally:
        second_model.class_names = None


def test_create_app_arguments(small_model, digits):
    app = create_app(model=small_model, classes=list("abcdefghij"), test_digits=digits)
    assert app.test_client().get("/api/status").get_json()["model"]["classes"][0] == "a"
    with pytest.raises(TypeError, match="not both"):
        create_app(ExplorerState(), model=small_model)


# --------------------------------------------------------------------------- the Keras page
class FakeKerasModel:
    """What the Keras page uses of a Keras model (input_shape, output_shape, predict): no TensorFlow needed."""

    input_shape = (None, 16, 12, 3)
    output_shape = (None, 4)

    def __init__(self):
        self.seen = []

    def predict(self, x, verbose=0):
        self.seen.append(np.array(x))
        logits = np.array([x[..., 0].mean(), x[..., 1].mean(), x[..., 2].mean(), 0.5], np.float32)
        e = np.exp(logits * 5)
        return (e / e.sum())[None]


def test_keras_page_without_a_model(client):
    s = client.get("/api/status").get_json()["keras"]
    assert s["available"] is False and s["state"] in ("none", "no-tensorflow")
    assert "--model" in s["message"]
    assert_json_error(upload(client, b"x", "p.png", url="/api/keras/predict"), 503, "--model")


def test_keras_page_without_tensorflow(monkeypatch, small_model, digits, tmp_path):
    monkeypatch.setattr(keras_page, "tensorflow_installed", lambda: False)
    slot = KerasSlot(tmp_path / "mine.keras")
    client = create_app(ExplorerState(small_model, test_digits=digits, keras=slot)).test_client()
    s = client.get("/api/status").get_json()["keras"]
    assert s["available"] is False and 'pip install "convlab[keras]"' in s["message"]
    r = upload(client, png_bytes(Image.new("RGB", (8, 8))), "p.png", url="/api/keras/predict")
    assert_json_error(r, 503, 'pip install "convlab[keras]"')
    # the other pages work without TensorFlow
    assert_still_serving(client)


def test_keras_page_with_a_bad_file(monkeypatch, small_model, digits, tmp_path):
    monkeypatch.setattr(keras_page, "tensorflow_installed", lambda: True)
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a zip")
    slot = KerasSlot(bad)
    client = create_app(ExplorerState(small_model, test_digits=digits, keras=slot)).test_client()
    r = upload(client, png_bytes(Image.new("RGB", (8, 8))), "p.png", url="/api/keras/predict")
    assert_json_error(r, 503, "broken.keras")
    assert client.get("/api/status").get_json()["keras"]["state"] == "error"


def test_keras_predict_is_vgg_predict_image(small_model, digits, tmp_path):
    from convlab.bridge import vgg
    from convlab.data.images import load_image

    fake = FakeKerasModel()
    slot = KerasSlot(classes=["red", "green", "blue", "grey"], model=fake)
    client = create_app(ExplorerState(small_model, test_digits=digits, keras=slot)).test_client()
    s = client.get("/api/status").get_json()["keras"]
    assert (
        s["available"] is True and s["classes"] == ["red", "green", "blue", "grey"] and s["input_shape"] == [16, 12, 3]
    )
    photo = np.zeros((60, 45, 3), np.uint8)
    photo[..., 0] = 250  # a red photo
    data = png_bytes(Image.fromarray(photo))
    body = upload(client, data, "red.png", url="/api/keras/predict").get_json()
    assert [t["class"] for t in body["top"]][0] == "red" and len(body["top"]) == 3
    # the same pixels as vgg.predict_image reading the file
    path = tmp_path / "red.png"
    path.write_bytes(data)
    np.testing.assert_array_equal(photo_for(decode_upload(data), (16, 12, 3)), load_image(path, (16, 12), "rgb"))
    expected = vgg.predict_image(fake, path, ["red", "green", "blue", "grey"], verbose=False)
    assert [(t["class"], pytest.approx(t["probability"])) for t in body["top"]] == [
        (name, pytest.approx(p)) for name, p in expected
    ]
    # greyscale models get rgb2gray, as load_image(color_mode="grayscale")
    np.testing.assert_array_equal(photo_for(decode_upload(data), (16, 12, 1)), load_image(path, (16, 12), "grayscale"))
    # bad photos are the same 4xx JSON as on the digits page
    assert_json_error(upload(client, IMAGE_CASES["RGBA"], "x.png", url="/api/keras/predict"), (400, 415))
    assert_json_error(client.post("/api/keras/predict", json={"image": "x"}), 400, '"image"')


def test_keras_classes_must_fit():
    with pytest.raises(ValueError, match="--classes"):
        KerasSlot(classes=["a", "b"], model=FakeKerasModel())


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the overflow is the point
def test_non_finite_outputs_are_exact_in_bytes_and_null_in_lists(digits):
    convlab.set_seed(0)
    model = convlab.Sequential([Input((28, 28, 1)), Flatten(), Dense(2)])
    model.set_weights([np.full((784, 2), 3e38, np.float32), np.zeros(2, np.float32)])  # the sum overflows
    client = create_app(ExplorerState(model, test_digits=digits)).test_client()
    r = client.post("/api/predict", json={"test_index": 0})
    assert r.status_code == 200 and b"Infinity" not in r.data and b"NaN" not in r.data
    assert r.get_json()["probabilities"] == [None, None]
    key = r.get_json()["input_id"]
    x = default_model.as_inputs(digits[0][0:1])[0]
    with np.errstate(over="ignore", invalid="ignore"):
        want = layer_outputs(model, x)[-1]["values"]
    assert not np.isfinite(want).any()
    # the default: the float32 bytes, inf/NaN as they are (valid JSON: only a string carries them)
    layers = client.get(f"/api/layers?input={key}")
    assert layers.status_code == 200 and b"Infinity" not in layers.data and b"NaN" not in layers.data
    last = layers.get_json()["layers"][-1]
    assert layer_values(last).tobytes() == want.tobytes()
    assert last["min"] is None and last["max"] is None  # no finite value to scale by
    # ?format=list: null where JSON has no number
    listed = client.get(f"/api/layers?input={key}&format=list")
    assert listed.status_code == 200 and b"Infinity" not in listed.data and b"NaN" not in listed.data
    assert listed.get_json()["layers"][-1]["values"] == [None, None]


def test_review_findings_deep_json_and_huge_ints_are_400(client):
    """Python's JSON parser raises RecursionError on deeply nested input: a 400, not a 500. An int query value
    with more digits than any size is out of range (named), not "not an int"."""
    for path in ("/api/predict", "/api/layers"):
        r = client.post(path, data=b"[" * 100_000, content_type="application/json")
        assert r.status_code == 400 and "JSON object" in r.get_json()["error"]
    r = client.post("/api/predict", json={"test_index": 0})
    key = r.get_json()["input_id"]
    r = client.get(f"/api/explain?input={key}&layer=0&row=1234567890123&col=0&channel=0")
    assert r.status_code == 400 and "row" in r.get_json()["error"]
    r = client.get(f"/api/explain?input={key}&layer=0&row={'9' * 5000}&col=0&channel=0")
    assert r.status_code == 400 and r.get_json()["error"].startswith("row is out of range")
    r = client.get("/api/size?n=5&k=3&p=" + "1" * 5000)
    assert r.status_code == 400 and r.get_json()["error"].startswith("p is out of range")
