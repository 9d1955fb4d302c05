"""The explorer's Flask app: four pages and the JSON API behind them.

Build it around a model and serve it (``convlab serve`` does this; tests use Flask's test client)::

    state = ExplorerState(model, classes=["0", ..., "9"])
    app = create_app(state)                 # or create_app(model=model, classes=[...])
    app.test_client().post("/api/predict", json={"test_index": 0}).get_json()

The API (every response JSON; every error ``{"error": "message"}`` with a 4xx/5xx code):

- ``GET /api/status`` → ``{"ready", "training", "error", "model", "keras", "max_upload_bytes", "inputs_kept"}``.
- ``POST /api/predict`` with JSON ``{"canvas": {"width", "height", "pixels"}}``, ``{"test_index": i}`` or
  ``{"input_id": id}``, or a multipart file field ``image`` → ``{"input_id", "input", "probabilities",
  "classes", "top", "label"}``.
- ``GET /api/layers?input=ID`` (or ``POST /api/layers`` with a predict body) → ``{"input_id", "layers": [...]}``,
  every layer's output: ``layer_outputs``' dict (``index``, ``name``, ``class_name``, ``output_shape``, ``kind``,
  ``activation``, ``explainable``, ``min``/``max`` over the finite values or null) with the values encoded as
  ``&format=`` says:

  - ``b64`` (the default; what the Inside page reads): ``"values_b64"``, the base64 of the output's bytes —
    little-endian IEEE floats in C (row-major, channel-last) order — with ``"shape"`` (e.g. ``[26, 26, 32]``)
    and ``"dtype"`` (``"float32"``; ``"float64"`` for a float64 model). Exact, NaN and ±inf included, and a small
    fraction of the time of writing each number as JSON text (benchmarks/web_bench.py). In Python:
    ``np.frombuffer(base64.b64decode(v["values_b64"]), "<f4").reshape(v["shape"])``.
  - ``list`` (for curl and reading by eye): ``"values"``, nested lists of JSON numbers (the float32s written in
    full); NaN/inf become ``null`` (JSON has neither).
- ``GET /api/explain?input=ID&layer=L&row=R&col=C&channel=K`` or ``…&unit=U`` (``&top=10``) → how one
  number was computed (:func:`convlab.web.explain.explain`).
- ``GET /api/size?n=5&k=3&p=1&s=2`` (p: an int, ``valid`` or ``same``) → the output-size formula.
- ``GET /api/sharpen`` → the slides' 5×5 sharpen example.
- ``POST /api/keras/predict`` with a multipart file field ``image`` → ``{"top": [{"class", "probability"}…],
  "input_shape", "classes"}``.

While the default model trains, predict/layers/explain answer 503 with ``"training"`` (the progress).

Safety (issue 12, "Bad input and safety"): request bodies are capped
(``MAX_CONTENT_LENGTH`` → 413); uploads are decoded from memory and never
written to disk (the request class keeps multipart files in ``BytesIO``); no
parameter names a path on the server; every response carries a restrictive
Content-Security-Policy and ``X-Content-Type-Options: nosniff``; under ``/api/``
every error — 400, 404, 405, 413, 415, 503, and 500 for a bug — is JSON without
a traceback (the traceback of a 500 goes to stderr).

What is served — the model, the inputs kept by id, page 4's Keras model — is
:class:`convlab.web.state.ExplorerState`; this module turns requests into calls on it.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask, Request, jsonify, render_template, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from convlab.model.sequential import Sequential
from convlab.util.i18n import N_, _, get_language, set_language
from convlab.web import default_model
from convlab.web import language as web_language
from convlab.web import lessons as web_lessons
from convlab.web.arithmetic import sharpen_example, size_explanation
from convlab.web.digits import MAX_WORK_SIDE, fit_input
from convlab.web.errors import ApiError
from convlab.web.errors import shown as _shown
from convlab.web.explain import explain, layer_outputs
from convlab.web.images import MAX_UPLOAD_BYTES, ImageError, decode_canvas, decode_upload
from convlab.web.state import ExplorerState

__all__ = ["CSP", "MAX_CONTENT_LENGTH", "PAGES", "LAYER_FORMATS", "DIGIT_CLASSES", "jsonable", "create_app"]

#: The Content-Security-Policy of every response: scripts, styles and connections to this server only;
#: canvases may export ``data:``/``blob:`` images; no plugins, no framing, forms post here only.
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
#: The largest request body Flask reads: the upload limit plus room for the multipart framing.
MAX_CONTENT_LENGTH = MAX_UPLOAD_BYTES + 64 * 1024
#: URL → (template, the ``page`` the layout highlights).
PAGES = {
    "/": ("digits.html", "digits"),
    "/inside": ("inside.html", "inside"),
    "/arithmetic": ("arithmetic.html", "arithmetic"),
    "/model": ("model.html", "model"),
}
_INPUT_ID = re.compile(r"[0-9a-f]{16}")
_INT = re.compile(r"[+-]?[0-9]+")
#: At most two uploads are decoded and prepared at once: a 12-megapixel photo takes about half a GB while
#: page 4 resizes it, and waitress serves several requests at a time.
_UPLOAD_SLOTS = threading.BoundedSemaphore(2)
#: The classes of a model of the ten digits, in order: only then is a test digit's label one of its classes.
DIGIT_CLASSES = [str(d) for d in range(10)]
_INPUT_KEYS = ("canvas", "test_index", "input_id")
_INPUT_REQUIRED = N_("input is required: an input id from /api/predict, e.g. ?input=0123456789abcdef")
#: How /api/layers encodes each layer's values (``?format=``): base64 float bytes (default) or nested lists.
LAYER_FORMATS = ("b64", "list")
_HOW_TO_SEND = N_(
    'send a JSON object with one of "canvas" ({"width", "height", "pixels"}), "test_index" (0–999) or '
    '"input_id", or a multipart form with an image file in the field "image"'
)


# ----------------------------------------------------------------------------------- requests
class _InMemoryRequest(Request):
    """Werkzeug spools multipart files over 500 kB to a temporary file; uploads here stay in memory."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> io.BytesIO:
        return io.BytesIO()


