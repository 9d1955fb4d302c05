// convlab explorer — what every page shares: talking to the server, the status line, error messages,
// colour scales and number grids. Plain ES2020, no libraries; loaded with <script defer> before the
// page's own script, which uses the global `CL`.
//
// Why a wrapper around fetch: every error response of the server is JSON {"error": "..."} with a 4xx
// code, and the pages must show that text (never an alert, never nothing). 503 means "the model is
// still training": the request waits until /api/status says ready and then runs again by itself.
"use strict";

const CL = (() => {
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ words

  // The page's language is the server's (`convlab serve --lang es|en`): <html lang> says which, and the
  // base template puts this page's translations of the scripts' messages in <script id="convlab-i18n"
  // type="application/json"> — {"English message": "translation"}, and for a count
  // {"singular": ["one form", "other form"]} — taken from the explorer's gettext catalog (web.po) by
  // the server. A message the catalog lacks (and every message in English) shows as written here.
  const MESSAGES = (() => {
    const box = $("convlab-i18n");
    try {
      const parsed = box ? JSON.parse(box.textContent) : null;
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch (err) {
      return {};
    }
  })();

  /** `text` with each {name} replaced by values[name] (names not given stay as they are). */
  function format(text, values) {
    if (!values) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name) =>
      Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole,
    );
  }

  /** A message in the page's language, its {placeholders} filled from `values`: _("map {n}", {n: 3}). */
  function _(message, values) {
    const t = MESSAGES[message];
    return format(typeof t === "string" && t ? t : message, values);
  }

  /** The singular or plural form for the count n (English and Spanish: one form for 1, another for
   * the rest), {n} and the other placeholders filled: ngettext("{n} class", "{n} classes", n, {n}). */
  function ngettext(singular, plural, n, values) {
    const forms = MESSAGES[singular];
    const i = n === 1 ? 0 : 1;
    const text = Array.isArray(forms) && forms[i] ? forms[i] : i === 0 ? singular : plural;
    return format(text, { n, ...values });
  }

  /** An error answer of the server (or no answer at all): `message` is what the page shows. */
  class ApiError extends Error {
    constructor(message, status, body) {
      super(message);
      this.name = "ApiError";
      this.status = status; // HTTP code; 0 when the server could not be reached
      this.body = body || null; // the parsed JSON body, when there was one
    }
  }

  // ------------------------------------------------------------------ requests

  /**
   * One request; resolves to the parsed JSON, rejects with ApiError.
   * opts: {method, json (an object sent as JSON), form (a FormData)}.
   */
  async function fetchJSON(path, opts = {}) {
    const init = { method: opts.method || (opts.json || opts.form ? "POST" : "GET"), headers: {} };
    if (opts.json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.json);
    } else if (opts.form) {
      init.body = opts.form; // the browser writes the multipart boundary itself
    }
    init.headers.Accept = "application/json";
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(
        _("could not reach the convlab server — is `convlab serve` still running? ({error})", { error: err.message }),
        0,
      );
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (err) {
      body = null; // not JSON (a proxy's page, say): handled below
    }
    if (!response.ok) {
      const answer = { status: response.status, text: response.statusText || "" };
      const message =
        body && typeof body.error === "string"
          ? body.error
          : response.status === 413
            ? _("the server answered {status} {text} (the file is too large)", answer).replace(/\s+/g, " ")
            : _("the server answered {status} {text}", answer).trim();
      throw new ApiError(message, response.status, body);
    }
    if (body === null) {
      throw new ApiError(_("the server's answer to {path} was not JSON", { path }), response.status, null);
    }
    return body;
  }

  /**
   * Like fetchJSON, but a 503 "still training" answer is shown in `errorEl` (as a notice, with the
   * training progress) and the request runs again once /api/status says the model is ready.
   */
  async function request(path, opts = {}, errorEl = null) {
    for (;;) {
      try {
        return await fetchJSON(path, opts);
      } catch (err) {
        // Only "still training" waits; any other 503 (no Keras model, say) is an error to show.
        if (!(err instanceof ApiError) || err.status !== 503 || !(err.body && err.body.training)) {
          throw err;
        }
        if (errorEl) {
          showNotice(errorEl, _("{message} — this page carries on by itself when it is ready.", { message: err.message }));
          waitingNotices.add(errorEl);
        }
        if (lastStatus) lastStatus = { ...lastStatus, ready: false }; // the server knows better: ask again
        await sleep(1000);
        await whenReady();
        if (errorEl && waitingNotices.delete(errorEl)) clearError(errorEl);
      }
    }
  }

  /** Set an element's text; `backticked` parts become <code> (commands in the server's messages). */
  function setRichText(el, text) {
    el.textContent = "";
    String(text)
      .split("`")
      .forEach((part, i) => {
        if (!part) return;
        if (i % 2 === 1) {
          const code = document.createElement("code");
          code.textContent = part;
          el.append(code);
        } else {
          el.append(part);
        }
      });
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // ------------------------------------------------------------------ messages

  /** Show an error message in the page's error area (an element with class "error"). */
  function showError(el, message) {
    el = el || $("error");
    if (!el) return;
    waitingNotices.delete(el);
    setRichText(el, message instanceof Error ? message.message : String(message));
    el.classList.remove("is-notice");
    el.hidden = false;
  }

  /** Same place, but a neutral "please wait" look (training in progress). */
  function showNotice(el, message) {
    el = el || $("error");
    if (!el) return;
    setRichText(el, message);
    el.classList.add("is-notice");
    el.hidden = false;
  }

  function clearError(el) {
    el = el || $("error");
    if (!el) return;
    waitingNotices.delete(el);
    el.textContent = "";
    el.classList.remove("is-notice");
    el.hidden = true;
  }

  // ------------------------------------------------------------------ the status line

  let lastStatus = null;
  const waitingNotices = new Set(); // error areas showing "still training" while a request waits
  const readyWaiters = [];
  const statusListeners = [];
  let pollTimer = null;

  function whenReady() {
    if (lastStatus && lastStatus.ready) return Promise.resolve(lastStatus);
    return new Promise((resolve) => {
      readyWaiters.push(resolve);
      schedulePoll(0);
    });
  }

  /** fn(status) runs now if a status is known and after every later one. */
  function onStatus(fn) {
    statusListeners.push(fn);
    if (lastStatus) fn(lastStatus);
  }

  function schedulePoll(delay) {
    if (pollTimer !== null) return;
    pollTimer = setTimeout(() => {
      pollTimer = null;
      pollStatus();
    }, delay);
  }

  function modelLine(model) {
    // e.g. "model: 542,230 parameters, trained on 4,000 MNIST digits, …" or "… from my_model.npz"
    const parts = [_("model: {n} parameters", { n: fmtInt(model.params) })];
    if (model.description) parts.push(model.description);
    if (model.source === "file" && model.file) parts.push(_("from {file}", { file: model.file }));
    const shape = (model.input_shape || []).join("×");
    if (shape) parts.push(_("input {shape}", { shape }));
    return parts.join(", ");
  }

  function trainingLine(t) {
    let head = t.message;
    if (!head) {
      head = _("training the model (first start only; it is saved for next time)");
      if (t.epoch && t.epochs) head = _("{what}: epoch {epoch}/{epochs}", { what: head, epoch: t.epoch, epochs: t.epochs });
      if (t.batch && t.batches) head = _("{what}, batch {batch}/{batches}", { what: head, batch: t.batch, batches: t.batches });
    }
    const extra = [];
    if (typeof t.loss === "number") extra.push(_("loss {loss}", { loss: t.loss.toFixed(3) }));
    if (typeof t.accuracy === "number") extra.push(_("accuracy {percent}%", { percent: (100 * t.accuracy).toFixed(1) }));
    return extra.length ? `${head} — ${extra.join(", ")}` : head;
  }

  function trainingFraction(t) {
    if (!t || !t.epochs) return null;
    // epoch counts from 1 while an epoch runs; batch from 0 or 1: either way a fraction of the whole.
    const epochDone = Math.max(0, (t.epoch || 1) - 1);
    const inEpoch = t.batches ? Math.min(1, (t.batch || 0) / t.batches) : 0;
    return Math.min(1, (epochDone + inEpoch) / t.epochs);
  }

  function renderStatus(status) {
    const text = $("status-text");
    const bar = $("status-progress");
    const box = $("status");
    if (!text || !box) return;
    box.classList.toggle("is-training", !status.ready && !!status.training);
    if (status.ready && status.model) {
      text.textContent = modelLine(status.model);
      if (bar) bar.hidden = true;
    } else if (status.training) {
      text.textContent = trainingLine(status.training);
      const f = trainingFraction(status.training);
      if (bar) {
        bar.hidden = f === null;
        if (f !== null) bar.value = f;
      }
    } else if (status.error) {
      setRichText(text, status.error);
      box.classList.add("is-down");
      if (bar) bar.hidden = true;
    } else if (status.ready) {
      text.textContent = _("the server is ready");
      if (bar) bar.hidden = true;
    } else {
      text.textContent = _("no model loaded yet — waiting for the server");
      if (bar) bar.hidden = true;
    }
  }

  async function pollStatus() {
    let status;
    try {
      status = await fetchJSON("/api/status");
    } catch (err) {
      const text = $("status-text");
      if (text) text.textContent = err.message;
      $("status") && $("status").classList.add("is-down");
      schedulePoll(2000); // the server may come back (a restart): keep asking, gently
      return;
    }
    $("status") && $("status").classList.remove("is-down");
    lastStatus = status;
    renderStatus(status);
    if (!status.ready && status.training) {
      for (const box of waitingNotices) {
        showNotice(box, _("{message} — this page carries on by itself when it is ready.", { message: trainingLine(status.training) }));
      }
    }
    for (const fn of statusListeners) {
      try {
        fn(status);
      } catch (err) {
        console.error(err);
      }
    }
    if (status.ready) {
      while (readyWaiters.length) readyWaiters.shift()(status);
    } else {
      schedulePoll(1000); // training: the progress moves every second
    }
  }

  // ------------------------------------------------------------------ numbers

  const intFormat = new Intl.NumberFormat("en-US");
  function fmtInt(n) {
    return typeof n === "number" ? intFormat.format(n) : String(n);
  }

  /** A short, readable number: integers as they are, others with up to `digits` significant digits. */
  function fmt(v, digits = 4) {
    if (typeof v !== "number") return String(v);
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e5 || a < 1e-4) return v.toExponential(2);
    let s = v.toPrecision(digits);
    if (s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s;
  }

  /** A number with a real minus sign (U+2212), easier to read on a projector. */
  function fmtSigned(v, digits = 4) {
    return fmt(v, digits).replace(/^-/, "\u2212");
  }

  function pct(p, digits = 1) {
    return `${(100 * p).toFixed(digits)}%`;
  }

  // ------------------------------------------------------------------ colour scales

  // A viridis-like ramp for non-negative values (after ReLU, probabilities), the "RdBu_r" diverging
  // ramp of the lessons' kernel figures for signed values, and grey for input images.
  const VIRIDIS = [
    [68, 1, 84],
    [72, 40, 120],
    [62, 74, 137],
    [49, 104, 142],
    [38, 130, 142],
    [31, 158, 137],
    [53, 183, 121],
    [109, 205, 89],
    [180, 222, 44],
    [253, 231, 37],
  ];
  const RDBU = [
    [33, 102, 172],
    [67, 147, 195],
    [146, 197, 222],
    [209, 229, 240],
    [247, 247, 247],
    [253, 219, 199],
    [244, 165, 130],
    [214, 96, 77],
    [178, 24, 43],
  ];

  function ramp(stops, t) {
    if (!Number.isFinite(t)) t = 0;
    t = Math.min(1, Math.max(0, t));
    const x = t * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(x));
    const f = x - i;
    const a = stops[i];
    const b = stops[i + 1];
    return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
  }

  /**
   * A colour scale for values in [min, max]: signed data → diverging centred at 0 (±max|v|);
   * non-negative data → viridis from 0 to max; kind "grey" → black (lo) to white (hi).
   * Returns {kind, lo, hi, rgb(v) → [r, g, b]}.
   */
  function makeScale(min, max, kind = null) {
    if (!Number.isFinite(min)) min = 0;
    if (!Number.isFinite(max)) max = 0;
    if (!kind) kind = min < 0 ? "diverging" : "sequential";
    if (kind === "diverging") {
      const a = Math.max(Math.abs(min), Math.abs(max)) || 1;
      return { kind, lo: -a, hi: a, min, max, rgb: (v) => ramp(RDBU, (v / a + 1) / 2) };
    }
    if (kind === "grey") {
      const lo = Math.min(0, min);
      const hi = max > lo ? max : lo + 1;
      return {
        kind,
        lo,
        hi,
        min,
        max,
        rgb: (v) => {
          const g = 255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
          return [g, g, g];
        },
      };
    }
    const lo = Math.min(0, min);
    const hi = max > lo ? max : lo + 1;
    return { kind, lo, hi, min, max, rgb: (v) => ramp(VIRIDIS, (v - lo) / (hi - lo)) };
  }

  function cssColour(rgb) {
    return `rgb(${Math.round(rgb[0])}, ${Math.round(rgb[1])}, ${Math.round(rgb[2])})`;
  }

  /** Dark or light text, whichever reads better on that background. */
  function textOn(rgb) {
    const lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
    return lum > 140 ? "#111" : "#fff";
  }

  /** A legend element: the colour ramp with its two ends and the data's min/max under it. */
  function legend(scale, label = "") {
    const box = document.createElement("div");
    box.className = "legend";
    const canvas = document.createElement("canvas");
    canvas.width = 128;
    canvas.height = 1;
    canvas.className = "legend-ramp";
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(128, 1);
    for (let i = 0; i < 128; i++) {
      const v = scale.lo + ((scale.hi - scale.lo) * i) / 127;
      const c = scale.rgb(v);
      img.data.set([c[0], c[1], c[2], 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
    const ends = document.createElement("div");
    ends.className = "legend-ends";
    const lo = document.createElement("span");
    lo.className = "legend-lo";
    lo.textContent = fmtSigned(scale.lo, 3);
    const hi = document.createElement("span");
    hi.className = "legend-hi";
    hi.textContent = fmtSigned(scale.hi, 3);
    ends.append(lo);
    if (scale.kind === "diverging") {
      const zero = document.createElement("span");
      zero.textContent = "0";
      ends.append(zero);
    }
    ends.append(hi);
    const range = document.createElement("div");
    range.className = "legend-range";
    const span = _("min {min} · max {max}", { min: fmtSigned(scale.min, 3), max: fmtSigned(scale.max, 3) });
    range.textContent = label ? `${label}: ${span}` : span;
    box.append(canvas, ends, range);
    return box;
  }

  // ------------------------------------------------------------------ arrays and images

  /** Flatten a nested list (H×W×C or any depth) → {data: Float64Array, shape}. */
  function flatten(nested) {
    const shape = [];
    let probe = nested;
    while (Array.isArray(probe)) {
      shape.push(probe.length);
      probe = probe[0];
    }
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(size);
    let k = 0;
    (function walk(a) {
      if (Array.isArray(a)) {
        for (const b of a) walk(b);
      } else {
        data[k++] = typeof a === "number" ? a : NaN;
      }
    })(nested);
    return { data, shape };
  }

  // Typed arrays read bytes in the platform's byte order. Every browser the explorer runs in (x86, ARM) is
  // little-endian, as the server's bytes are; on a big-endian one the slower DataView path below reads them.
  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const FLOAT_BYTES = { float32: 4, float64: 8 };

  /**
   * One layer's values as /api/layers sends them → {data: Float32Array | Float64Array, shape}.
   * Default format: {values_b64: base64 of little-endian floats in C order (H×W×C, channel last), shape,
   * dtype: "float32" | "float64"}: exact, NaN and ±Infinity included. `?format=list` answers carry nested
   * lists in "values" instead (NaN/inf as null): those go through flatten (null → NaN).
   */
  function decodeValues(layer) {
    if (typeof layer.values_b64 !== "string") return flatten(layer.values);
    const shape = Array.isArray(layer.shape) ? layer.shape : layer.output_shape;
    const size = shape.reduce((a, b) => a * b, 1);
    const width = FLOAT_BYTES[layer.dtype];
    if (!width) throw new Error(_("layer {name}: values of dtype {dtype} cannot be shown", { name: layer.name, dtype: layer.dtype }));
    const bin = atob(layer.values_b64);
    if (bin.length !== size * width) {
      const sizes = { name: layer.name, expected: size * width, shape: shape.join("×"), got: bin.length };
      throw new Error(_("layer {name}: expected {expected} bytes of values ({shape}), got {got}", sizes));
    }
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    let data;
    if (LITTLE_ENDIAN) {
      data = width === 4 ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer);
    } else {
      data = width === 4 ? new Float32Array(size) : new Float64Array(size);
      const view = new DataView(bytes.buffer);
      for (let i = 0; i < size; i++) data[i] = width === 4 ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true);
    }
    return { data, shape: shape.slice() };
  }

  /**
   * Paint an image the network sees: values in [0, 1], (H, W) or (H, W, C) with C 1 or 3, on a canvas
   * whose pixel size becomes W×H (CSS scales it up, pixelated).
   */
  function paintInput(canvas, nested) {
    const { data, shape } = flatten(nested);
    const h = shape[0];
    const w = shape[1];
    const c = shape.length > 2 ? shape[2] : 1;
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) {
      const to255 = (v) => Math.round(255 * Math.min(1, Math.max(0, v)));
      const r = to255(data[i * c]);
      const g = c >= 3 ? to255(data[i * c + 1]) : r;
      const b = c >= 3 ? to255(data[i * c + 2]) : r;
      img.data.set([r, g, b, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
    return { h, w, c };
  }

  /** Paint channel `ch` of a flat (H, W, C) array with a colour scale. */
  function paintMap(canvas, data, h, w, c, ch, scale) {
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) {
      const rgb = scale.rgb(data[i * c + ch]);
      img.data[4 * i] = rgb[0];
      img.data[4 * i + 1] = rgb[1];
      img.data[4 * i + 2] = rgb[2];
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  // ------------------------------------------------------------------ number grids

  /**
   * A small table of numbers coloured by `scale` (a matrix: array of rows).
   * opts: {mask (same shape, true = padding cell), highlight [r, c], caption, digits, cellClass}
   */
  function numberGrid(matrix, scale, opts = {}) {
    const table = document.createElement("table");
    table.className = "grid" + (opts.className ? " " + opts.className : "");
    if (opts.caption) {
      const cap = document.createElement("caption");
      cap.textContent = opts.caption;
      table.append(cap);
    }
    const body = document.createElement("tbody");
    matrix.forEach((row, r) => {
      const tr = document.createElement("tr");
      row.forEach((v, c) => {
        const td = document.createElement("td");
        td.textContent = v === null || v === undefined ? "–" : fmtSigned(v, opts.digits || 3);
        if (scale && Number.isFinite(v)) {
          const rgb = scale.rgb(v);
          td.style.backgroundColor = cssColour(rgb);
          td.style.color = textOn(rgb);
        }
        if (opts.mask && opts.mask[r] && opts.mask[r][c]) td.classList.add("is-pad");
        if (opts.highlight && opts.highlight[0] === r && opts.highlight[1] === c) td.classList.add("is-winner");
        if (opts.onCell) {
          td.tabIndex = 0;
          td.classList.add("is-clickable");
          td.dataset.row = r;
          td.dataset.col = c;
        }
        tr.append(td);
      });
      body.append(tr);
    });
    table.append(body);
    if (opts.onCell) {
      const pick = (td) => {
        if (td && td.dataset.row !== undefined) opts.onCell(Number(td.dataset.row), Number(td.dataset.col), td);
      };
      table.addEventListener("click", (e) => pick(e.target.closest("td")));
      table.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          pick(e.target.closest("td"));
        }
      });
    }
    return table;
  }

  /** Create an element with a class and text, the small helper the pages use everywhere. */
  function el(tag, className = "", text = null) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== null) e.textContent = text;
    return e;
  }

  /** Call fn after `ms` of quiet; .now() runs it at once, .cancel() drops the pending call. */
  function debounce(fn, ms) {
    let timer = null;
    const wrapped = (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        fn(...args);
      }, ms);
    };
    wrapped.cancel = () => {
      clearTimeout(timer);
      timer = null;
    };
    wrapped.pending = () => timer !== null;
    wrapped.now = (...args) => {
      wrapped.cancel();
      fn(...args);
    };
    return wrapped;
  }

  document.addEventListener("DOMContentLoaded", () => pollStatus());

  return {
    $,
    el,
    ApiError,
    fetchJSON,
    request,
    showError,
    showNotice,
    clearError,
    whenReady,
    onStatus,
    status: () => lastStatus,
    _,
    ngettext,
    format,
    fmt,
    fmtSigned,
    fmtInt,
    pct,
    makeScale,
    cssColour,
    textOn,
    legend,
    flatten,
    decodeValues,
    paintInput,
    paintMap,
    numberGrid,
    debounce,
    setRichText,
  };
})();
