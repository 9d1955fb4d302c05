"""The explorer's core (convlab.web.images, digits, explain, arithmetic): no Flask, no browser.

Bad uploads of every kind, canvas payloads, MNIST's preprocessing recipe checked on real
MNIST digits, every explanation equal to the layer output it explains (the course's
seeds/004 CNN and a second, different architecture), and the arithmetic page's numbers.
"""

import base64
import io
import json
import struct
import zlib

import numpy as np
import pytest
from conftest import SHARPEN, SLIDE_INPUT, SLIDE_PAD1, SLIDE_VALID, three_channel_example
from PIL import Image
from scipy import ndimage

from convlab.model.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPool2D,
    Softmax,
    set_seed,
)
from convlab.model.sequential import Sequential
from convlab.shapes.sizes import conv_output_size
from convlab.web.arithmetic import MAX_POSITIONS, sharpen_example, size_explanation
from convlab.web.digits import BlankImageError, fit_input, mnist_preprocess
from convlab.web.explain import explain, layer_outputs
from convlab.web.images import MAX_UPLOAD_BYTES, ImageError, decode_canvas, decode_upload


# --------------------------------------------------------------------------- helpers
def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def noise(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def refused(data, status, *words, filename=None):
    """decode_upload(data) raises ImageError with ``status`` and a message holding every word (case-insensitive)."""
    with pytest.raises(ImageError) as info:
        decode_upload(data, filename=filename)
    assert info.value.status == status, str(info.value)
    message = str(info.value).lower()
    for word in words:
        assert word.lower() in message, (word, message)
    assert "traceback" not in message
    return str(info.value)


def png_with_header(width: int, height: int) -> bytes:
    """A PNG signature and an IHDR chunk declaring ``width×height`` 8-bit greyscale, and no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- uploads: accepted
@pytest.mark.parametrize(
    ("mode", "fmt", "shape"),
    [("L", "PNG", (12, 17)), ("RGB", "PNG", (12, 17, 3)), ("L", "BMP", (12, 17)), ("RGB", "WEBP", (12, 17, 3))],
)
def test_lossless_uploads_decode_exactly(mode, fmt, shape):
    arr = noise(shape)
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    out = decode_upload(encode(Image.fromarray(arr, mode), fmt, **kwargs), filename=f"x.{fmt.lower()}")
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, arr)


def test_jpeg_bilevel_memoryview_and_exif_orientation():
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :10] = 200
    out = decode_upload(memoryview(encode(Image.fromarray(arr), "JPEG", quality=95)))
    assert out.shape == (10, 20, 3) and abs(int(out[5, 2, 0]) - 200) < 8 and int(out[5, 17, 0]) < 8
    bilevel = Image.fromarray(arr[:, :, 0] > 100).convert("1")
    np.testing.assert_array_equal(decode_upload(encode(bilevel)), np.where(arr[:, :, 0] > 100, 255, 0))
    # A phone photo stored sideways with EXIF orientation 6 (rotate 90° clockwise to view): as viewers show it.
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6
    rotated = decode_upload(encode(img, "JPEG", quality=95, exif=exif.tobytes()))
    assert rotated.shape == (20, 10, 3)
    assert int(rotated[2, 5, 0]) > 150 and int(rotated[17, 5, 0]) < 50  # the bright left half is now on top


# --------------------------------------------------------------------------- uploads: refused
def test_empty_garbage_and_wrong_types_refused():
    refused(b"", 400, "empty", "0 bytes")
    refused(b"hello, this is not an image" * 10, 415, "not an image", "png or jpeg")
    refused(bytearray(b"GIF89a garbage"), 415, "header is damaged")
    with pytest.raises(ImageError) as info:
        decode_upload("a string")  # type: ignore[arg-type]
    assert info.value.status == 400 and "bytes" in str(info.value)


def test_too_many_bytes_is_413():
    message = refused(b"\0" * (MAX_UPLOAD_BYTES + 1), 413, "limit", "10.0 MB")
    assert "make it smaller" in message


def test_other_formats_are_not_parsed():
    # EPS would start Ghostscript, PDF and ICO are no photos: untrusted bytes get only the raster formats.
    refused(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", 415, "not an image")
    refused(encode(Image.fromarray(noise((16, 16, 3))), "PDF"), 415, "not an image")
    refused(encode(Image.fromarray(noise((16, 16, 3))), "ICO"), 415, "not an image")


def test_truncated_and_corrupt_files_refused():
    png = encode(Image.fromarray(noise((64, 64, 3))))
    refused(png[: len(png) // 2], 400, "truncated", "8-bit rgb")
    jpeg = encode(Image.fromarray(noise((64, 64, 3))), "JPEG")
    refused(jpeg[: len(jpeg) // 2], 400, "truncated")
    broken = bytearray(png)
    broken[len(png) // 2 : len(png) // 2 + 64] = b"\xff" * 64  # corrupt the compressed data
    refused(bytes(broken), 400)


def test_decompression_bombs_refused(monkeypatch):
    # A header declaring 100,000 × 100,000 pixels: refused before any pixel is decoded.
    refused(png_with_header(100_000, 100_000), 413, "too large")
    small = encode(Image.fromarray(noise((20, 20))))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    refused(small, 413, "too large")  # 400 pixels: over twice the limit (Pillow's own error)
    with pytest.warns(Image.DecompressionBombWarning):
        # 144 pixels: in Pillow's warning zone (limit to twice the limit) — refused too.
        refused(encode(Image.fromarray(noise((12, 12)))), 413, "144 pixels", "decompression bomb")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Image.fromarray(noise((8, 8)).astype(np.uint16) * 257), ["16-bit", "8-bit"]),
        (lambda: Image.fromarray(noise((8, 8)).astype(np.float32)), ["floating-point", "8-bit"]),
        (lambda: Image.fromarray(noise((8, 8, 4)), "RGBA"), ["transparency", "rgba"]),
        (lambda: Image.fromarray(noise((8, 8, 2)), "LA"), ["transparency"]),
        (lambda: Image.fromarray(noise((8, 8))).convert("P"), ["palette"]),
        (lambda: Image.fromarray(noise((8, 8, 3))).convert("P", palette=Image.Palette.ADAPTIVE), ["palette"]),
    ],
)
def test_unsupported_png_kinds_refused(make, words):
    fmt = "TIFF" if make().mode == "F" else "PNG"
    message = refused(encode(make(), fmt), 415, *words, filename="drawing.png")
    assert message.startswith("drawing.png: ") and "save it as an 8-bit RGB or greyscale PNG or JPEG" in message


def test_transparent_colour_cmyk_palette_gif_and_animations_refused():
    refused(encode(Image.fromarray(noise((8, 8), 1)), transparency=0), 415, "transparent colour")
    refused(encode(Image.fromarray(noise((8, 8, 4)), "CMYK"), "JPEG"), 415, "cmyk")
    refused(encode(Image.fromarray(noise((8, 8, 3))), "GIF"), 415, "palette")
    frames = [Image.fromarray(noise((8, 8, 3), seed)).convert("P") for seed in range(3)]
    refused(encode(frames[0], "GIF", save_all=True, append_images=frames[1:]), 415, "3 frames")
    grey = [Image.fromarray(noise((8, 8), seed)) for seed in range(2)]
    refused(encode(grey[0], "PNG", save_all=True, append_images=grey[1:]), 415, "2 frames")  # an animated PNG
    refused(encode(grey[0], "TIFF", save_all=True, append_images=grey[1:]), 415, "2 frames")  # multi-page


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on damaged TIFF tags and EXIF data
def test_damaged_files_only_ever_raise_image_errors():
    """Random byte damage to files of every accepted format: a decoded image or an ImageError, nothing else."""
    rng = np.random.default_rng(0)
    files = [encode(Image.fromarray(noise((24, 30, 3))), fmt) for fmt in ("PNG", "JPEG", "BMP", "WEBP", "TIFF")]
    files.append(encode(Image.fromarray(noise((24, 30))), "GIF"))
    statuses = set()
    for i in range(360):
        data = bytearray(files[i % len(files)])
        for _ in range(int(rng.integers(1, 5))):
            at = int(rng.integers(len(data)))
            if rng.random() < 0.5:
                data[at] = int(rng.integers(256))
            else:
                del data[at : at + int(rng.integers(1, 40))]
        try:
            out = decode_upload(bytes(data))
            assert out.dtype == np.uint8 and out.ndim in (2, 3)
        except ImageError as exc:
            statuses.add(exc.status)
    assert statuses <= {400, 413, 415} and 400 in statuses


def test_client_filename_is_made_harmless_in_messages():
    message = refused(b"", 400, filename="../../etc/<script>alert(1)</script>.png")
    assert message.startswith("script_.png: ")  # the last path part only, "<>" replaced
    message = refused(b"", 400, filename="my\x00digit\n<b>.png")
    assert message.startswith("my_digit__b_.png: ")


# --------------------------------------------------------------------------- canvas payloads
def canvas(arr: np.ndarray) -> dict:
    return {"width": arr.shape[1], "height": arr.shape[0], "pixels": base64.b64encode(arr.tobytes()).decode()}


def test_canvas_round_trip():
    arr = noise((280, 280))
    np.testing.assert_array_equal(decode_canvas(canvas(arr)), arr)
    tall = noise((3, 1))
    np.testing.assert_array_equal(decode_canvas(canvas(tall)), tall)


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ([1, 2, 3], ["canvas:", "object", "list"]),
        ({"height": 2, "pixels": "AAAA"}, ["canvas.width", "missing"]),
        ({"width": True, "height": 2, "pixels": "AAAA"}, ["canvas.width", "bool"]),
        ({"width": 2.0, "height": 2, "pixels": "AAAA"}, ["canvas.width", "float"]),
        ({"width": "280", "height": 2, "pixels": "AAAA"}, ["canvas.width", "str"]),
        ({"width": 0, "height": 2, "pixels": ""}, ["canvas.width", "1 to 1024", "got 0"]),
        ({"width": 2, "height": 1025, "pixels": ""}, ["canvas.height", "got 1025"]),
        ({"width": 2, "height": 10**40, "pixels": ""}, ["canvas.height", "huge"]),
        ({"width": 2, "height": 2}, ["canvas.pixels", "missing"]),
        ({"width": 2, "height": 2, "pixels": [0, 0, 0, 0]}, ["canvas.pixels", "string", "list"]),
        ({"width": 2, "height": 2, "pixels": "AA*A"}, ["canvas.pixels", "base64"]),
        ({"width": 2, "height": 2, "pixels": "AAA"}, ["canvas.pixels", "base64"]),
        ({"width": 2, "height": 2, "pixels": "ÄÄÄÄ"}, ["canvas.pixels", "base64"]),
        ({"width": 280, "height": 280, "pixels": "AAAAAAAAAAAAAAAA"}, ["expected 78400 bytes (280×280), got 12"]),
        ({"width": 2, "height": 2, "pixels": "A" * 10_000}, ["canvas.pixels", "expected 4 bytes"]),
    ],
)
def test_canvas_payload_errors_name_the_field(payload, words):
    with pytest.raises(ImageError) as info:
        decode_canvas(payload)
    assert info.value.status == 400
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_blank_canvas_and_uniform_images_are_blank():
    for arr in (np.zeros((280, 280), np.uint8), np.full((50, 60), 255, np.uint8), np.full((50, 60, 3), 128, np.uint8)):
        with pytest.raises(BlankImageError, match="draw a digit first") as info:
            mnist_preprocess(arr)
        assert info.value.status == 400 and isinstance(info.value, ImageError)
        with pytest.raises(BlankImageError):
            fit_input(arr, (28, 28, 1))
    faint = np.zeros((280, 280), np.uint8)
    faint[100:180, 130:140] = 10  # 4% ink: no digit
    with pytest.raises(BlankImageError):
        mnist_preprocess(decode_canvas(canvas(faint)))


# --------------------------------------------------------------------------- MNIST preprocessing
def stroke_canvas() -> np.ndarray:
    """A "7" drawn small and off-centre on a 280×280 canvas, white on black, with soft edges."""
    arr = np.zeros((280, 280), np.float64)
    arr[30:42, 20:110] = 1.0  # the bar
    for t in np.linspace(0, 1, 200):  # the slanted leg
        r, c = int(40 + 110 * t), int(108 - 50 * t)
        arr[r : r + 12, c : c + 12] = 1.0
    return (ndimage.gaussian_filter(arr, 2) * 255).round().astype(np.uint8)


def ink_box(img: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_preprocessing_follows_mnist_recipe():
    drawn = stroke_canvas()
    out = mnist_preprocess(drawn)
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0 and out.max() > 0.9
    h, w = ink_box(out > 0.1)
    assert max(h, w) == 20 and min(h, w) < 20  # the longer side fills the 20-pixel box; the aspect ratio is kept
    assert max(ink_box(out)) <= 20
    cy, cx = ndimage.center_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    # Black on white (a photo of paper, a light canvas) gives the same digit.
    np.testing.assert_allclose(mnist_preprocess(255 - drawn), out, atol=1e-6)
    np.testing.assert_allclose(mnist_preprocess(np.stack([255 - drawn] * 3, axis=-1)), out, atol=1e-5)
    np.testing.assert_allclose(mnist_preprocess(255 - drawn, invert=True), out, atol=1e-6)
    np.testing.assert_allclose(fit_input(drawn, (28, 28, 1))[:, :, 0], out)
    # A tiny drawing is enlarged to the same 20-pixel box.
    tiny = np.zeros((40, 40), np.uint8)
    tiny[10:18, 20:22] = 255
    assert max(ink_box(mnist_preprocess(tiny) > 0.1)) == 20
    with pytest.raises(TypeError, match="invert"):
        mnist_preprocess(drawn, invert="yes")
    with pytest.raises(ValueError, match=r"grey must have shape"):
        mnist_preprocess(np.zeros((5, 5, 4), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        mnist_preprocess(np.zeros((5, 5), np.int32))


@pytest.fixture(scope="module")
def mnist_digits():
    from convlab.datasets import load_mnist

    x, y = load_mnist()
    return x[:60], y[:60]


@pytest.mark.slow
def test_real_mnist_digits_come_back_as_themselves(mnist_digits):
    x, _ = mnist_digits
    errors, big_errors = [], []
    for digit in x:
        # Drawn 10× larger (each pixel a 10×10 square), as on the page's 280×280 canvas.
        big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.NEAREST))
        out = mnist_preprocess(big)
        errors.append(np.abs(out - digit / 255.0).mean())
        cy, cx = ndimage.center_of_mass(out)
        assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
        smooth = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BILINEAR))
        big_errors.append(np.abs(mnist_preprocess(smooth) - digit / 255.0).mean())
    errors = np.array(errors)
    assert np.median(errors) < 1e-3 and errors.max() < 0.1  # a half-pixel tie in the centre of mass may shift one
    assert np.mean(big_errors) < 0.06  # smoothed edges widen the box a little
    # An MNIST digit that is already 28×28 is used as it is (only scaled): what the model was trained on.
    np.testing.assert_array_equal(fit_input(x[0], (28, 28, 1))[:, :, 0], (x[0] / 255.0).astype(np.float32))
    np.testing.assert_allclose(fit_input(255 - x[0], (28, 28, 1))[:, :, 0], x[0] / 255.0, atol=1e-6)


def test_fit_input_for_other_models():
    rgb = noise((64, 48, 3))
    out = fit_input(rgb, (32, 32, 3))
    assert out.shape == (32, 32, 3) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    flat = np.full((20, 20, 3), (255, 0, 0), np.uint8)  # pure red
    np.testing.assert_allclose(fit_input(flat, (20, 20, 1)), 0.3, atol=1e-6)  # the slides' 0.3·R + 0.59·G + 0.11·B
    grey = noise((40, 40))
    g3 = fit_input(grey, (16, 16, 3))
    np.testing.assert_array_equal(g3[:, :, 0], g3[:, :, 2])
    np.testing.assert_allclose(fit_input(grey, (40, 40, 1))[:, :, 0], grey / 255.0, atol=1e-6)
    assert fit_input(grey, (None, 10, 12, 1)).shape == (10, 12, 1)
    with pytest.raises(ValueError, match=r"C = 1 \(greyscale\) or 3 \(RGB\).*got C = 2"):
        fit_input(grey, (32, 32, 2))
    with pytest.raises(TypeError, match="input_shape"):
        fit_input(grey, (32, 32.0, 1))
    with pytest.raises(ValueError, match="H, W >= 1"):
        fit_input(grey, (0, 32, 1))
    with pytest.raises(TypeError, match="numpy array"):
        fit_input([[0, 1]], (28, 28, 1))


# --------------------------------------------------------------------------- explanations
def random_biases(model: Sequential, seed: int = 1) -> None:
    """Glorot kernels are random; zero biases would leave the bias arithmetic untested."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if "bias" in layer.params:
            layer.params["bias"][...] = rng.normal(0, 0.05, layer.params["bias"].shape)


@pytest.fixture(scope="module")
def course_cnn():
    """seeds/004's architecture (542,230 parameters) with random weights, and a drawn "7" as the page makes it."""
    set_seed(0)
    model = Sequential(
        [
            Input((28, 28, 1)),
            Conv2D(32, 3, activation="relu"),
            MaxPool2D((2, 2)),
            Flatten(),
            Dense(100, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )
    random_biases(model)
    assert model.count_params() == 542_230
    x = fit_input(stroke_canvas(), (28, 28, 1))
    return model, x, layer_outputs(model, x)


@pytest.fixture(scope="module")
def colour_net():
    """A second, different architecture: colour 32×32 input, two conv blocks, strides, "same" pads, odd windows."""
    set_seed(1)
    model = Sequential(
        [
            Input((32, 32, 3)),
            Conv2D(4, 3, strides=2, padding="same"),  # 16×16×4, linear, pads (0, 1) each axis
            Activation("tanh"),
            MaxPool2D(3, strides=2, padding="same"),  # 8×8×4, a padded row/column of −inf
            Conv2D(6, (3, 2), activation="relu"),  # 6×7×6, a non-square kernel
            AveragePooling2D(3, strides=2, padding="same"),  # 3×4×6, padded cells not counted
            Flatten(),
            Dropout(0.5),
            Dense(8, activation="sigmoid"),
            Dense(5),
            Softmax(),
        ]
    )
    random_biases(model, 2)
    x = np.random.default_rng(3).random((32, 32, 3)).astype(np.float32)
    return model, x, layer_outputs(model, x)


def test_layer_outputs_describe_every_layer(course_cnn, colour_net):
    model, x, outs = course_cnn
    assert [o["output_shape"] for o in outs] == [[26, 26, 32], [13, 13, 32], [5408], [100], [10]]
    assert [o["kind"] for o in outs] == ["maps", "maps", "vector", "vector", "vector"]
    assert [o["class_name"] for o in outs] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert [o["activation"] for o in outs] == ["relu", None, None, "relu", "softmax"]
    assert all(o["explainable"] for o in outs) and [o["index"] for o in outs] == list(range(5))
    assert [o["name"] for o in outs] == [layer.name for layer in model.layers]
    np.testing.assert_allclose(outs[-1]["values"], model.predict(x[None])[0], rtol=1e-6)
    assert outs[0]["min"] == float(outs[0]["values"].min()) and outs[0]["values"].dtype == np.float32
    before = outs[0]["values"].copy()
    layer_outputs(model, np.zeros_like(x))  # another forward pass must not change arrays handed out before
    np.testing.assert_array_equal(outs[0]["values"], before)
    cmodel, cx, couts = colour_net
    assert [o["output_shape"] for o in couts] == [
        [16, 16, 4], [16, 16, 4], [8, 8, 4], [6, 7, 6], [3, 4, 6], [72], [72], [8], [5], [5],
    ]  # fmt: skip
    np.testing.assert_allclose(couts[-1]["values"], cmodel.predict(cx[None])[0], rtol=1e-6)
    np.testing.assert_array_equal(layer_outputs(cmodel, cx[None])[3]["values"], couts[3]["values"])  # batch of 1


def positions(entry: dict, rng: np.random.Generator, n: int) -> list[dict]:
    """Every corner and edge-ish position plus ``n`` random ones, as explain's keyword arguments."""
    shape = entry["output_shape"]
    if entry["kind"] == "vector":
        units = sorted({0, shape[0] - 1, *rng.integers(0, shape[0], n).tolist()})
        return [{"unit": u} for u in units]
    h, w, c = shape
    picks = {(r, q, k) for r in (0, h - 1) for q in (0, w - 1) for k in (0, c - 1)}
    picks |= {tuple(int(v) for v in (rng.integers(h), rng.integers(w), rng.integers(c))) for _ in range(n)}
    return [{"row": r, "col": q, "channel": k} for r, q, k in sorted(picks)]


def written(v: float) -> str:
    """A number as the explanations write a factor: 4 significant digits, negatives in parentheses."""
    text = f"{float(v):.4g}"
    text = "0" if text == "-0" else text
    return f"({text})" if text.startswith("-") else text


def check_explanation(e: dict, entry: dict, where: dict) -> None:
    """The explanation's value equals the layer's output there; its own numbers add up; it is JSON."""
    json.dumps(e, allow_nan=False)
    key = (where["unit"],) if "unit" in where else (where["row"], where["col"], where["channel"])
    layer_value = float(entry["values"][key])
    assert e["map_value"] == layer_value and e["equal"] is True, e["text"]
    assert abs(e["value"] - layer_value) <= 1e-5 * max(1.0, abs(layer_value)), e["text"]
    assert e["position"] == where and e["text"].count("\n") >= 1 and "✓ equals" in e["text"]
    if e["kind"] == "conv":
        window, kernel = np.array(e["window"]), np.array(e["kernel"])
        assert window.shape == kernel.shape == np.array(e["products"]).shape
        np.testing.assert_allclose(np.sum(window * kernel), e["sum"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(e["sum"] + e["bias"], e["preactivation"], rtol=1e-5, atol=1e-6)
        assert e["terms"].count("*") == window.size and e["backend"] == "reference"
        assert np.all(window[np.array(e["padded"])] == 0)  # zero padding
    elif e["kind"] == "max_pool":
        window = np.array(e["window"], dtype=float)
        wr, wc = e["winner"]
        assert window[wr, wc] == e["value"] and not e["padded"][wr][wc]
    elif e["kind"] == "avg_pool":
        window = np.array(e["window"], dtype=float)
        assert e["count"] == int(np.sum(~np.array(e["padded"])))
        np.testing.assert_allclose(np.nansum(window) / e["count"], e["value"], rtol=1e-5, atol=1e-7)
    elif e["kind"] == "dense":
        assert len(e["top_contributions"]) == min(10, e["inputs"])
        listed = sum(c["product"] for c in e["top_contributions"])
        np.testing.assert_allclose(listed + e["rest"], e["sum"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(e["sum"] + e["bias"], e["preactivation"], rtol=1e-9, atol=1e-12)
        magnitudes = [abs(c["product"]) for c in e["top_contributions"]]
        assert magnitudes == sorted(magnitudes, reverse=True)


@pytest.mark.parametrize("fixture", ["course_cnn", "colour_net"])
def test_every_explanation_equals_the_layer_output(fixture, request):
    model, x, outs = request.getfixturevalue(fixture)
    rng = np.random.default_rng(0)
    kinds = set()
    for index, entry in enumerate(outs):
        for where in positions(entry, rng, 12):
            e = explain(model, x, index, outputs=outs, **where)
            kinds.add(e["kind"])
            assert e["layer"] == index and e["name"] == entry["name"] and e["class_name"] == entry["class_name"]
            check_explanation(e, entry, where)
    expected = {"conv", "max_pool", "dense", "flatten"}
    if fixture == "colour_net":
        expected |= {"avg_pool", "activation", "dropout"}
    assert kinds == expected


def test_explanations_without_precomputed_outputs_and_strings(course_cnn):
    model, x, outs = course_cnn
    e = explain(model, x, "0", row="3", col="5", channel="7")
    assert e == explain(model, x, 0, row=3, col=5, channel=7, outputs=outs)
    assert explain(model, x, np.int64(4), unit=np.int32(2))["value"] == pytest.approx(float(outs[4]["values"][2]))


def test_conv_explanation_is_written_as_the_slides(course_cnn):
    model, x, outs = course_cnn
    e = explain(model, x, 0, row=10, col=12, channel=5, outputs=outs)
    assert e["input_origin"] == [10, 12] and e["kernel_size"] == [3, 3] and e["pads"] == [0, 0, 0, 0]
    np.testing.assert_array_equal(np.array(e["window"])[:, :, 0], x[10:13, 12:15, 0])
    np.testing.assert_array_equal(np.array(e["kernel"]), model.layers[0].params["kernel"][:, :, :, 5])
    # Every product, 4 significant digits, negative factors in parentheses (as the slides' 113*(-1)).
    kernel = model.layers[0].params["kernel"][:, :, 0, 5]
    expected = [f"{written(p)}*{written(q)}" for p, q in zip(x[10:13, 12:15, 0].ravel(), kernel.ravel())]
    assert e["terms"].split(" + ") == expected
    lines = e["text"].split("\n")
    assert lines[1] == f"x[10:13, 12:15, :] · kernel[:, :, :, 5] = {e['terms']} = {written(e['sum']).strip('()')}"
    assert lines[2].startswith("+ bias ") and lines[3].startswith("relu: max(")
    dense = explain(model, x, 4, unit=7, outputs=outs, top=3)
    assert len(dense["top_contributions"]) == 3 and "softmax over the 10 units" in dense["text"]
    assert dense["value"] == pytest.approx(float(outs[4]["values"][7]), rel=1e-5)
    first = dense["top_contributions"][0]
    assert first["product"] == pytest.approx(first["x"] * first["w"]) and "source" not in first
    through_flatten = explain(model, x, 3, unit=0, outputs=outs)["top_contributions"][0]
    r, c, ch = through_flatten["source_index"]
    assert through_flatten["source"] == f"{model.layers[1].name} ({r}, {c}, {ch})"
    assert through_flatten["x"] == float(outs[1]["values"][r, c, ch])


def test_slide_three_channel_example_explained():
    """The slides' 5×5×3 input, two 3×3×3 filters, zero padding 1, stride 2 (reference-numbers.md)."""
    xs, w, b, o = three_channel_example()
    model = Sequential([Input((5, 5, 3)), Conv2D(2, 3, strides=2, padding=1)])
    model.set_weights([w, b])
    outs = layer_outputs(model, xs.astype(np.float32))
    for r in range(3):
        for c in range(3):
            for k in range(2):
                e = explain(model, xs.astype(np.float32), 0, row=r, col=c, channel=k, outputs=outs)
                assert e["value"] == o[r, c, k] and e["equal"] and e["activation"] == "linear"
    e = explain(model, xs.astype(np.float32), 0, row=0, col=0, channel=0, outputs=outs)
    assert e["input_origin"] == [-1, -1] and e["pads"] == [1, 1, 1, 1]
    assert np.array(e["padded"]).tolist() == [[True, True, True], [True, False, False], [True, False, False]]
    assert e["sum"] == 1.0 and e["bias"] == 1.0 and e["preactivation"] == 2.0
    assert "positions are padding" in e["text"] and e["text"].split("\n")[2] == "+ bias 1 = 2"
    assert e["text"].split("\n")[1].endswith(" = 1")


def test_pooling_explanations_window_and_winner(colour_net):
    model, x, outs = colour_net
    # Max pool, 3×3 stride 2, "same": the last window hangs over the padding (pads 0 before, 1 after).
    e = explain(model, x, 2, row=7, col=7, channel=1, outputs=outs)
    assert e["kind"] == "max_pool" and e["pads"] == [0, 1, 0, 1] and e["input_origin"] == [14, 14]
    assert np.array(e["padded"]).sum() == 5 and e["window"][2][2] is None
    wr, wc = e["winner"]
    assert e["winner_input"] == [14 + wr, 14 + wc]
    assert outs[1]["values"][14 + wr, 14 + wc, 1] == e["value"] and "the winner is input row" in e["text"]
    a = explain(model, x, 4, row=2, col=3, channel=0, outputs=outs)
    assert a["kind"] == "avg_pool" and a["count"] == 4 and "/ 4 = " in a["text"]  # 2×2 real pixels of 3×3
    d = explain(model, x, 7, unit=0, outputs=outs)["top_contributions"][0]  # Dense ← Dropout ← Flatten
    assert d["source"].startswith(model.layers[4].name + " (") and len(d["source_index"]) == 3
    ties = Sequential([Input((2, 2, 1)), MaxPool2D(2)])
    t = explain(ties, np.ones((2, 2, 1), np.float32), 0, row=0, col=0, channel=0)
    assert t["winner"] == [0, 0]  # the first maximum in row-major order, as TensorFlow


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"layer": 5}, ValueError, r"layer must be an int in \[0, 4\] for model .*, got 5"),
        ({"layer": -1}, ValueError, r"layer must be an int in \[0, 4\].*got -1"),
        ({"layer": "one"}, ValueError, r"layer must be an int.*got 'one'"),
        ({"layer": 1.0}, TypeError, r"layer must be an int.*got 1.0 \(float\)"),
        ({"layer": True}, TypeError, r"layer must be an int.*bool"),
        ({"layer": None}, TypeError, r"layer must be an int"),
        ({"layer": 0, "row": 26, "col": 0, "channel": 0}, ValueError, r"row must be an int in \[0, 25\] for layer 0 "),
        ({"layer": 0, "row": 0, "col": -3, "channel": 0}, ValueError, r"col must be an int in \[0, 25\].*got -3"),
        ({"layer": 0, "row": 0, "col": 0, "channel": 32}, ValueError, r"channel must be an int in \[0, 31\].*got 32"),
        ({"layer": 0, "row": 0, "col": 0, "channel": "1e3"}, ValueError, r"channel must be an int.*got '1e3'"),
        ({"layer": 0, "row": 2.5, "col": 0, "channel": 0}, TypeError, r"row must be an int"),
        ({"layer": 0, "row": 0, "col": 0}, ValueError, r"channel is required for layer 0"),
        ({"layer": 0, "unit": 3}, ValueError, r"unit is for layers with a vector output; layer 0"),
        ({"layer": 1, "row": 13, "col": 0, "channel": 0}, ValueError, r"row must be an int in \[0, 12\] for layer 1"),
        ({"layer": 3, "unit": 100}, ValueError, r"unit must be an int in \[0, 99\] for layer 3 \(.*100 units\)"),
        ({"layer": 4, "unit": -1}, ValueError, r"unit must be an int in \[0, 9\].*got -1"),
        ({"layer": 4}, ValueError, r"unit is required for layer 4"),
        ({"layer": 4, "unit": 1, "row": 0}, ValueError, r"row is for layers with feature maps; layer 4"),
        ({"layer": 4, "unit": 1, "top": 0}, ValueError, r"top must be an int in \[1, 1000\]"),
        ({"layer": 4, "unit": 1, "top": 1001}, ValueError, r"top must be an int in \[0, 1000\]"),
        ({"layer": 4, "unit": 1, "top": "many"}, ValueError, r"top must be an int"),
        ({"layer": 4, "unit": 10**30}, ValueError, r"unit must be an int.*huge"),
    ],
)
def test_explain_parameters_are_checked(course_cnn, kwargs, error, pattern):
    model, x, outs = course_cnn
    with pytest.raises(error, match=pattern):
        explain(model, x, outputs=outs, **kwargs)


def test_layer_outputs_arguments_checked(course_cnn):
    model, x, _ = course_cnn
    with pytest.raises(TypeError, match="model must be a convlab Sequential"):
        layer_outputs("model", x)
    with pytest.raises(ValueError, match=r"x must have the model's input shape \(28, 28, 1\).*\(28, 28\)"):
        layer_outputs(model, x[:, :, 0])
    with pytest.raises(TypeError, match="x must be a numpy array"):
        layer_outputs(model, x.tolist())
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        layer_outputs(model, bad)
    with pytest.raises(ValueError, match="outputs must be layer_outputs"):
        explain(model, x, 0, row=0, col=0, channel=0, outputs=[])


# --------------------------------------------------------------------------- arithmetic
def test_size_explanation_numbers():
    e = size_explanation("5", "3", "1", "2")
    assert e == {
        "n": 5,
        "kernel_size": 3,
        "padding": 1,
        "strides": 2,
        "output_size": 3,
        "formula": "T = (5 + 2·1 − 3)/2 + 1 = 3",
        "pads": [1, 1],
        "padded_size": 7,
        "positions": [0, 2, 4],
        "covered": True,
        "uncovered": 0,
    }
    assert size_explanation(28, 3, 0, 1)["output_size"] == 26
    same = size_explanation("6", "3", " SAME ", "2")
    assert same["padding"] == "same" and same["output_size"] == 3 and same["pads"] == [0, 1]
    assert "TensorFlow pads 0 before, 1 after" in same["formula"]
    floor = size_explanation(6, 3, "valid", 2)
    assert (
        floor["output_size"] == 2 and not floor["covered"] and floor["uncovered"] == 1 and "floor" in floor["formula"]
    )
    assert size_explanation(10**6, 1, 0, 1)["positions"] is None and MAX_POSITIONS < 10**6
    json.dumps(size_explanation("7", "3", "same", "1"))


@pytest.mark.parametrize(
    ("args", "error", "pattern"),
    [
        (("abc", "3", "0", "1"), ValueError, r"^n \(the input size N\) must be a whole number, got 'abc'"),
        (("5", "", "0", "1"), ValueError, r"^k \(the kernel size K\) must be a whole number"),
        (("5", "3", "1.5", "1"), ValueError, r"^p \(the padding P\) must be a whole number, \"valid\" or \"same\""),
        (("5", "3", "full", "1"), ValueError, r"^p \(the padding P\)"),
        (("5", "3", "0", "2x"), ValueError, r"^s \(the stride S\) must be a whole number"),
    ],
)
def test_size_query_values_name_the_parameter(args, error, pattern):
    with pytest.raises(error, match=pattern):
        size_explanation(*args)


@pytest.mark.parametrize(
    "args",
    [(5, 7, 0, 1), (-1, 3, 0, 1), (5, 0, 0, 1), (5, 3, -1, 1), (5, 3, 0, 0), (10**30, 3, 0, 1), (5.0, 3, 0, 1)],
)
def test_size_errors_are_the_engines_own(args):
    with pytest.raises((ValueError, TypeError)) as engine:
        conv_output_size(*args)
    with pytest.raises(type(engine.value)) as ours:
        size_explanation(*args)
    assert str(ours.value) == str(engine.value)
    with pytest.raises(type(engine.value)) as from_strings:
        size_explanation(*(str(a) if isinstance(a, int) else a for a in args))
    assert str(from_strings.value) == str(engine.value)


def test_sharpen_example_is_the_slides():
    e = sharpen_example()
    assert e["input"] == SLIDE_INPUT.tolist() and e["kernel"] == SHARPEN.tolist()
    valid, pad1 = e["cases"]
    assert valid["padding"] == 0 and valid["output"] == SLIDE_VALID.tolist() and valid["output_size"] == 3
    assert pad1["padding"] == 1 and pad1["output"] == SLIDE_PAD1.tolist() and len(pad1["padded_input"]) == 7
    assert valid["lines"][0][0] == ("60*0 + 113*(-1) + 56*0 + 73*(-1) + 121*5 + 54*(-1) + 131*0 + 99*(-1) + 70*0 = 266")
    assert valid["formula"] == "T = (5 + 2·0 − 3)/1 + 1 = 3"
    for case in (valid, pad1):
        for i, row in enumerate(case["lines"]):
            for j, line in enumerate(row):
                terms, total = line.split(" = ")
                products = [int(a) * int(b.strip("()")) for a, b in (t.split("*") for t in terms.split(" + "))]
                assert sum(products) == int(total) == case["output"][i][j]
    json.dumps(e)


# --------------------------------------------------------------------------- review findings
def _jpeg(array: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG", quality=95, **save)
    return buf.getvalue()


def test_a_phone_photo_in_mpo_form_gives_its_first_picture():
    """Many phones save JPEGs with a second picture (a depth or HDR gain map) after the photo: Pillow calls
    them MPO, with two frames. The photo is frame 0, not an animation to refuse."""
    photo = np.zeros((40, 60, 3), np.uint8)
    photo[10:30, 20:40] = (200, 30, 30)
    gain_map = np.full((20, 30, 3), 128, np.uint8)
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "MPO", save_all=True, append_images=[Image.fromarray(gain_map)], quality=95)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        assert im.format == "MPO" and im.n_frames == 2
    got = decode_upload(buf.getvalue(), filename="phone.jpg")
    assert got.shape == (40, 60, 3)
    np.testing.assert_allclose(got.astype(int), decode_upload(_jpeg(photo)).astype(int), atol=0)


def test_exif_orientation_applied_for_digits_and_kept_for_the_keras_page(tmp_path):
    """A photo stored sideways with EXIF "rotate 90°": upright for the Digits page; as stored for page 4, which
    must give what convlab.vgg.predict_image gives for the same file (load_image does not rotate)."""
    from convlab.data.images import load_image

    stored = np.zeros((60, 90, 3), np.uint8)
    stored[:, :30] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    data = _jpeg(stored, exif=exif)
    assert decode_upload(data).shape == (90, 60, 3)
    as_stored = decode_upload(data, exif_transpose=False)
    assert as_stored.shape == (60, 90, 3)
    path = tmp_path / "sideways.jpg"
    path.write_bytes(data)
    np.testing.assert_array_equal(as_stored, load_image(path))


def test_max_side_shrinks_big_images_while_decoding():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (2400, 3300), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, "PNG")
    png = decode_upload(buf.getvalue(), max_side=1000)
    assert png.shape == (800, 1100)  # reduced by 3: each pixel the mean of a 3×3 box
    np.testing.assert_allclose(png[0, 0], big[:3, :3].mean(), atol=0.51)
    jpeg = decode_upload(_jpeg(np.repeat(big[..., None], 3, axis=-1)), max_side=1000)
    assert max(jpeg.shape[:2]) >= 1000 and jpeg.shape[2] == 3  # DCT-domain scaling, at least max_side
    assert decode_upload(buf.getvalue()).shape == big.shape
    with pytest.raises(TypeError, match="max_side must be an int >= 1 or None, got 0"):
        decode_upload(buf.getvalue(), max_side=0)


@pytest.mark.parametrize("kwargs", [dict(dilation_rate=2), dict(groups=2)])
def test_a_dilated_or_grouped_conv_is_not_explained_as_a_dense_window(kwargs):
    """The explanation shows one dense KH×KW×C_in window: not what a dilated or grouped Conv2D multiplies."""
    model = Sequential([Conv2D(2, 3, input_shape=(9, 9, 2), **kwargs), Flatten(), Dense(3)])
    x = np.random.default_rng(0).random((9, 9, 2)).astype(np.float32)
    outputs = layer_outputs(model, x)
    assert outputs[0]["explainable"] is False and outputs[2]["explainable"] is True
    with pytest.raises(ValueError, match="Conv2D layer cannot be explained here"):
        explain(model, x, 0, row=0, col=0, channel=0)
