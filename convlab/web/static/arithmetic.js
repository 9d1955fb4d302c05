// The convolution-arithmetic page: the size form (#n #k #p #s) asks /api/size (debounced) for the output
// size and the slide's formula; #slide animates the kernel over the padded input from the answer's
// pads and window positions (as Dumoulin & Visin's figures); #sharpen is the slides' 5×5 example
// from /api/sharpen, where clicking an output number shows its nine products in #sharpen-line.
"use strict";

(() => {
  const { _, ngettext } = CL;
  const FRAME_MS = 700;
  const MAX_DRAWN = 120; // a padded input wider than this is not drawn cell by cell

  const form = CL.$("size-form");
  const fields = { n: CL.$("n"), k: CL.$("k"), p: CL.$("p"), s: CL.$("s") };
  const sizeError = CL.$("size-error");
  const errorBox = CL.$("error");
  const canvas = CL.$("slide");
  const ctx = canvas.getContext("2d");
  const playButton = CL.$("play");
  const caption = CL.$("slide-caption");

  let geo = null; // the last good /api/size answer
  let step = 0;
  let playing = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  let timer = null;
  let seq = 0;
  let idleText = ""; // what the slide says when there is no answer to draw

  // ---------------------------------------------------------------- the size form

  // Values in the address (?n=7&k=3&p=same&s=2) fill the form: a teacher can share a case.
  const given = new URLSearchParams(window.location.search);
  for (const [name, input] of Object.entries(fields)) {
    if (given.has(name)) input.value = given.get(name).slice(0, 20);
  }

  // While a box is empty or half-typed ("", "-", "sa" on the way to "same") the page waits with a hint
  // instead of asking /api/size: the engine could only refuse it, and the browser logs every 4xx answer in
  // the console. A complete value the engine refuses ("-1", "x", K 5 on N 2) still shows the engine's message.
  const NAMES = { n: _("N, the input size"), k: _("K, the kernel size"), p: _("P, the padding"), s: _("S, the stride") };
  const EXAMPLES = { n: "5", k: "3", p: "1", s: "2" };
  const WORDS = ["valid", "same"];

  /** A hint when the box `name` holds no complete value yet, else null (complete, valid or not). */
  function unfinished(name, input) {
    const raw = input.value.trim();
    // A type=number box reports "" for text that is no number yet ("-", "1e"); validity.badInput tells it apart
    // from an empty box.
    if ((input.validity && input.validity.badInput) || /^[+-]$/.test(raw)) {
      return _("{name}: keep typing — a whole number, e.g. {example}.", { name: NAMES[name], example: EXAMPLES[name] });
    }
    if (raw === "") {
      const words = { name: NAMES[name], example: EXAMPLES[name] };
      return name === "p"
        ? _("Type {name}: a whole number, valid or same, e.g. {example}.", words)
        : _("Type {name}: a whole number, e.g. {example}.", words);
    }
    if (name === "p") {
      const low = raw.toLowerCase();
      const word = WORDS.find((w) => w.startsWith(low) && w !== low);
      if (word) return _("P: keep typing — \"{word}\"?", { word });
    }
    return null;
  }

  /** No question to ask yet: the hint in place of an answer, nothing marked wrong. */
  function waitFor(hint) {
    seq++; // an answer still on its way is for older numbers: drop it
    CL.clearError(sizeError);
    for (const input of Object.values(fields)) input.removeAttribute("aria-invalid");
    CL.$("output-size").textContent = "–";
    CL.$("formula").textContent = "";
    CL.$("size-note").textContent = hint;
    geo = null;
    step = 0;
    idleText = _("waiting for the numbers on the left");
    drawSlide();
  }

  async function update() {
    for (const [name, input] of Object.entries(fields)) {
      const hint = unfinished(name, input);
      if (hint) return waitFor(hint);
    }
    const q = new URLSearchParams();
    for (const [name, input] of Object.entries(fields)) q.set(name, input.value.trim());
    const mine = ++seq;
    try {
      const res = await CL.fetchJSON(`/api/size?${q}`);
      if (mine !== seq) return;
      CL.clearError(sizeError);
      for (const input of Object.values(fields)) input.removeAttribute("aria-invalid");
      window.history.replaceState(null, "", `${window.location.pathname}?${q}`);
      showSize(res);
    } catch (err) {
      if (mine !== seq) return;
      CL.showError(sizeError, err);
      markField(err.message);
      CL.$("output-size").textContent = "–";
      CL.$("formula").textContent = "";
      CL.$("size-note").textContent = "";
      geo = null;
      step = 0;
      idleText = _("no output for these numbers: see the message on the left");
      drawSlide();
    }
  }

  // The message names the argument first ("kernel_size 9 is larger…", "n (the input size N) must…"):
  // mark the box it names first, and only that one.
  const SPELLINGS = { n: ["n"], k: ["k", "kernel_size"], p: ["p", "padding"], s: ["s", "strides", "stride"] };
  function markField(message) {
    let first = null;
    let at = Infinity;
    for (const [name, words] of Object.entries(SPELLINGS)) {
      for (const w of words) {
        const m = new RegExp(`(^|[^\\w=])${w}\\b(?!=)`).exec(message);
        if (m && m.index < at) {
          at = m.index;
          first = name;
        }
      }
    }
    for (const [name, input] of Object.entries(fields)) {
      if (name === first) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  }

  const updateSoon = CL.debounce(update, 200);
  form.addEventListener("input", () => updateSoon());
  form.addEventListener("submit", (e) => {
    e.preventDefault(); // Enter in a box: answer now, stay on the page
    updateSoon.now();
  });

  function showSize(res) {
    CL.$("output-size").textContent = String(res.output_size);
    CL.$("formula").textContent = res.formula;
    const notes = [];
    const [before, after] = res.pads;
    if (res.padding === "same" || res.padding === "valid") {
      const pads = { padding: res.padding, before, after };
      notes.push(
        before === after
          ? _("\"{padding}\" pads {before} on each side here.", pads)
          : _("\"{padding}\" pads {before} before and {after} after (the odd one goes at the end, as Keras).", pads),
      );
    }
    const sizes = { padded: `${res.padded_size}×${res.padded_size}`, output: `${res.output_size}×${res.output_size}` };
    notes.push(_("Padded input: {padded}; output: {output}.", sizes));
    if (!res.covered) {
      notes.push(
        ngettext(
          "The stride does not fit exactly: the last {n} row and column of the padded input are never covered by a window (shaded red).",
          "The stride does not fit exactly: the last {n} rows and columns of the padded input are never covered by a window (shaded red).",
          res.uncovered,
        ),
      );
    }
    CL.$("size-note").textContent = notes.join(" ");
    geo = res;
    step = 0;
    drawSlide();
    schedule();
  }

  // ---------------------------------------------------------------- the animation

  const COLOURS = {
    input: "#ffffff",
    pad: "#e3e6ec",
    uncovered: "#f9d6d2",
    grid: "#b8bfcc",
    window: "rgba(59, 91, 219, 0.28)",
    windowEdge: "#2f4ac0",
    done: "#cdd7fa",
    current: "#2f4ac0",
    text: "#1d2330",
    faint: "#6b7385",
  };

  function drawSlide() {
    const W = canvas.width;
    const H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    ctx.textBaseline = "middle";
    if (!geo) {
      ctx.fillStyle = COLOURS.faint;
      ctx.font = "20px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(idleText, W / 2, H / 2);
      caption.textContent = "";
      return;
    }
    const P = geo.padded_size;
    const O = geo.output_size;
    const K = geo.kernel_size;
    const N = geo.n;
    const [before] = geo.pads;
    if (P > MAX_DRAWN || !Array.isArray(geo.positions) || O < 1) {
      ctx.fillStyle = COLOURS.faint;
      ctx.font = "20px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(_("{shape} is too large to draw here; the formula still holds.", { shape: `${P}×${P}` }), W / 2, H / 2);
      caption.textContent = "";
      return;
    }
    const top = 44;
    const leftW = Math.floor(W * 0.56);
    const avail = Math.min(leftW - 30, H - top - 16);
    const cell = Math.max(2, Math.min(44, Math.floor(avail / P)));
    const ox = 20;
    const oy = top;
    const outAvail = Math.min(W - leftW - 40, H - top - 16);
    const ocell = Math.max(2, Math.min(44, Math.floor(outAvail / O)));
    const qx = leftW + 20;
    const qy = top;

    // Titles
    ctx.fillStyle = COLOURS.text;
    ctx.textAlign = "left";
    ctx.font = "bold 17px system-ui, sans-serif";
    const inputTitle =
      before || geo.pads[1]
        ? _("input {shape} + padding → {padded}", { shape: `${N}×${N}`, padded: `${P}×${P}` })
        : _("input {shape}", { shape: `${N}×${N}` });
    ctx.fillText(inputTitle, ox, 20);
    ctx.fillText(_("output {shape}", { shape: `${O}×${O}` }), qx, 20);

    const total = O * O;
    const t = Math.min(step, total - 1);
    const i = Math.floor(t / O);
    const j = t % O;
    const reach = geo.positions[O - 1] + K; // cells at or past this index: never inside a window

    // The padded input
    const numbers = cell >= 20;
    ctx.font = `${Math.floor(cell * 0.42)}px ui-monospace, monospace`;
    ctx.textAlign = "center";
    for (let r = 0; r < P; r++) {
      for (let c = 0; c < P; c++) {
        const isPad = r < before || r >= before + N || c < before || c >= before + N;
        const never = r >= reach || c >= reach;
        ctx.fillStyle = never ? COLOURS.uncovered : isPad ? COLOURS.pad : COLOURS.input;
        ctx.fillRect(ox + c * cell, oy + r * cell, cell, cell);
        if (isPad && numbers) {
          ctx.fillStyle = COLOURS.faint;
          ctx.fillText("0", ox + c * cell + cell / 2, oy + r * cell + cell / 2 + 1);
        }
      }
    }
    gridLines(ox, oy, P, cell);
    // The image's edge inside the padding
    if (before || geo.pads[1]) {
      ctx.strokeStyle = COLOURS.text;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(ox + before * cell, oy + before * cell, N * cell, N * cell);
    }
    // The window
    const wr = geo.positions[i];
    const wc = geo.positions[j];
    ctx.fillStyle = COLOURS.window;
    ctx.fillRect(ox + wc * cell, oy + wr * cell, K * cell, K * cell);
    ctx.strokeStyle = COLOURS.windowEdge;
    ctx.lineWidth = 3;
    ctx.strokeRect(ox + wc * cell, oy + wr * cell, K * cell, K * cell);

    // The output, filling in
    for (let r = 0; r < O; r++) {
      for (let c = 0; c < O; c++) {
        const n = r * O + c;
        ctx.fillStyle = n < t ? COLOURS.done : n === t ? COLOURS.current : "#fff";
        ctx.fillRect(qx + c * ocell, qy + r * ocell, ocell, ocell);
      }
    }
    gridLines(qx, qy, O, ocell);

    caption.textContent = _("window {k} of {total}: rows {r0}…{r1}, cols {c0}…{c1} of the padded input → output ({i}, {j})", {
      k: t + 1,
      total,
      r0: wr,
      r1: wr + K - 1,
      c0: wc,
      c1: wc + K - 1,
      i,
      j,
    });
  }

  function gridLines(x, y, n, cell) {
    if (cell < 5) {
      ctx.strokeStyle = COLOURS.grid;
      ctx.lineWidth = 1;
      ctx.strokeRect(x, y, n * cell, n * cell);
      return;
    }
    ctx.strokeStyle = COLOURS.grid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let k = 0; k <= n; k++) {
      ctx.moveTo(x + k * cell + 0.5, y + 0.5);
      ctx.lineTo(x + k * cell + 0.5, y + n * cell + 0.5);
      ctx.moveTo(x + 0.5, y + k * cell + 0.5);
      ctx.lineTo(x + n * cell + 0.5, y + k * cell + 0.5);
    }
    ctx.stroke();
  }

  function advance() {
    if (!geo || !geo.positions) return;
    const total = geo.output_size * geo.output_size;
    step = (step + 1) % total;
    drawSlide();
  }

  function schedule() {
    clearInterval(timer);
    timer = playing ? setInterval(advance, FRAME_MS) : null;
    playButton.textContent = playing ? _("Pause") : _("Play");
    playButton.setAttribute("aria-pressed", String(playing));
  }

  playButton.addEventListener("click", () => {
    playing = !playing;
    schedule();
  });
  CL.$("step").addEventListener("click", () => {
    playing = false;
    schedule();
    advance();
  });

  // ---------------------------------------------------------------- the slide's sharpen example

  let sharpen = null;
  let caseIndex = 0;

  async function loadSharpen() {
    try {
      sharpen = await CL.fetchJSON("/api/sharpen");
      renderSharpen(0);
    } catch (err) {
      CL.showError(errorBox, err);
    }
  }

  function renderSharpen(index) {
    caseIndex = index;
    const one = sharpen.cases[index];
    for (const [i, id] of ["sharpen-pad0", "sharpen-pad1"].entries()) {
      CL.$(id).setAttribute("aria-pressed", String(i === index));
    }
    const box = CL.$("sharpen");
    box.textContent = "";
    const pad = one.padding;
    const size = one.padded_input.length;
    const mask = one.padded_input.map((row, r) =>
      row.map((_value, c) => r < pad || c < pad || r >= size - pad || c >= size - pad),
    );
    const inputGrid = CL.numberGrid(one.padded_input, null, {
      mask,
      caption: pad
        ? _("input with padding {pad} ({shape})", { pad, shape: `${size}×${size}` })
        : _("input {shape}", { shape: `${size}×${size}` }),
      className: "big-grid sharpen-input",
      digits: 6,
    });
    const kScale = CL.makeScale(-5, 5, "diverging");
    const kernelCaption = _("kernel {shape}", { shape: "3×3" });
    const kernelGrid = CL.numberGrid(sharpen.kernel, kScale, { caption: kernelCaption, className: "big-grid", digits: 6 });
    const flat = CL.flatten(one.output).data;
    const oScale = CL.makeScale(Math.min(...flat), Math.max(...flat), "diverging");
    const outputGrid = CL.numberGrid(one.output, oScale, {
      caption: _("output {shape}", { shape: `${one.output_size}×${one.output_size}` }),
      className: "big-grid sharpen-output",
      digits: 6,
      onCell: (r, c) => pick(r, c),
    });
    const formula = CL.el("p", "formula small", one.formula);
    const eq = CL.el("div", "sharpen-row");
    eq.append(inputGrid, CL.el("span", "op big", "∗"), kernelGrid, CL.el("span", "op big", "="), outputGrid);
    box.append(eq, formula);
    pick(0, 0);
  }

  function pick(r, c) {
    const one = sharpen.cases[caseIndex];
    const box = CL.$("sharpen");
    const K = sharpen.kernel.length;
    for (const td of box.querySelectorAll(".is-window, .is-selected")) td.classList.remove("is-window", "is-selected");
    const inRows = box.querySelectorAll(".sharpen-input tr");
    for (let a = r; a < r + K; a++) {
      for (let b = c; b < c + K; b++) {
        const td = inRows[a] && inRows[a].children[b];
        if (td) td.classList.add("is-window");
      }
    }
    const outRow = box.querySelectorAll(".sharpen-output tr")[r];
    if (outRow && outRow.children[c]) outRow.children[c].classList.add("is-selected");
    CL.$("sharpen-where").textContent = _("output ({row}, {col}):", { row: r, col: c });
    CL.$("sharpen-line").textContent = one.lines[r][c];
  }

  CL.$("sharpen-pad0").addEventListener("click", () => sharpen && renderSharpen(0));
  CL.$("sharpen-pad1").addEventListener("click", () => sharpen && renderSharpen(1));

  drawSlide();
  update();
  loadSharpen();
})();
