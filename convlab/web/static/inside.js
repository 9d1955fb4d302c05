// The "Inside the network" page: every layer's output for one input (GET /api/layers?input=ID) as
// feature maps (.fmap canvases) or units (.unit cells), and, on a click, how one number was computed
// (GET /api/explain) in #explanation. Nothing here assumes the default model: shapes, colour scales and
// the explanation's grids follow what the server reports.
"use strict";

(() => {
  const { _, ngettext } = CL;
  const MAP_PX = 78; // display size of a map: 26×26 maps at 3× — eight of them across the column
  const MAP_PX_MAX = 156;
  const CELL_LIMIT = 400; // longer vectors (Flatten: 5,408 numbers) are drawn on a canvas, not as cells
  const STRIP_CELL = 4; // px per number on that canvas

  const errorBox = CL.$("error");
  const explainError = CL.$("explain-error");
  const explanation = CL.$("explanation");
  const body = CL.$("explain-body"); // the rebuilt part of the explanation
  const HINT = CL.$("explain-hint").textContent.replace(/\s+/g, " ").trim();
  const layersBox = CL.$("layers");

  let inputId = null;
  let inputInfo = null; // {data, shape, scale} of the input image
  let layers = []; // per layer: the server's dict plus {data, shape, scale, panel}
  let explainSeq = 0;
  let loadSeq = 0;

  // ---------------------------------------------------------------- loading

  async function load(id, testIndex = null) {
    const mine = ++loadSeq;
    layersBox.dataset.state = "loading"; // "ready" once every panel is drawn, or "error"
    CL.clearError(errorBox);
    clearExplanation();
    CL.$("layers-loading").hidden = false;
    try {
      const body = id ? { input_id: id } : { test_index: testIndex === null ? 0 : testIndex };
      const pred = await CL.request("/api/predict", { json: body }, errorBox);
      if (mine !== loadSeq) return;
      inputId = pred.input_id;
      const url = new URL(window.location.href);
      url.searchParams.set("input", inputId);
      window.history.replaceState(null, "", url.pathname + url.search);
      showInput(pred);
      const res = await CL.request(`/api/layers?input=${encodeURIComponent(inputId)}`, {}, errorBox);
      if (mine !== loadSeq) return;
      renderLayers(res.layers);
      layersBox.dataset.state = "ready";
    } catch (err) {
      if (mine !== loadSeq) return;
      layersBox.dataset.state = "error";
      CL.showError(errorBox, err);
    } finally {
      if (mine === loadSeq) CL.$("layers-loading").hidden = true;
    }
  }

  function showInput(pred) {
    const canvas = CL.$("input-image");
    const shape = CL.paintInput(canvas, pred.input);
    const flat = CL.flatten(pred.input);
    const c = flat.shape.length > 2 ? flat.shape[2] : 1;
    inputInfo = { data: flat.data, h: shape.h, w: shape.w, c, scale: CL.makeScale(0, 1, "grey") };
    sizeCanvas(canvas, shape.h, shape.w, 140, 224);
    const dims = `${shape.h}×${shape.w}×${c}`;
    CL.$("input-shape").textContent =
      c === 3
        ? _("{dims}: {n} numbers in [0, 1] (red, green, blue)", { dims, n: shape.h * shape.w * 3 })
        : _("{dims}: {n} numbers in [0, 1] (black 0, white 1)", { dims, n: (shape.h * shape.w).toLocaleString("en-US") });
    const top = pred.top;
    const says = { cls: pred.classes[top], pct: CL.pct(pred.probabilities[top]) };
    let text = _("the network says {cls} ({pct})", says);
    if (pred.label !== null && pred.label !== undefined) {
      const name = typeof pred.label === "number" && pred.classes[pred.label] !== undefined ? pred.classes[pred.label] : pred.label;
      text = _("the network says {cls} ({pct}) · true label {name}", { ...says, name });
    }
    CL.$("inside-prediction").textContent = text;
  }

  /** Pixelated CSS size for an h×w canvas: an integer zoom near `target` px, at most `max` px. */
  function sizeCanvas(canvas, h, w, target, max) {
    const side = Math.max(h, w);
    let zoom = Math.max(1, Math.round(target / side));
    if (side * zoom > max) zoom = max / side;
    canvas.style.width = `${Math.round(w * zoom)}px`;
    canvas.style.height = `${Math.round(h * zoom)}px`;
  }

  // ---------------------------------------------------------------- layer panels

  const MAX_POOL_ABOUT = _("Each pixel is the largest number of a window of the map before. No weights: it only makes the maps smaller.");
  const AVG_POOL_ABOUT = _("Each pixel is the mean of a window of the map before. No weights.");
  const ABOUT = {
    Conv2D: _("One map per kernel. Each pixel: the window of the layer before × the kernel, summed, plus the bias, then the activation."),
    MaxPool2D: MAX_POOL_ABOUT,
    MaxPooling2D: MAX_POOL_ABOUT,
    AveragePooling2D: AVG_POOL_ABOUT,
    AvgPool2D: AVG_POOL_ABOUT,
    Flatten: _("The same numbers, one after the other in a single row (row by row, channel last). Nothing is computed."),
    Dense: _("Each unit: every input × its weight, summed, plus the bias, then the activation."),
    Dropout: _("Dropout only acts while training; here it passes its input through unchanged."),
    Activation: _("The activation function, applied to each number on its own."),
    ReLU: _("max(0, x) for each number: negatives become 0."),
  };

  const ACTIVATION_NAMES = { relu: "ReLU", softmax: "softmax", sigmoid: _("sigmoid"), tanh: "tanh", linear: _("none (linear)") };

  // NaN and ±inf (an overflowing model) are grey, off every ramp: without this the ramps clamp a non-finite t
  // to 0 and a NaN would look like the smallest value. The readouts still say NaN / Infinity.
  const NON_FINITE_RGB = [150, 150, 150];

  function layerScale(layer) {
    const scale = layer.activation === "softmax" ? CL.makeScale(0, 1, "sequential") : CL.makeScale(layer.min, layer.max);
    if (layer.activation !== "softmax") {
      scale.min = layer.min;
      scale.max = layer.max;
    }
    const rgb = scale.rgb;
    scale.rgb = (v) => (Number.isFinite(v) ? rgb(v) : NON_FINITE_RGB);
    return scale;
  }

  function renderLayers(list) {
    for (const old of layersBox.querySelectorAll(".layer-panel[data-layer]:not(.input-panel)")) old.remove();
    const st = CL.status();
    const modelLayers = st && st.model && Array.isArray(st.model.layers) ? st.model.layers : [];
    const classes = st && st.model && st.model.classes ? st.model.classes : null;
    layers = list.map((layer) => {
      // base64 float32 bytes by default (CL.decodeValues: exact, NaN/inf kept), nested lists with ?format=list
      const flat = CL.decodeValues(layer);
      const info = { ...layer, data: flat.data, shape: flat.shape, scale: layerScale(layer) };
      delete info.values;
      delete info.values_b64;
      return info;
    });
    const loading = CL.$("layers-loading");
    layers.forEach((layer, i) => {
      const meta = modelLayers.find((m) => m.index === layer.index) || {};
      const isLast = i === layers.length - 1;
      const panel = buildPanel(layer, meta, isLast ? classes : null);
      layer.panel = panel;
      layersBox.insertBefore(panel, loading);
    });
  }

  function buildPanel(layer, meta, classes) {
    const panel = CL.el("section", "layer-panel");
    panel.dataset.layer = layer.index;
    panel.dataset.kind = layer.kind;
    const head = CL.el("div", "layer-head");
    const title = CL.el("h3", "", "");
    title.append(CL.el("span", "layer-index", String(layer.index)), ` ${layer.name} `, CL.el("span", "layer-class", layer.class_name));
    const facts = [];
    facts.push(layer.output_shape.join("×"));
    if (layer.activation && layer.activation !== "linear") {
      facts.push(_("activation {name}", { name: ACTIVATION_NAMES[layer.activation] || layer.activation }));
    }
    if (typeof meta.params === "number") {
      facts.push(ngettext("{n} parameter", "{n} parameters", meta.params, { n: CL.fmtInt(meta.params) }));
    }
    const factLine = CL.el("p", "layer-facts", facts.join(" · "));
    const readout = CL.el("p", "readout", "");
    readout.setAttribute("aria-hidden", "true");
    const textBox = CL.el("div", "layer-text");
    textBox.append(title, factLine, CL.el("p", "layer-about", ABOUT[layer.class_name] || ""));
    head.append(textBox, CL.legend(layer.scale));
    panel.append(head);

    if (layer.kind === "maps") {
      panel.append(buildMaps(layer), readout);
    } else if (layer.kind === "vector" && layer.data.length <= CELL_LIMIT) {
      panel.append(buildUnits(layer, classes), readout);
    } else if (layer.kind === "vector") {
      panel.append(buildStrip(layer), readout);
    } else {
      panel.append(CL.el("p", "hint", _("an output of shape {shape}: not drawn here", { shape: layer.output_shape.join("×") })));
    }
    return panel;
  }

  function buildMaps(layer) {
    const [h, w, c] = layer.shape.length === 3 ? layer.shape : [layer.shape[0], layer.shape[1], 1];
    const grid = CL.el("div", "fmaps");
    for (let ch = 0; ch < c; ch++) {
      const fig = CL.el("figure", "fmap-cell");
      const canvas = CL.el("canvas", "fmap");
      canvas.dataset.layer = layer.index;
      canvas.dataset.channel = ch;
      CL.paintMap(canvas, layer.data, h, w, c, ch, layer.scale);
      sizeCanvas(canvas, h, w, MAP_PX, MAP_PX_MAX);
      canvas.title = _("map {channel}: click a pixel to see how it was computed", { channel: ch });
      const marker = CL.el("span", "marker");
      marker.hidden = true;
      fig.append(canvas, marker, CL.el("figcaption", "", String(ch)));
      grid.append(fig);
    }
    const pos = (e, canvas) => {
      const r = canvas.getBoundingClientRect();
      const col = Math.min(w - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * w)));
      const row = Math.min(h - 1, Math.max(0, Math.floor(((e.clientY - r.top) / r.height) * h)));
      return [row, col];
    };
    grid.addEventListener("click", (e) => {
      const canvas = e.target.closest(".fmap");
      if (!canvas) return;
      if (!layer.explainable) return notExplainable(layer);
      const [row, col] = pos(e, canvas);
      const channel = Number(canvas.dataset.channel);
      select(layer, { row, col, channel });
    });
    grid.addEventListener("mousemove", (e) => {
      const canvas = e.target.closest(".fmap");
      const readout = grid.parentElement.querySelector(".readout");
      if (!canvas || !readout) return;
      const [row, col] = pos(e, canvas);
      const ch = Number(canvas.dataset.channel);
      const value = CL.fmtSigned(layer.data[(row * w + col) * c + ch], 4);
      readout.textContent = _("map {channel}, row {row}, col {col}: {value}", { channel: ch, row, col, value });
    });
    return grid;
  }

  function buildUnits(layer, classes) {
    const n = layer.data.length;
    const labelled = classes && classes.length === n;
    const grid = CL.el("div", labelled ? "units is-output" : "units");
    // A class per column when they fit on one line (10 digits): the output reads like the bar chart.
    if (labelled && n <= 12) grid.style.gridTemplateColumns = `repeat(${n}, minmax(0, 1fr))`;
    for (let u = 0; u < n; u++) {
      const v = layer.data[u];
      const cell = CL.el("button", "unit");
      cell.type = "button";
      cell.dataset.layer = layer.index;
      cell.dataset.unit = u;
      const rgb = layer.scale.rgb(v);
      cell.style.backgroundColor = CL.cssColour(rgb);
      cell.style.color = CL.textOn(rgb);
      if (labelled) {
        cell.append(CL.el("span", "unit-name", classes[u]), CL.el("span", "unit-value", layer.activation === "softmax" && Number.isFinite(v) ? CL.pct(v) : CL.fmtSigned(v, 3)));
      }
      cell.title = labelled ? `${classes[u]}: ${CL.fmtSigned(v, 4)}` : _("unit {unit}: {value}", { unit: u, value: CL.fmtSigned(v, 4) });
      cell.setAttribute("aria-label", cell.title);
      grid.append(cell);
    }
    grid.addEventListener("click", (e) => {
      const cell = e.target.closest(".unit");
      if (!cell) return;
      if (!layer.explainable) return notExplainable(layer);
      select(layer, { unit: Number(cell.dataset.unit) });
    });
    grid.addEventListener("mouseover", (e) => {
      const cell = e.target.closest(".unit");
      const readout = grid.parentElement.querySelector(".readout");
      if (cell && readout) readout.textContent = cell.title;
    });
    return grid;
  }

  function buildStrip(layer) {
    const n = layer.data.length;
    const box = CL.el("div", "strip-box");
    const canvas = CL.el("canvas", "unit-strip");
    canvas.dataset.layer = layer.index;
    const cols = 170;
    const rows = Math.ceil(n / cols);
    canvas.width = cols;
    canvas.height = rows;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(cols, rows);
    for (let u = 0; u < cols * rows; u++) {
      const rgb = u < n ? layer.scale.rgb(layer.data[u]) : [255, 255, 255];
      img.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * u);
    }
    ctx.putImageData(img, 0, 0);
    canvas.style.width = `${cols * STRIP_CELL}px`;
    canvas.style.height = `${rows * STRIP_CELL}px`;
    canvas.title = _("{n} numbers, {cols} to a row: click one to see where it came from", { n: n.toLocaleString("en-US"), cols });
    const unitAt = (e) => {
      const r = canvas.getBoundingClientRect();
      const col = Math.floor(((e.clientX - r.left) / r.width) * cols);
      const row = Math.floor(((e.clientY - r.top) / r.height) * rows);
      const u = row * cols + col;
      return u >= 0 && u < n && col < cols ? u : null;
    };
    canvas.addEventListener("click", (e) => {
      const u = unitAt(e);
      if (u === null) return;
      if (!layer.explainable) return notExplainable(layer);
      select(layer, { unit: u });
    });
    canvas.addEventListener("mousemove", (e) => {
      const u = unitAt(e);
      const readout = box.parentElement && box.parentElement.querySelector(".readout");
      if (readout && u !== null) readout.textContent = _("number {index}: {value}", { index: u, value: CL.fmtSigned(layer.data[u], 4) });
    });
    const marker = CL.el("span", "marker");
    marker.hidden = true;
    box.append(canvas, marker);
    return box;
  }

  // ---------------------------------------------------------------- selection and markers

  function clearMarkers() {
    for (const m of layersBox.querySelectorAll(".marker, .source-marker")) {
      if (m.classList.contains("source-marker")) m.remove();
      else m.hidden = true;
    }
    for (const u of layersBox.querySelectorAll(".unit.is-selected")) u.classList.remove("is-selected");
  }

  /** Outline rows r0…r0+kh−1, cols c0…c0+kw−1 of a canvas (clipped to it); `cls` names the marker. */
  function outline(canvas, r0, c0, kh, kw, cls) {
    const h = canvas.height;
    const w = canvas.width;
    const top = Math.max(0, r0);
    const left = Math.max(0, c0);
    const bottom = Math.min(h, r0 + kh);
    const right = Math.min(w, c0 + kw);
    if (bottom <= top || right <= left) return;
    const sx = parseFloat(canvas.style.width) / w;
    const sy = parseFloat(canvas.style.height) / h;
    let m = canvas.parentElement.querySelector(`.${cls}`);
    if (!m) {
      m = CL.el("span", cls);
      canvas.parentElement.append(m);
    }
    m.hidden = false;
    m.style.left = `${canvas.offsetLeft + left * sx}px`;
    m.style.top = `${canvas.offsetTop + top * sy}px`;
    m.style.width = `${(right - left) * sx}px`;
    m.style.height = `${(bottom - top) * sy}px`;
  }

  /** The canvases of the layer before `layer` (or the input image), optionally one channel only. */
  function sourceCanvases(layer, channel) {
    const pos = layers.indexOf(layer);
    if (pos <= 0) return [CL.$("input-image")];
    const prev = layers[pos - 1];
    if (!prev.panel || prev.kind !== "maps") return [];
    const sel = channel === null ? ".fmap" : `.fmap[data-channel="${channel}"]`;
    return Array.from(prev.panel.querySelectorAll(sel));
  }

  function select(layer, where) {
    clearMarkers();
    if (where.unit !== undefined) {
      const cell = layer.panel.querySelector(`.unit[data-unit="${where.unit}"]`);
      if (cell) cell.classList.add("is-selected");
      const strip = layer.panel.querySelector(".unit-strip");
      if (strip) {
        const cols = strip.width;
        outline(strip, Math.floor(where.unit / cols), where.unit % cols, 1, 1, "marker");
      }
    } else {
      const canvas = layer.panel.querySelector(`.fmap[data-channel="${where.channel}"]`);
      if (canvas) outline(canvas, where.row, where.col, 1, 1, "marker");
    }
    explainAt(layer, where);
  }

  // ---------------------------------------------------------------- explanations

  function notExplainable(layer) {
    explainSeq++;
    explanation.dataset.state = "empty";
    resetExplanation(
      _("{name} ({cls}): the explorer cannot explain this layer's numbers yet.", { name: layer.name, cls: layer.class_name }),
    );
  }

  /** Back to the hint (or another message), with no explanation shown. */
  function resetExplanation(message = null) {
    body.textContent = "";
    const hint = CL.$("explain-hint");
    if (message) hint.textContent = message;
    hint.hidden = false;
    for (const id of ["explain-title", "explain-value-box", "explain-check", "explain-slides"]) CL.$(id).hidden = true;
  }

  function clearExplanation() {
    explainSeq++;
    CL.clearError(explainError);
    explanation.dataset.state = "empty";
    resetExplanation(HINT);
  }

  async function explainAt(layer, where) {
    const mine = ++explainSeq;
    explanation.dataset.state = "loading";
    explanation.classList.add("is-loading");
    const q = new URLSearchParams({ input: inputId, layer: String(layer.index) });
    for (const [k, v] of Object.entries(where)) q.set(k, String(v));
    try {
      const ex = await CL.request(`/api/explain?${q}`, {}, explainError);
      if (mine !== explainSeq) return;
      CL.clearError(explainError);
      renderExplanation(ex, layer, where);
      explanation.dataset.state = "ready";
    } catch (err) {
      if (mine !== explainSeq) return;
      explanation.dataset.state = "error";
      CL.showError(explainError, err);
    } finally {
      if (mine === explainSeq) explanation.classList.remove("is-loading");
    }
  }

  function whereText(layer, where) {
    if (where.unit !== undefined) {
      const st = CL.status();
      const classes = st && st.model ? st.model.classes : null;
      const isLast = layers.indexOf(layer) === layers.length - 1;
      if (isLast && classes && classes[where.unit] !== undefined) {
        return _("{layer} · unit {unit} (class {cls})", { layer: layer.name, unit: where.unit, cls: classes[where.unit] });
      }
      return _("{layer} · unit {unit}", { layer: layer.name, unit: where.unit });
    }
    return _("{layer} · map {channel} · row {row}, col {col}", { layer: layer.name, ...where });
  }

  /** window[r][c] (2-D) or window[r][c][ch] (3-D) → the 2-D grid of channel ch. */
  function channelGrid(window3, ch) {
    return window3.map((row) => row.map((v) => (Array.isArray(v) ? v[ch] : v)));
  }

  function channelsOf(window3) {
    const v = window3 && window3[0] && window3[0][0];
    return Array.isArray(v) ? v.length : 1;
  }

  function maskGrid(mask, ch) {
    if (!mask) return null;
    return mask.map((row) => row.map((v) => (Array.isArray(v) ? !!v[ch] : !!v)));
  }

  function absMax(nested) {
    const { data } = CL.flatten(nested);
    let m = 0;
    for (const v of data) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
    return m || 1;
  }

  /** The scale of the numbers a layer reads: the input's or the previous layer's. */
  function inputScaleFor(layer) {
    const pos = layers.indexOf(layer);
    return pos <= 0 ? inputInfo.scale : layers[pos - 1].scale;
  }

  function line(id, label, text, cls = "") {
    const p = CL.el("p", "ex-line" + (cls ? " " + cls : ""));
    if (id) p.id = id;
    if (label) p.append(CL.el("span", "ex-label", label));
    p.append(CL.el("span", "ex-text", text));
    return p;
  }

  function activationText(ex) {
    const a = ex.activation;
    if (!a || a === "linear") return _("no activation: {value}", { value: CL.fmtSigned(ex.value) });
    if (a === "relu") return `ReLU(${CL.fmtSigned(ex.preactivation)}) = max(0, ${CL.fmtSigned(ex.preactivation)}) = ${CL.fmtSigned(ex.value)}`;
    if (a === "softmax")
      return _("softmax: e^{z} ÷ (the sum of e^z over all units) = {value}", {
        z: CL.fmtSigned(ex.preactivation),
        value: CL.fmtSigned(ex.value),
      });
    return `${a}(${CL.fmtSigned(ex.preactivation)}) = ${CL.fmtSigned(ex.value)}`;
  }

  function setCheck(ex) {
    const p = CL.$("explain-check");
    p.classList.remove("is-ok", "is-bad");
    const mapValue = CL.fmtSigned(ex.map_value !== undefined ? ex.map_value : ex.value, 6);
    if (ex.equal === true) {
      p.classList.add("is-ok");
      p.textContent = _("✓ equals the map value {value} (computed again with backend=\"reference\")", { value: mapValue });
    } else if (ex.equal === false) {
      p.classList.add("is-bad");
      p.textContent = _("✗ differs from the map value {value} — please report this", { value: mapValue });
    } else {
      p.textContent = "";
    }
    p.hidden = !p.textContent;
  }

  function setValue(ex) {
    const value = ex.value !== undefined ? ex.value : ex.map_value;
    const box = CL.$("explain-value-box");
    box.hidden = typeof value !== "number";
    CL.$("explained-value").textContent = typeof value === "number" ? CL.fmtSigned(value, 6) : "";
    CL.$("explained-percent").textContent =
      ex.activation === "softmax" && typeof value === "number" ? `= ${CL.pct(value, 2)}` : "";
  }

  function renderExplanation(ex, layer, where) {
    body.textContent = "";
    CL.$("explain-hint").hidden = true;
    const title = CL.$("explain-title");
    title.textContent = whereText(layer, where);
    title.hidden = false;
    const kind = ex.kind;
    if (kind === "conv") renderConv(ex, layer, where);
    else if (kind === "max_pool" || kind === "avg_pool") renderPool(ex, layer, where);
    else if (kind === "dense") renderDense(ex, layer);
    else renderOther(ex, layer);
    setValue(ex);
    setCheck(ex);
    const slides = ["conv", "max_pool", "avg_pool", "dense"].includes(kind) && ex.text;
    CL.$("explain-text").textContent = slides ? ex.text : "";
    CL.$("explain-slides").hidden = !slides;
    explanation.closest(".explain-panel").scrollTop = 0; // a new explanation is read from its title
  }

  function renderConv(ex, layer, where) {
    const channels = channelsOf(ex.window);
    const kh = ex.window.length;
    const kw = ex.window[0].length;
    const wScale = inputScaleFor(layer);
    const kScale = CL.makeScale(-absMax(ex.kernel), absMax(ex.kernel), "diverging");
    if (Array.isArray(ex.input_origin)) {
      const [r0, c0] = ex.input_origin;
      for (const canvas of sourceCanvases(layer, null)) outline(canvas, r0, c0, kh, kw, "source-marker");
      const f = CL.fmtSigned;
      const rows = _("rows {r0}…{r1}, cols {c0}…{c1}", { r0: f(r0), r1: f(r0 + kh - 1), c0: f(c0), c1: f(c0 + kw - 1) });
      const words = { size: `${kh}×${kw}${channels > 1 ? "×" + channels : ""}`, rows, channel: where.channel };
      const intro =
        layers.indexOf(layer) <= 0
          ? _("The {size} window of the input ({rows}, outlined) times the kernel of map {channel}, number by number:", words)
          : _("The {size} window of the layer before ({rows}, outlined) times the kernel of map {channel}, number by number:", words);
      body.append(CL.el("p", "ex-intro", intro));
    }
    const list = CL.el("div", channels > 3 ? "channel-rows is-compact" : "channel-rows");
    const products = ex.products ? CL.flatten(ex.products).data : null;
    for (let ch = 0; ch < channels; ch++) {
      const row = CL.el("div", "channel-row");
      if (channels > 1) {
        // One line per input channel: its name and its share of the sum, then its window × its kernel.
        const head = CL.el("div", "channel-head", _("channel {channel}", { channel: ch }));
        if (products) {
          let s = 0;
          for (let i = ch; i < products.length; i += channels) s += products[i];
          head.append(CL.el("span", "channel-sum", `Σ ${CL.fmtSigned(s, 4)}`));
        }
        row.append(head);
      }
      const grids = CL.el("div", "channel-grids");
      const captions = ch === 0 || channels <= 3;
      const win = CL.numberGrid(channelGrid(ex.window, ch), wScale, {
        mask: maskGrid(ex.padded, ch),
        caption: captions ? _("window") : "",
        className: "window-grid",
      });
      const ker = CL.numberGrid(channelGrid(ex.kernel, ch), kScale, {
        caption: captions ? _("kernel") : "",
        className: "kernel-grid",
      });
      grids.append(win, CL.el("span", "op", "×"), ker);
      row.append(grids);
      list.append(row);
    }
    body.append(list);
    if (ex.padded && CL.flatten(ex.padded).data.some((v) => v)) {
      body.append(CL.el("p", "hint", _("Hatched cells are padding: zeros outside the image.")));
    }
    const terms = line("terms", _("products"), `${ex.terms} = ${CL.fmtSigned(ex.sum, 6)}`, "is-terms");
    body.append(terms);
    body.append(
      line("bias", _("plus the bias"), `${CL.fmtSigned(ex.sum, 6)} + (${CL.fmtSigned(ex.bias, 6)}) = ${CL.fmtSigned(ex.preactivation, 6)}`),
      line("activation", _("activation"), activationText(ex)),
    );
  }

  function renderPool(ex, layer, where) {
    const isMax = ex.kind === "max_pool";
    const grid = channelGrid(ex.window, 0);
    const kh = grid.length;
    const kw = grid[0].length;
    if (Array.isArray(ex.input_origin)) {
      const [r0, c0] = ex.input_origin;
      for (const canvas of sourceCanvases(layer, where.channel)) outline(canvas, r0, c0, kh, kw, "source-marker");
    }
    body.append(
      CL.el(
        "p",
        "ex-intro",
        isMax
          ? _("The {size} window of map {channel} before pooling; the largest number wins:", { size: `${kh}×${kw}`, channel: where.channel })
          : _("The {size} window of map {channel} before pooling; the output is their mean:", { size: `${kh}×${kw}`, channel: where.channel }),
      ),
    );
    const win = CL.numberGrid(grid, inputScaleFor(layer), {
      mask: maskGrid(ex.padded, 0),
      highlight: isMax && Array.isArray(ex.winner) ? ex.winner : null,
      caption: _("window"),
      className: "window-grid is-big",
    });
    body.append(win);
    const values = [];
    grid.forEach((row, r) =>
      row.forEach((v, c) => {
        if (v !== null && !(ex.padded && maskGrid(ex.padded, 0)[r][c])) values.push(CL.fmtSigned(v, 4));
      }),
    );
    const terms = isMax
      ? `max(${values.join(", ")}) = ${CL.fmtSigned(ex.value, 6)}`
      : `(${values.join(" + ")}) / ${values.length} = ${CL.fmtSigned(ex.value, 6)}`;
    body.append(line("terms", isMax ? _("the largest") : _("the mean"), terms, "is-terms"));
    if (isMax && Array.isArray(ex.winner_input)) {
      body.append(
        line(
          "winner",
          _("winner"),
          _("input row {row}, col {col} (highlighted in the window)", { row: ex.winner_input[0], col: ex.winner_input[1] }),
        ),
      );
    }
  }

  function renderDense(ex, layer) {
    const top = ex.top_contributions || [];
    const n = ex.inputs || (layers.indexOf(layer) > 0 ? layers[layers.indexOf(layer) - 1].data.length : null);
    body.append(
      CL.el(
        "p",
        "ex-intro",
        n
          ? _("Every input × its weight, summed ({n} products). The {k} largest contributions:", { n: CL.fmtInt(n), k: top.length })
          : _("Every input × its weight, summed. The {k} largest contributions:", { k: top.length }),
      ),
    );
    const table = CL.el("table", "contrib");
    const head = CL.el("tr");
    const sources = top.some((t) => t.source);
    for (const h of sources ? [_("input"), _("from"), "x", "w", "x·w"] : [_("input"), "x", "w", "x·w"]) {
      head.append(CL.el("th", "", h));
    }
    const thead = CL.el("thead");
    thead.append(head);
    const tbody = CL.el("tbody");
    const pScale = CL.makeScale(-absMax(top.map((t) => t.product)), absMax(top.map((t) => t.product)), "diverging");
    for (const t of top) {
      const tr = CL.el("tr");
      tr.append(CL.el("td", "num", String(t.input)));
      if (sources) tr.append(CL.el("td", "src", t.source || ""));
      tr.append(
        CL.el("td", "num", CL.fmtSigned(t.x, 4)),
        CL.el("td", "num", CL.fmtSigned(t.w, 4)),
      );
      const p = CL.el("td", "num", CL.fmtSigned(t.product, 4));
      const rgb = pScale.rgb(t.product);
      p.style.backgroundColor = CL.cssColour(rgb);
      p.style.color = CL.textOn(rgb);
      tr.append(p);
      tbody.append(tr);
    }
    table.append(thead, tbody);
    const wrap = CL.el("div", "contrib-wrap");
    wrap.append(table);
    body.append(wrap);
    const shown = top.map((t) => `${CL.fmt(t.x, 4)}*(${CL.fmt(t.w, 4)})`).join(" + ");
    const others = n && n > top.length ? n - top.length : 0;
    const restValue = typeof ex.rest === "number" ? CL.fmt(ex.rest, 4) : "…";
    const rest = others ? " + " + _("(the other {n} products: {rest})", { n: CL.fmtInt(others), rest: restValue }) : "";
    body.append(
      line("terms", _("products"), `${shown}${rest} = ${CL.fmtSigned(ex.sum, 6)}`, "is-terms"),
      line("bias", _("plus the bias"), `${CL.fmtSigned(ex.sum, 6)} + (${CL.fmtSigned(ex.bias, 6)}) = ${CL.fmtSigned(ex.preactivation, 6)}`),
      line("activation", _("activation"), activationText(ex)),
    );
  }

  function renderOther(ex, layer) {
    // Flatten, Dropout, Activation: no arithmetic worth a grid; say what the number is.
    if (ex.kind === "flatten" && Array.isArray(ex.source_index) && ex.source_index.length === 3) {
      const [r, c, ch] = ex.source_index;
      for (const canvas of sourceCanvases(layer, ch)) outline(canvas, r, c, 1, 1, "source-marker");
    }
    const lines = (ex.text || "").split("\n").filter((t) => t && !/^[✓✗]/.test(t));
    for (const t of lines) body.append(CL.el("p", "ex-intro", t));
  }

  // ---------------------------------------------------------------- start

  CL.$("inside-sample").addEventListener("click", () => load(null, Math.floor(Math.random() * 1000)));

  const id = new URLSearchParams(window.location.search).get("input");
  // Wait for the status (the layers' parameter counts and class names) before drawing the panels.
  let started = false;
  CL.onStatus(() => {
    if (started) return;
    started = true;
    load(id);
  });
  // If the status never comes (server down), still try: the error will say why.
  setTimeout(() => {
    if (!started) {
      started = true;
      load(id);
    }
  }, 3000);
})();
