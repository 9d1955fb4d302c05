// The "Your model" page: a photo → POST /api/keras/predict → the top-3 classes (#top3); the Keras
// model's state (none, no TensorFlow, loading, ready, error) comes from /api/status's "keras" entry.
"use strict";

(() => {
  const { _ } = CL;
  const message = CL.$("model-message");
  const errorBox = CL.$("error");
  const photo = CL.$("photo");
  const preview = CL.$("photo-preview");
  const top3 = CL.$("top3");
  let previewUrl = null;
  let seq = 0;
  let polling = false;

  function showKeras(keras) {
    if (!keras) return;
    CL.setRichText(message, keras.message || "");
    message.dataset.state = keras.state || (keras.available ? "ready" : "none");
    message.classList.toggle("is-ready", keras.state === "ready");
    message.classList.toggle("is-missing", !keras.available);
    if (keras.input_shape) {
      CL.$("model-input").textContent = _("The model's input: {shape}.", { shape: keras.input_shape.join("×") });
    }
    // TensorFlow takes a few seconds to load the model: ask again until it is ready (or failed).
    if (keras.state === "loading" && !polling) {
      polling = true;
      setTimeout(async () => {
        polling = false;
        try {
          showKeras((await CL.fetchJSON("/api/status")).keras);
        } catch (err) {
          CL.showError(errorBox, err);
        }
      }, 1500);
    }
  }

  function renderTop(res) {
    top3.textContent = "";
    const longest = Math.max(1, ...(res.top || []).map((t) => String(t.class).length));
    top3.style.setProperty("--label-width", `${Math.min(longest, 18) * 1.3 + 0.5}ch`);
    (res.top || []).forEach((t, i) => {
      const row = CL.el("div", i === 0 ? "top-row is-top" : "top-row");
      const track = CL.el("span", "bar-track");
      const fill = CL.el("span", "bar-fill");
      fill.style.width = `${(100 * Math.max(0, Math.min(1, t.probability))).toFixed(2)}%`;
      track.append(fill);
      row.append(CL.el("span", "top-class", String(t.class)), track, CL.el("span", "top-value", CL.pct(t.probability)));
      top3.append(row);
    });
    if (res.input_shape) {
      CL.$("model-input").textContent = _("Resized to the model's input: {shape}.", { shape: res.input_shape.join("×") });
    }
  }

  photo.addEventListener("change", async () => {
    const file = photo.files && photo.files[0];
    if (!file) return;
    photo.value = ""; // choosing the same file again fires "change" again
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    preview.src = previewUrl;
    preview.hidden = false;
    CL.$("photo-name").textContent = file.name;
    const form = new FormData();
    form.append("image", file, file.name);
    const mine = ++seq;
    top3.classList.add("is-loading");
    try {
      const res = await CL.request("/api/keras/predict", { form }, errorBox);
      if (mine !== seq) return;
      CL.clearError(errorBox);
      renderTop(res);
    } catch (err) {
      if (mine !== seq) return;
      top3.textContent = "";
      top3.append(CL.el("p", "hint", _("No answer for this photo: the message above says why.")));
      CL.showError(errorBox, err);
    } finally {
      if (mine === seq) top3.classList.remove("is-loading");
    }
  });

  // A photo the browser cannot show is still sent: the server says what is wrong with it.
  preview.addEventListener("error", () => {
    preview.hidden = true;
  });

  CL.onStatus((st) => showKeras(st.keras));
})();
