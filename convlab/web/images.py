"""Decoding what a browser sends: uploaded image files and the drawing canvas's pixels.

Everything here handles untrusted bytes, so it refuses rather than guesses:

- an upload is decoded in memory (``io.BytesIO``; nothing is written to disk) by Pillow,
  restricted to the common raster formats (PNG, JPEG, GIF, BMP, WebP, TIFF) — never
  EPS/PDF and friends, whose plugins start external programs;
- it is loaded completely, so a truncated or corrupt file fails here and not later;
- images above Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``,
  read at every call) are refused from the header alone, before any pixel is decoded;
- only 8-bit greyscale (``"L"``, and bilevel ``"1"``) and 8-bit RGB are accepted. 16-bit
  and float images, transparency, CMYK, palettes and animations are refused with a
  message that says what was found and how to save the file instead: converting them
  silently would hide choices (which background under the transparency? which colour
  profile?) that change what the network sees.

Every refusal is an :class:`ImageError` whose message is shown to the user as is and
whose ``status`` is the HTTP code the server answers with (400, 413 or 415).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from convlab.util.i18n import N_, _, ngettext

__all__ = [
    "ImageError",
    "MAX_UPLOAD_BYTES",
    "MAX_CANVAS_SIDE",
    "ACCEPTED_FORMATS",
    "decode_upload",
    "decode_canvas",
]

#: The stated upload limit (README): 10 MiB. The server's request limit sits slightly above it, so that
#: a file just over the limit gets this module's readable 413 rather than a bare one.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024

#: The largest canvas side accepted, in pixels (the page's canvas is 280×280).
MAX_CANVAS_SIDE = 1024

#: Pillow format names an upload may have. Pillow can open many more (EPS, PDF, ICNS, …); some of their
#: plugins run external programs or parse rarely used containers, so untrusted bytes get only these.
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")

#: What every refusal suggests instead (shown translated: ``_(_SAVE_AS)``).
_SAVE_AS = N_("save it as an 8-bit RGB or greyscale PNG or JPEG and upload that")


class ImageError(ValueError):
    """An upload or canvas that cannot be used; the message is meant for the user, as is.

    Attributes:
        status: the HTTP status the server answers with: 400 (bad or corrupt data),
            413 (too large) or 415 (an image kind that is not supported).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = int(status)

    @property
    def message(self) -> str:
        """The message shown to the user."""
        return str(self.args[0])


def _label(filename: str | None) -> str:
    """``"photo.png: "`` for messages, from a client-supplied name made harmless (printable, at most 60 chars)."""
    if not filename or not isinstance(filename, str):
        return ""
    name = re.sub(r"[^\w .,()+=@#-]", "_", filename.replace("\\", "/").rsplit("/", 1)[-1])[:60]
    return f"{name}: " if name.strip() else ""


def _size_text(n_bytes: int) -> str:
    """``10.5 MB`` / ``512 KB`` / ``12 bytes`` for messages (MB = 1024² bytes, as the limit is stated)."""
    if n_bytes >= 1024 * 1024:
        return f"{n_bytes / (1024 * 1024):.1f} MB"
    if n_bytes >= 1024:
        return f"{n_bytes / 1024:.0f} KB"
    return ngettext("{n} byte", "{n} bytes", n_bytes).format(n=n_bytes)


# Modes Pillow may give an opened image, grouped by why they are refused (PIL "Concepts: Modes").
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I;16S", "I", "F", "I;32", "I;32L", "I;32B")
_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA", "RGBX")


