// The Digits page: draw on #draw (pointer events: mouse, pen, touch), send the canvas to /api/predict
// (debounced while drawing, at once on pointerup), show what the network sees (#seen) and the class
// probabilities (#bars, #prediction). "A real test digit" and "upload" use the same endpoint.
"use strict";

(() => {
  const { _ } = CL;
  const LINE_WIDTH = 18; // px on the 280×280 canvas: about MNIST's stroke width once scaled to 20×20
  const DEBOUNCE_MS = 150; // predict after this much quiet while drawing…
  const MAX_WAIT_MS = 500; // …but at least this often during a long stroke, so the bars follow the pen
  const TEST_DIGITS = 1000; // the MNIST-5k protocol's held-out digits

  const draw = CL.$("draw");
  const ctx = draw.getContext("2d", { willReadFrequently: true });
  const seen = CL.$("seen");
  const bars = CL.$("bars");
  const prediction = CL.$("prediction");
  const truth = CL.$("truth");
  const source = CL.$("source");
  const toInside = CL.$("to-inside");
  const errorBox = CL.$("error");

  let hasInk = false;
  let stroke = null; // {id, last: [x, y]} while a pointer draws
  let seq = 0; // the number of the latest prediction asked for; older answers are dropped
  let canvasInFlight = false;
  let canvasPending = false;
  let lastSent = 0;
  let classes = null;
  let othersInFlight = 0; // "a real test digit" and uploads
  let outcome = "empty"; // of the latest answer: "ready" or "error"

  // #prediction's data-state says whether the numbers on the page belong to what is on the canvas now:
  // "busy" while a prediction is pending or on its way, then "ready" (or "error"); "empty" after Clear.
  // (Browser tests wait for it instead of guessing how long a request takes.)
  function busy() {
    prediction.dataset.state = "busy";
  }
  function settle() {
    if (canvasInFlight || canvasPending || othersInFlight || debounced.pending()) return;
    prediction.dataset.state = outcome;
  }

  // ---------------------------------------------------------------- drawing

  function resetCanvas() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, draw.width, draw.height);
    hasInk = false;
  }

  function pointOf(e) {
    // The canvas may be shown smaller than its 280×280 pixels (narrow screens): map CSS px → canvas px.
    const r = draw.getBoundingClientRect();
    return [((e.clientX - r.left) * draw.width) / r.width, ((e.clientY - r.top) * draw.height) / r.height];
  }

  function ink() {
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = LINE_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  function dot(p) {
    ink();
    ctx.beginPath();
    ctx.arc(p[0], p[1], LINE_WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  function segment(a, b) {
    // A line between successive points: a quick stroke reported as a few far-apart moves stays continuous.
    ink();
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }

  draw.addEventListener("pointerdown", (e) => {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    if (stroke) return; // a second finger does not start a second stroke
    try {
      draw.setPointerCapture(e.pointerId); // keep receiving moves when the pen leaves the canvas
    } catch (err) {
      // an already-released pointer (synthetic events): drawing still works without capture
    }
    stroke = { id: e.pointerId, last: pointOf(e) };
    busy();
    dot(stroke.last);
    hasInk = true;
    source.textContent = _("Your drawing. Keep going, or press Clear to start again.");
    predictSoon();
  });

  draw.addEventListener("pointermove", (e) => {
    if (!stroke || e.pointerId !== stroke.id) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const p = pointOf(ev);
      segment(stroke.last, p);
      stroke.last = p;
    }
    predictSoon();
  });

  function endStroke(e) {
    if (!stroke || e.pointerId !== stroke.id) return;
    stroke = null;
    predictSoon.cancel();
    predictCanvas();
  }
  draw.addEventListener("pointerup", endStroke);
  draw.addEventListener("pointercancel", endStroke);
  draw.addEventListener("lostpointercapture", endStroke);
  // No context menu or text selection on long presses (touch screens).
  draw.addEventListener("contextmenu", (e) => e.preventDefault());

  // ---------------------------------------------------------------- predictions

  function canvasPayload() {
    // The red channel is the ink intensity (white ink on black: 0 = background).
    const rgba = ctx.getImageData(0, 0, draw.width, draw.height).data;
    const red = new Uint8Array(draw.width * draw.height);
    for (let i = 0; i < red.length; i++) red[i] = rgba[4 * i];
    let bin = "";
    for (let i = 0; i < red.length; i += 0x8000) bin += String.fromCharCode.apply(null, red.subarray(i, i + 0x8000));
    return { width: draw.width, height: draw.height, pixels: btoa(bin) };
  }

  function predictCanvas() {
    if (!hasInk) return settle();
    busy();
    // One drawing request at a time; the last state of the canvas is always sent after the one in flight.
    if (canvasInFlight) {
      canvasPending = true;
      return;
    }
    canvasInFlight = true;
    lastSent = performance.now();
    send({ json: { canvas: canvasPayload() } }, "drawing").finally(() => {
      canvasInFlight = false;
      if (canvasPending) {
        canvasPending = false;
        predictCanvas();
      }
      settle();
    });
  }

  const debounced = CL.debounce(predictCanvas, DEBOUNCE_MS);
  function predictSoon() {
    busy();
    if (performance.now() - lastSent > MAX_WAIT_MS && !canvasInFlight) debounced.now();
    else debounced();
  }
  predictSoon.cancel = debounced.cancel;

  function dropCanvasRequests() {
    predictSoon.cancel();
    canvasPending = false;
    seq++; // answers to earlier requests are now stale
  }

  async function send(opts, what) {
    const mine = ++seq;
    const other = what !== "drawing";
    if (other) othersInFlight++;
    busy();
    try {
      const res = await CL.request("/api/predict", opts, errorBox);
      if (mine !== seq) return null;
      CL.clearError(errorBox);
      show(res, what);
      outcome = "ready";
      return res;
    } catch (err) {
      if (mine === seq) {
        CL.showError(errorBox, err);
        outcome = "error";
      }
      return null;
    } finally {
      if (other) othersInFlight--;
      settle();
    }
  }

  function show(res, what) {
    const shape = CL.paintInput(seen, res.input);
    const dims = shape.c === 1 ? `${shape.h}×${shape.w}` : `${shape.h}×${shape.w}×${shape.c}`;
    CL.$("seen-caption").textContent =
      shape.c === 3
        ? _("{dims} numbers in [0, 1]: red, green and blue for each pixel.", { dims })
        : _("{dims} pixels, each a number in [0, 1] (black 0, white 1).", { dims });
    if (what !== "drawing") {
      // Put the image on the drawing canvas too, so one can draw over it.
      ctx.imageSmoothingEnabled = false;
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, draw.width, draw.height);
      ctx.drawImage(seen, 0, 0, draw.width, draw.height);
      hasInk = true;
    }
    classes = res.classes;
    renderBars(res.probabilities, res.classes, res.top);
    const top = res.top;
    prediction.textContent = `${res.classes[top]} (${CL.pct(res.probabilities[top])})`;
    prediction.classList.remove("is-empty");
    if (res.label !== null && res.label !== undefined) {
      const name = typeof res.label === "number" && res.classes[res.label] !== undefined ? res.classes[res.label] : res.label;
      const right = String(name) === String(res.classes[top]);
      truth.textContent = right
        ? _("true label: {name} ✓ right", { name })
        : _("true label: {name} ✗ the network got this one wrong", { name });
      truth.classList.toggle("is-right", right);
      truth.classList.toggle("is-wrong", !right);
      truth.hidden = false;
    } else {
      truth.hidden = true;
    }
    toInside.href = `/inside?input=${encodeURIComponent(res.input_id)}`;
    toInside.classList.remove("is-disabled");
    toInside.removeAttribute("aria-disabled");
  }

  // ---------------------------------------------------------------- bars

  function renderBars(probs, names, top) {
    bars.textContent = "";
    let order = names.map((_name, i) => i);
    const many = names.length > 12;
    if (many) order = order.sort((a, b) => probs[b] - probs[a]).slice(0, 10); // the ten likeliest
    // One label width for every row, so the bars start at the same x (names: "7" or "airplane").
    const longest = Math.max(1, ...order.map((i) => String(names[i]).length));
    bars.style.setProperty("--label-width", `${Math.min(longest, 14) * 1.3 + 0.5}ch`);
    for (const i of order) {
      const p = probs ? probs[i] : 0;
      const row = CL.el("div", "bar-row");
      row.dataset.class = i;
      if (probs && i === top) row.classList.add("is-top");
      const label = CL.el("span", "bar-label", names[i]);
      const track = CL.el("span", "bar-track");
      const fill = CL.el("span", "bar-fill");
      fill.style.width = `${(100 * Math.max(0, Math.min(1, p))).toFixed(2)}%`;
      track.append(fill);
      const value = CL.el("span", "bar-value", probs ? CL.pct(p) : "–");
      row.append(label, track, value);
      bars.append(row);
    }
    if (many) bars.append(CL.el("p", "hint", _("the 10 likeliest of {n} classes", { n: names.length })));
  }

  function clearAll() {
    dropCanvasRequests();
    resetCanvas();
    const sctx = seen.getContext("2d");
    sctx.fillStyle = "#000";
    sctx.fillRect(0, 0, seen.width, seen.height);
    prediction.textContent = "—";
    prediction.classList.add("is-empty");
    outcome = "empty";
    settle();
    truth.hidden = true;
    renderBars(null, classes || defaultClasses(), -1);
    toInside.classList.add("is-disabled");
    toInside.setAttribute("aria-disabled", "true");
    toInside.href = "/inside";
    source.textContent = _("Draw with one stroke or many; the prediction follows as you draw.");
    CL.clearError(errorBox);
  }

  function defaultClasses() {
    const st = CL.status();
    return st && st.model && st.model.classes ? st.model.classes : ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
  }

  // ---------------------------------------------------------------- buttons

  CL.$("clear").addEventListener("click", clearAll);

  CL.$("sample").addEventListener("click", async () => {
    dropCanvasRequests();
    const index = Math.floor(Math.random() * TEST_DIGITS);
    source.textContent = _("Test digit #{index} of the {total} held out: the network never trained on it.", {
      index,
      total: TEST_DIGITS.toLocaleString("en-US"),
    });
    await send({ json: { test_index: index } }, "sample");
  });

  const upload = CL.$("upload");
  upload.addEventListener("change", async () => {
    const file = upload.files && upload.files[0];
    if (!file) return;
    dropCanvasRequests();
    const form = new FormData();
    form.append("image", file, file.name);
    upload.value = ""; // choosing the same file again fires "change" again
    source.textContent = _("Your image \"{name}\", as the network sees it.", { name: file.name });
    await send({ form }, "upload");
  });

  // The link is a real link; while there is no input yet it only says what to do first.
  toInside.addEventListener("click", (e) => {
    if (toInside.classList.contains("is-disabled")) {
      e.preventDefault();
      CL.showNotice(errorBox, _("Draw a digit (or pick a real test digit) first — then look inside."));
    }
  });

  CL.onStatus((st) => {
    if (!st.model) return;
    if (Array.isArray(st.model.layers) && st.model.layers.length) {
      CL.$("architecture").textContent = st.model.layers.map((l) => l.class_name).join(" → ");
    }
    if (!classes) {
      classes = st.model.classes;
      if (prediction.classList.contains("is-empty")) renderBars(null, classes, -1);
    }
  });

  resetCanvas();
  clearAll();
})();