def _int_arg(name: str, *, required: bool = False, default: int | None = None) -> int | None:
    """Query parameter ``name`` as an int; ApiError 400 naming it when missing (if required) or not an int."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        if required:
            raise ApiError(400, _("{name} is required: an int, e.g. ?{name}=0").format(name=name))
        return default
    return _as_int(name, raw)


def _as_int(name: str, raw: str, expected: str | None = None) -> int:
    """``raw`` (a query value) as an int; ApiError 400 naming ``name`` when it is not one, or has more digits
    than any size, position or count (Python's int() would also refuse past 4,300 digits). ``expected``: what it
    must be, translated (default "an int")."""
    raw = raw.strip()
    if not _INT.fullmatch(raw):
        expected = _("an int") if expected is None else expected
        raise ApiError(
            400, _("{name} must be {expected}, got {value}").format(name=name, expected=expected, value=_shown(raw))
        )
    if len(raw.lstrip("+-")) > 18:
        raise ApiError(400, _("{name} is out of range: {value}").format(name=name, value=_shown(raw)))
    return int(raw)


def _input_id_arg(value: object, name: str) -> str:
    if not isinstance(value, str) or not _INPUT_ID.fullmatch(value):
        raise ApiError(
            400,
            _("{name} must be an input id (16 hex digits, from /api/predict), got {value}").format(
                name=name, value=_shown(value)
            ),
        )
    return value


def _recall(state: ExplorerState, key: str) -> tuple[np.ndarray, int | None]:
    item = state.inputs.get(key)
    if item is None:
        raise ApiError(
            404,
            _(
                "unknown input {key}: the server keeps the last {n} inputs and forgets them when it restarts — "
                "draw or choose a digit again"
            ).format(key=repr(key), n=state.inputs.max_items),
        )
    return item


def _upload(field: str = "image") -> tuple[bytes, str | None]:
    """The bytes of the multipart file ``field`` (ApiError 400 when absent)."""
    f = request.files.get(field)
    if f is None:
        got = ", ".join(sorted(request.files)) or _("none")
        raise ApiError(
            400,
            _('the form must have an image file in the field "{field}" (file fields sent: {got})').format(
                field=field, got=got
            ),
        )
    return f.read(), f.filename


def _new_input(state: ExplorerState, shape: tuple[int, int, int]) -> tuple[np.ndarray, int | None]:
    """The input a POST body describes (see ``_HOW_TO_SEND``), fitted to the model: ``(x float32 (H, W, C), label)``."""
    if request.mimetype == "multipart/form-data":
        data, filename = _upload()
        with _UPLOAD_SLOTS:
            image = decode_upload(data, filename=filename, max_side=MAX_WORK_SIDE)
            return fit_input(image, shape), None
    try:
        # json.loads, not request.get_json: Python's parser raises RecursionError on deeply nested input
        # ("[[[[…"), which get_json(silent=True) lets through as a 500
        payload = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        raise ApiError(400, _("the body is not a JSON object: {how}").format(how=_(_HOW_TO_SEND)))
    keys = [k for k in _INPUT_KEYS if k in payload]
    if len(keys) != 1:
        if keys:
            message = _("give exactly one input (got {keys}): {how}").format(keys=", ".join(keys), how=_(_HOW_TO_SEND))
        else:
            message = _("give exactly one input (got keys {keys}): {how}").format(
                keys=_shown(sorted(payload)[:5], 80), how=_(_HOW_TO_SEND)
            )
        raise ApiError(400, message)
    key = keys[0]
    value = payload[key]
    if key == "input_id":
        x, label = _recall(state, _input_id_arg(value, "input_id"))
        if x.shape != shape:  # the model changed since (only when a test swaps it)
            raise ApiError(
                404,
                _("input {key} was made for another model — draw or choose a digit again").format(key=repr(value)),
            )
        return x, label
    if key == "test_index":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(
                400, _("test_index must be an int in [0, {last}], got {value}").format(last=999, value=_shown(value))
            )
        digit, label = state.test_digit(value)
        if state.classes != DIGIT_CLASSES:
            label = None  # an MNIST label is one of this model's classes only when they are the ten digits
        if shape == (28, 28, 1):  # already an MNIST digit: only scaled, as the model was trained
            return default_model.as_inputs(digit[None])[0], label
        return fit_input(digit, shape), label
    if not isinstance(value, dict):
        raise ApiError(
            400, _('canvas must be an object {{"width", "height", "pixels"}}, got {value}').format(value=_shown(value))
        )
    return fit_input(decode_canvas(value), shape), None


def jsonable(obj: Any) -> Any:
    """NumPy arrays and scalars inside dicts/lists as lists and Python numbers (JSON has no float32)."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def _finite_list(values: np.ndarray) -> list:
    """``values.tolist()``, with NaN/inf as ``None``: JSON has no NaN, and a browser refuses a body with one."""
    values = np.asarray(values)
    if values.dtype.kind != "f" or np.isfinite(values).all():
        return values.tolist()
    return np.where(np.isfinite(values), values.astype(object), None).tolist()


def _values_b64(values: np.ndarray) -> dict[str, Any]:
    """``values`` as ``{"values_b64", "shape", "dtype"}``: base64 of its little-endian bytes in C order.

    Exact (the bytes the engine computed, NaN and ±inf included), and cheap: for seeds/004's CNN the 32,558
    float32s of one input are 174 kB of base64, encoded and written as JSON in about 1 ms, where ``json.dumps``
    of their ``tolist()`` (up to 17 significant digits each, 270 kB) took 12–16 ms. float64 models keep float64
    ("float64"); everything else is sent as float32 (layer outputs are float32 or float64; float16 would widen
    exactly).
    """
    dtype = np.dtype("<f8") if values.dtype == np.float64 else np.dtype("<f4")
    data = np.ascontiguousarray(values, dtype=dtype)  # explicit "<": the bytes are little-endian on any host
    return {
        "values_b64": base64.b64encode(data.tobytes()).decode("ascii"),
        "shape": [int(s) for s in values.shape],
        "dtype": dtype.name,
    }


def _layers_json(state: ExplorerState, model: Sequential, key: str, x: np.ndarray, fmt: str = "b64") -> dict[str, Any]:
    """``{"input_id": key, "layers": [...]}`` for /api/layers; ``fmt`` is ``LAYER_FORMATS``' "b64" or "list"."""
    with state.model_lock:
        outputs = layer_outputs(model, x)
    layers = []
    for entry in outputs:
        values = np.asarray(entry["values"])
        item = {k: jsonable(v) for k, v in entry.items() if k != "values"}
        if "min" not in entry:  # layer_outputs gives them (over the finite values)
            finite = values[np.isfinite(values)]
            item["min"] = float(finite.min()) if finite.size else None
            item["max"] = float(finite.max()) if finite.size else None
        if fmt == "list":
            item["values"] = _finite_list(values)
        else:
            item.update(_values_b64(values))
        layers.append(item)
    return {"input_id": key, "layers": layers}


def _layer_format() -> str:
    """The ``format`` query parameter of /api/layers (default "b64"); ApiError 400 naming it otherwise."""
    raw = request.args.get("format")
    if raw is None or raw.strip() == "":
        return "b64"
    fmt = raw.strip().lower()
    if fmt not in LAYER_FORMATS:
        raise ApiError(
            400,
            _(
                'format must be "b64" (the default: each layer\'s float32 bytes, base64) or "list" '
                "(nested lists of numbers), got {value}"
            ).format(value=_shown(raw)),
        )
    return fmt


# ----------------------------------------------------------------------------------- the app
def create_app(state: ExplorerState | None = None, *, lang: str | None = None, **state_kwargs: Any) -> Flask:
    """The Flask app serving ``state``, in one language.

    Args:
        state: what to serve; or leave it out and give :class:`ExplorerState`'s arguments
            (``create_app(model=model, classes=[...])``).
        lang: the pages' language, ``"en"`` or ``"es"``: set for the process
            (:func:`convlab.util.i18n.set_language`); ``None`` keeps the language in use (the one
            ``convlab serve --lang`` set, else the locale's). Numbers and JSON answers are the same in both;
            the words (pages, scripts, messages) are the catalog ``web``'s (:mod:`convlab.web.language`).

    Returns:
        A Flask app (``app.extensions["convlab"]`` is the state, ``app.config["CONVLAB_LANG"]`` the language).
        Serve it with :func:`convlab.web.server.serve` (waitress), or use ``app.test_client()``.

    Raises:
        ValueError: ``lang`` is not ``"en"`` or ``"es"``.
    """
    if state is None:
        state = ExplorerState(**state_kwargs)
    elif state_kwargs:
        raise TypeError(f"give either state or ExplorerState's arguments, not both (got {sorted(state_kwargs)})")
    language = set_language(lang) if lang is not None else get_language()
    here = Path(__file__).resolve().parent
    app = Flask("convlab.web", template_folder=str(here / "templates"), static_folder=str(here / "static"))
    app.request_class = _InMemoryRequest
    app.config.update(MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH, CONVLAB_LANG=language)
    app.json.sort_keys = False
    app.json.compact = True
    app.extensions["convlab"] = state
    web_language.install(app.jinja_env)
    if language != "en":
        web_language.script_messages()  # Babel reads the scripts' messages now, not on the first page

    # -- the language: the process speaks one (convlab.util.i18n); an app made for another one in the same
    # process (tests make apps in both) takes it back for its requests.
    @app.before_request
    def _language():
        if get_language() != language:
            set_language(language)

    @app.context_processor
    def _words():
        return {"lang": language, "js_messages": web_language.script_translations()}

    # -- headers and errors
    @app.after_request
    def _headers(response):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    def _error(status: int, message: str, **extra: Any):
        if request.path.startswith("/api/"):
            return jsonify(error=message, **jsonable(extra)), status
        title, back = escape(_("convlab explorer")), escape(_("back to the explorer"))
        page = (
            f"<!doctype html><html lang={language}><meta charset=utf-8><title>{status} · {title}</title>"
            f'<body><h1>{status}</h1><p>{escape(message)}</p><p><a href="/">{back}</a></p></body></html>'
        )
        return page, status, {"Content-Type": "text/html; charset=utf-8"}

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return _error(exc.status, exc.message, **exc.extra)

    @app.errorhandler(ImageError)
    def _image_error(exc: ImageError):
        return _error(getattr(exc, "status", 400), str(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        if status == 413:
            message = _(
                "the request is larger than the {mb} MB limit: send a smaller image (a photo of a few MB is plenty)"
            ).format(mb=MAX_UPLOAD_BYTES // (1024 * 1024))
        elif status == 404:
            message = (
                _("no such page: {path}").format(path=request.path)
                if not request.path.startswith("/api/")
                else _("no such API endpoint: {path} (see /api/status)").format(path=request.path)
            )
        elif status == 405:
            allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or []))
            words = {"method": request.method, "path": request.path, "allowed": allowed}
            if allowed:
                message = _("{method} is not allowed on {path}; use {allowed}").format(**words)
            else:
                message = _("{method} is not allowed on {path}").format(**words)
        else:
            message = exc.description or exc.name
        return _error(status, message)

    @app.errorhandler(Exception)
    def _internal_error(exc: Exception):
        # A bug: the user gets one line, the terminal gets the traceback.
        print(f"convlab serve: internal error on {request.method} {request.path}:", file=sys.stderr)
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        sys.stderr.flush()
        return _error(
            500,
            _("internal error ({name}): a bug in convlab; the server's terminal shows the details").format(
                name=type(exc).__name__
            ),
        )

    # -- pages
    def _page(template: str, page: str):
        def view():
            return render_template(template, page=page)

        view.__name__ = f"page_{page}"
        return view

    for url, (template, page) in PAGES.items():
        app.add_url_rule(url, view_func=_page(template, page), methods=["GET"])

    # -- the API
    @app.get("/api/status")
    def api_status():
        return jsonify(state.status())

    @app.post("/api/predict")
    def api_predict():
        model, classes, shape = state.served()
        try:
            x, label = _new_input(state, shape)
        except ImageError:
            raise
        except ValueError as exc:  # fit_input's / decode_canvas' own checks
            raise ApiError(400, str(exc)) from exc
        key = state.inputs.put(x, label)
        with state.model_lock:
            probs = model.predict(x[None], batch_size=1)[0]
        return jsonify(
            input_id=key,
            input=x.tolist(),
            probabilities=_finite_list(probs),
            classes=classes,
            top=int(np.argmax(probs)),
            label=label,
        )

    @app.route("/api/layers", methods=["GET", "POST"])
    def api_layers():
        model, _classes, shape = state.served()
        fmt = _layer_format()  # checked first: a bad format is refused before an input is kept
        if request.method == "POST":
            try:
                x, label = _new_input(state, shape)
            except ImageError:
                raise
            except ValueError as exc:
                raise ApiError(400, str(exc)) from exc
            key = state.inputs.put(x, label)
        else:
            key = request.args.get("input")
            if key is None:
                raise ApiError(400, _(_INPUT_REQUIRED))
            x, _label = _recall(state, _input_id_arg(key, "input"))
        return jsonify(_layers_json(state, model, key, x, fmt))

    @app.get("/api/explain")
    def api_explain():
        model, _classes, _shape = state.served()
        key = request.args.get("input")
        if key is None:
            raise ApiError(400, _(_INPUT_REQUIRED))
        x, _label = _recall(state, _input_id_arg(key, "input"))
        layer = _int_arg("layer", required=True)
        kwargs = {name: _int_arg(name) for name in ("row", "col", "channel", "unit")}
        top = _int_arg("top", default=10)
        try:
            with state.model_lock:
                result = explain(model, x, layer, top=top, **kwargs)
        except (ValueError, TypeError) as exc:  # explain names the parameter, its range and the value
            raise ApiError(400, str(exc)) from exc
        return jsonify(jsonable(result))

    @app.get("/api/size")
    def api_size():
        n = _int_arg("n", required=True)
        k = _int_arg("k", required=True)
        s = _int_arg("s", default=1)
        raw_p = (request.args.get("p") or "0").strip()
        if raw_p.lower() in ("valid", "same"):
            p: int | str = raw_p.lower()
        else:
            p = _as_int("p", raw_p, expected=_("an int >= 0, 'valid' or 'same'"))
        try:
            return jsonify(jsonable(size_explanation(n, k, p, s)))
        except (ValueError, TypeError) as exc:  # the engine's own message
            raise ApiError(400, str(exc)) from exc

    @app.get("/api/sharpen")
    def api_sharpen():
        return jsonify(jsonable(sharpen_example()))

    @app.post("/api/keras/predict")
    def api_keras_predict():
        slot = state.keras
        if slot.load() is None:
            raise ApiError(503, slot.status()["message"], keras=slot.status())
        if request.mimetype != "multipart/form-data":
            raise ApiError(400, _('send the photo as a multipart form with the file in the field "image"'))
        data, filename = _upload()
        with _UPLOAD_SLOTS:
            # Stored orientation, full size: the photo as convlab.vgg.predict_image reads a file (load_image
            # neither rotates by EXIF nor shrinks first), so the page gives predict_image's numbers.
            image = decode_upload(data, filename=filename, exif_transpose=False)
            return jsonify(slot.predict(image))

    # -- the lessons the pages link to. A request gives a lesson's name, looked up in the files that
    # exist in lessons/ (a whitelist, convlab.web.lessons): it never becomes a path. Not under /api/, so
    # its 404s are HTML pages: an unknown name lists the lessons; no lessons folder (a wheel install) says
    # how to get them. web_lessons is looked up on each request, so tests can monkeypatch its folder.
    def _lessons_page(status: int = 200, **context: Any):
        ctx = {"lesson": None, "run": [], "names": [], "message": "", "missing": False, **context}
        return render_template("lesson.html", **ctx), status

    @app.get("/lessons/")
    def lesson_index():
        try:
            names = list(web_lessons.lesson_paths())
        except web_lessons.LessonsMissingError:
            return _lessons_page(404, missing=True, message=_(web_lessons.HOW_TO_GET))
        return _lessons_page(names=names)

    @app.get("/lessons/<path:name>")
    def lesson_page(name: str):
        try:
            lesson = web_lessons.read_lesson(name)
        except web_lessons.LessonsMissingError:
            return _lessons_page(404, missing=True, message=_(web_lessons.HOW_TO_GET))
        except web_lessons.UnknownLessonError as exc:
            return _lessons_page(404, names=exc.available, message=str(exc))
        names = list(web_lessons.lesson_paths())
        return _lessons_page(lesson=lesson, names=names, run=web_lessons.run_commands(lesson, names, language))

    return app