def _refuse_mode(img: Image.Image, label: str) -> None:
    """Raise :class:`ImageError` (415) unless ``img`` is 8-bit greyscale, bilevel or RGB without transparency."""
    mode = img.mode
    words = {"label": label, "mode": mode, "save_as": _(_SAVE_AS)}
    if mode in _SIXTEEN_BIT or mode.startswith("I;"):
        if mode == "F":
            bits = _("32-bit floating-point")
        else:
            bits = _("32-bit integer") if mode in ("I", "I;32") else _("16-bit")
        message = _("{label}the image has {bits} pixels (mode {mode}); the explorer reads 8-bit images — {save_as}")
        raise ImageError(message.format(bits=bits, **words), 415)
    if mode in ("P", "PA"):
        message = _("{label}the image uses a colour palette (mode {mode}, e.g. a GIF or an indexed PNG); {save_as}")
        raise ImageError(message.format(**words), 415)
    if mode in _ALPHA or "transparency" in img.info:
        if mode in _ALPHA:
            message = _(
                "{label}the image has transparency (mode {mode}); what lies under the transparent parts is not "
                "defined — flatten it onto a background and {save_as}"
            )
        else:
            message = _(
                "{label}the image has transparency (mode {mode}, with a transparent colour); what lies under the "
                "transparent parts is not defined — flatten it onto a background and {save_as}"
            )
        raise ImageError(message.format(**words), 415)
    if mode == "CMYK":
        raise ImageError(_("{label}the image is CMYK (printing colours, mode CMYK); {save_as}").format(**words), 415)
    if mode not in ("L", "1", "RGB"):
        message = _("{label}the image has mode {mode}, which the explorer does not read; {save_as}")
        raise ImageError(message.format(**words), 415)


def decode_upload(
    data: bytes, *, filename: str | None = None, exif_transpose: bool = True, max_side: int | None = None
) -> np.ndarray:
    """Decode an uploaded image file, in memory, into an 8-bit array.

    Args:
        data: the file's bytes (``bytes``, ``bytearray`` or ``memoryview``).
        filename: the client's name for the file (a str, or None), only to name it in messages.
        exif_transpose: apply the EXIF orientation (phones store photos sideways and say so
            in EXIF), so the array is the picture as viewers show it. ``False`` keeps the
            stored orientation, as :func:`convlab.data.images.load_image` reads a file.
        max_side: when given (an int ≥ 1), a larger image is shrunk while it is decoded, by a
            whole factor, to a longer side of at least ``max_side``: JPEGs in the DCT domain
            (Pillow's ``draft``), others by box averages (``Image.reduce``). A 12-megapixel
            photo then never exists at full size in memory. ``None``: full size.

    Returns:
        ``(H, W)`` uint8 for a greyscale (``"L"``) or bilevel (``"1"``: 0/255) image,
        ``(H, W, 3)`` uint8 for RGB. A multi-picture JPEG (MPO: the format of many phones'
        photos, with a depth map or an HDR gain map after the picture) gives its first picture.

    Raises:
        ImageError: with ``status`` 413 for more than :data:`MAX_UPLOAD_BYTES` bytes or more
            pixels than Pillow's ``MAX_IMAGE_PIXELS`` (a decompression bomb); 415 for a file
            that is no image of :data:`ACCEPTED_FORMATS`, and for 16-bit/float, transparent
            (RGBA, LA, a transparent colour), CMYK, palette (``"P"``) or multi-frame
            (animated GIF/PNG/WebP, multi-page TIFF) images; 400 for zero bytes, a
            truncated or corrupt file, or ``data`` that is not bytes. Every message names
            the file (when given), what was found and what to do.
        TypeError: ``filename`` that is neither a str nor None (a programming error, not the user's).
    """
    if filename is not None and not isinstance(filename, str):
        raise TypeError(f"filename must be a str or None, got {type(filename).__name__}")
    if max_side is not None and (isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1):
        raise TypeError(f"max_side must be an int >= 1 or None, got {max_side!r}")
    label = _label(filename)
    if isinstance(data, memoryview):
        data = data.tobytes()
    words = {"label": label, "save_as": _(_SAVE_AS)}
    if not isinstance(data, (bytes, bytearray)):
        message = _("{label}data must be the file's bytes (bytes, bytearray or memoryview), got {kind}")
        raise ImageError(message.format(kind=type(data).__name__, **words), 400)
    if len(data) == 0:
        raise ImageError(
            _("{label}the file is empty (0 bytes); choose an image file (PNG or JPEG)").format(**words), 400
        )
    if len(data) > MAX_UPLOAD_BYTES:
        message = _(
            "{label}the file is {size}; the limit is {limit} — make it smaller (e.g. 1000 pixels wide) and upload that"
        )
        raise ImageError(message.format(size=_size_text(len(data)), limit=_size_text(MAX_UPLOAD_BYTES), **words), 413)
    limit = Image.MAX_IMAGE_PIXELS
    too_large = _("{label}the image is too large to decode safely ({error}); {save_as}, smaller")
    try:
        # Image.open reads the header only; it already refuses images over twice the limit.
        img = Image.open(io.BytesIO(bytes(data)), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageError(too_large.format(error=exc, **words), 413) from None
    except UnidentifiedImageError:
        message = _(
            "{label}this is not an image the explorer can read (not PNG, JPEG, GIF, BMP, WebP or TIFF, or its "
            "header is damaged); {save_as}"
        )
        raise ImageError(message.format(**words), 415) from None
    except Exception as exc:  # any parser error on untrusted bytes is the file's fault, never a 500
        message = _("{label}the image file is corrupt ({error}); {save_as}")
        raise ImageError(message.format(error=f"{type(exc).__name__}: {exc}", **words), 400) from None
    with img:
        try:
            arr = _checked_pixels(img, label, limit, exif_transpose=exif_transpose, max_side=max_side)
        except ImageError:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageError(too_large.format(error=exc, **words), 413) from None
        except Exception as exc:  # a truncated or damaged file: whatever the plugin raised, it is the file's fault
            if "truncated" in str(exc):
                message = _(
                    "{label}the image file is truncated (the file ends too early); open it in an image editor and "
                    "{save_as}"
                )
            else:
                message = _("{label}the image file is corrupt ({error}); open it in an image editor and {save_as}")
            raise ImageError(message.format(error=exc, **words), 400) from None
    return arr


def _checked_pixels(
    img: Image.Image, label: str, limit: int | None, *, exif_transpose: bool = True, max_side: int | None = None
) -> np.ndarray:
    """The pixels of an opened upload, after every check of :func:`decode_upload` (size, frames, mode)."""
    width, height = img.size
    # The warning zone (between MAX_IMAGE_PIXELS and twice that) is refused too. This check, not
    # warnings.catch_warnings, because that changes process-wide state and the server has threads.
    words = {"label": label, "save_as": _(_SAVE_AS), "size": f"{width}×{height}"}
    if limit is not None and width * height > limit:
        message = _(
            "{label}the image is {size} = {pixels} pixels, more than the {limit} Pillow decodes safely (a possible "
            "decompression bomb); {save_as}, smaller"
        )
        raise ImageError(message.format(pixels=f"{width * height:,}", limit=f"{int(limit):,}", **words), 413)
    if width < 1 or height < 1:
        raise ImageError(_("{label}the image is {size} pixels: empty; {save_as}").format(**words), 400)
    # MPO (phones' JPEGs with a depth or HDR gain map after the picture): frame 0 is the picture itself
    if getattr(img, "n_frames", 1) > 1 and img.format != "MPO":
        message = _(
            "{label}the image has {n} frames (an animation or a multi-page file); save the one frame you want as "
            "an 8-bit RGB or greyscale PNG or JPEG and upload that"
        )
        raise ImageError(message.format(n=img.n_frames, **words), 415)
    _refuse_mode(img, label)
    factor = 1 if max_side is None else max(width, height) // max_side
    if factor >= 2 and img.format in ("JPEG", "MPO"):
        img.draft(img.mode, (-(-width // factor), -(-height // factor)))  # decode at 1/2, 1/4 or 1/8 scale
        factor = max(img.size) // max_side
    img.load()  # decode every pixel now: a truncated file raises here, not half-way through a prediction
    if factor >= 2:
        img = img.reduce(factor)  # each new pixel the mean of a factor×factor box
    if exif_transpose:
        img = ImageOps.exif_transpose(img)  # phones store photos sideways and say so in EXIF
    if img.mode == "1":
        img = img.convert("L")  # bilevel: 0 / 255
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim != (2 if img.mode == "L" else 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        message = _("{label}the image decoded to an unexpected shape {shape}; {save_as}")
        raise ImageError(message.format(shape=arr.shape, **words), 415)
    return np.ascontiguousarray(arr)


def _canvas_int(payload: dict, key: str) -> int:
    """``payload[key]`` as an int side in ``[1, MAX_CANVAS_SIDE]``, or ImageError(400) naming ``canvas.<key>``."""
    words = {"field": f"canvas.{key}", "max": MAX_CANVAS_SIDE}
    if key not in payload:
        raise ImageError(_("{field}: missing; expected an int from 1 to {max}").format(**words), 400)
    value = payload[key]
    if isinstance(value, bool) or not isinstance(value, int):
        message = _("{field}: expected an int from 1 to {max}, got {value}")
        raise ImageError(message.format(value=f"{type(value).__name__} {str(value)[:40]!r}", **words), 400)
    if not 1 <= value <= MAX_CANVAS_SIDE:
        shown = str(value) if abs(value) < 10**12 else _("a huge number")
        raise ImageError(_("{field}: expected an int from 1 to {max}, got {value}").format(value=shown, **words), 400)
    return value


def decode_canvas(payload: Any) -> np.ndarray:
    """Decode the drawing canvas's JSON payload into an ink image.

    Args:
        payload: ``{"width": int, "height": int, "pixels": str}`` where ``pixels`` is the
            standard base64 encoding (RFC 4648, with padding) of ``width·height`` bytes,
            row-major: the ink intensity of each pixel (the page sends the red channel of
            ``getImageData``: white ink on black, 0 = background). ``width`` and ``height``
            are ints from 1 to :data:`MAX_CANVAS_SIDE`.

    Returns:
        ``(height, width)`` uint8 ink intensities.

    Raises:
        ImageError(400): naming the field, e.g. ``canvas.pixels: expected 78400 bytes
            (280×280), got 12`` — a payload that is not an object, a missing field, a
            width/height that is not an int in range, pixels that are not a base64 string,
            or the wrong number of bytes.
    """
    if not isinstance(payload, dict):
        message = _('canvas: expected an object {{"width": int, "height": int, "pixels": base64}}, got {kind}')
        raise ImageError(message.format(kind=type(payload).__name__), 400)
    width = _canvas_int(payload, "width")
    height = _canvas_int(payload, "height")
    expected = width * height
    pixels = payload.get("pixels")
    words = {"n": expected, "size": f"{width}×{height}"}
    if pixels is None:
        raise ImageError(_("canvas.pixels: missing; expected base64 of {n} bytes ({size})").format(**words), 400)
    if not isinstance(pixels, str):
        message = _("canvas.pixels: expected a base64 string of {n} bytes ({size}), got {kind}")
        raise ImageError(message.format(kind=type(pixels).__name__, **words), 400)
    # Refuse an oversized string before decoding it: base64 of n bytes is 4·ceil(n/3) characters.
    if len(pixels) > 4 * (-(-expected // 3)) + 4:
        message = _(
            "canvas.pixels: expected {n} bytes ({size}), got about {got} (a base64 string of {chars} characters)"
        )
        raise ImageError(message.format(got=len(pixels) * 3 // 4, chars=len(pixels), **words), 400)
    try:
        raw = base64.b64decode(pixels.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        message = _(
            "canvas.pixels: not valid base64 (RFC 4648: A–Z, a–z, 0–9, +, /, '=' padding); expected {n} bytes ({size})"
        )
        raise ImageError(message.format(**words), 400) from None
    if len(raw) != expected:
        raise ImageError(_("canvas.pixels: expected {n} bytes ({size}), got {got}").format(got=len(raw), **words), 400)
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width).copy()
