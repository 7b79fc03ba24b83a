/* replearn latent explorer: runs an exported MLP decoder in the reader's browser.
 *
 * No dependencies, no network: a decoder file (decoders/<name>.js, written by
 * replearn_core.explorer) registers its description on window.replearnDecoders; this script
 * finds every <div data-replearn-explorer="<name>"> of the page and turns it into an explorer:
 * a canvas with the decoded image, one range slider per latent dimension (starting at a real
 * test code) and, for 2-d latents, a pad to click or drag on.
 *
 * The decoder is evaluated with Float32Array weights and activations (each layer's sums are
 * accumulated in double precision and stored as float32, as PyTorch stores them), so the page
 * reproduces PyTorch's decoder(z) to about 1e-6.
 *
 * Test and benchmark hook: window.replearnExplorers[name] has decode(z) -> floats,
 * setZ(z), getZ(), output(), pixels() -> canvas grey levels, bench(n) -> timings.
 */
(function (root) {
  "use strict";
  if (root.replearnExplorer && root.replearnExplorer.version) {  // loaded twice on one page
    if (typeof document !== "undefined") root.replearnExplorer.mountAll();
    return;
  }
  var FORMAT = "replearn-mlp-decoder/1";
  var ACT = { linear: 0, sigmoid: 1, relu: 2, leaky_relu: 3, tanh: 4 };
  // matplotlib's tab10, the colours of plot_latent_scatter
  var TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

  function base64ToFloat32(text) {
    var bin = (typeof atob === "function") ? atob(text) : Buffer.from(text, "base64").toString("binary");
    var n = bin.length, bytes = new Uint8Array(n);
    for (var i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i);
    if (LITTLE_ENDIAN) return new Float32Array(bytes.buffer);
    var view = new DataView(bytes.buffer), out = new Float32Array(n / 4);
    for (var k = 0; k < out.length; k++) out[k] = view.getFloat32(4 * k, true);
    return out;
  }

  /* Decode the base64 weights once: {latentDim, layers: [{nin, nout, W, b, act, slope, out}]}. */
  function compile(desc) {
    if (desc.format !== FORMAT) throw new Error("replearn explorer: unknown decoder format " + desc.format);
    var layers = desc.layers.map(function (L) {
      if (!(L.activation in ACT)) throw new Error("replearn explorer: unknown activation " + L.activation);
      var W = base64ToFloat32(L.weight), b = base64ToFloat32(L.bias);
      if (W.length !== L["in"] * L.out || b.length !== L.out) throw new Error("replearn explorer: bad weights");
      return { nin: L["in"], nout: L.out, W: W, b: b, act: ACT[L.activation], slope: +(L.slope || 0),
               out: new Float32Array(L.out) };
    });
    return { latentDim: desc.latent_dim, layers: layers, input: new Float32Array(desc.latent_dim) };
  }

  /* The decoder's output for code z, as a Float32Array owned by the model (reused per call). */
  function forward(model, z) {
    var h = model.input;
    for (var i = 0; i < model.latentDim; i++) h[i] = +z[i];  // rounds to float32, like torch
    for (var l = 0; l < model.layers.length; l++) {
      var L = model.layers[l], W = L.W, b = L.b, nin = L.nin, nout = L.nout, o = L.out;
      var act = L.act, slope = L.slope, n4 = nin - (nin % 4);
      for (var j = 0, off = 0; j < nout; j++, off += nin) {
        var s0 = 0, s1 = 0, s2 = 0, s3 = 0, k = 0;
        for (; k < n4; k += 4) {
          s0 += W[off + k] * h[k];
          s1 += W[off + k + 1] * h[k + 1];
          s2 += W[off + k + 2] * h[k + 2];
          s3 += W[off + k + 3] * h[k + 3];
        }
        for (; k < nin; k++) s0 += W[off + k] * h[k];
        var s = Math.fround((s0 + s1) + (s2 + s3) + b[j]);
        if (act === 1) s = 1 / (1 + Math.exp(-s));
        else if (act === 2) s = s > 0 ? s : 0;
        else if (act === 3) s = s > 0 ? s : slope * s;
        else if (act === 4) s = Math.tanh(s);
        o[j] = s;
      }
      h = o;
    }
    return h;
  }

  var api = { version: 1, FORMAT: FORMAT, compile: compile, forward: forward, base64ToFloat32: base64ToFloat32 };
  root.replearnExplorer = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  if (typeof document === "undefined") return;  // Node: the maths only (used by the unit tests)

  root.replearnDecoders = root.replearnDecoders || {};
  root.replearnExplorers = root.replearnExplorers || {};

  var CSS = [
    ".rlx{border:1px solid var(--pst-color-border,#ccc);border-radius:6px;padding:10px 12px;margin:8px 0 16px;",
    "color:var(--pst-color-text-base,#222);background:var(--pst-color-background,#fff);font-size:14px}",
    ".rlx-title{font-weight:600;margin:0 0 2px}",
    ".rlx-sub{font-size:12px;opacity:.75;margin:0 0 8px}",
    ".rlx-row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}",
    ".rlx-fig{margin:0;text-align:center;font-size:12px}",
    ".rlx-fig canvas{display:block;image-rendering:pixelated;image-rendering:crisp-edges;",
    "border:1px solid var(--pst-color-border,#ccc);background:#000}",
    ".rlx-pad{cursor:crosshair;touch-action:none;background:var(--pst-color-surface,#f6f6f6) !important}",
    ".rlx-sliders{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:2px 14px;",
    "flex:1 1 320px;max-height:290px;overflow-y:auto;align-content:start;padding-right:4px}",
    ".rlx-sliders.rlx-few{grid-template-columns:1fr;max-width:560px}",
    ".rlx-sliders.rlx-below{flex-basis:100%;margin-top:6px}",
    ".rlx-s{display:flex;align-items:center;gap:6px;font-size:12px;font-variant-numeric:tabular-nums}",
    ".rlx-s label{min-width:2.6em}",
    ".rlx-s input{flex:1;min-width:80px;margin:2px 0}",
    ".rlx-s output{min-width:4.2em;text-align:right}",
    ".rlx-ctl{display:flex;flex-wrap:wrap;gap:8px;align-items:center;font-size:12px;margin-top:6px}",
    ".rlx-ctl button{font-size:12px;padding:1px 8px;border:1px solid var(--pst-color-border,#bbb);",
    "border-radius:4px;background:var(--pst-color-surface,#f3f3f3);color:inherit;cursor:pointer}",
    ".rlx-legend span{display:inline-block;margin-right:6px}",
    ".rlx-legend i{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:2px}",
    ".rlx-err{color:#b00}"
  ].join("");

  function addStyle() {
    if (document.getElementById("replearn-explorer-style")) return;
    var style = document.createElement("style");
    style.id = "replearn-explorer-style";
    style.textContent = CSS;
    (document.head || document.documentElement).appendChild(style);
  }

  function el(tag, attrs, parent, text) {
    var e = document.createElement(tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function fmt(v) { return (v >= 0 ? "\u2007" : "") + v.toFixed(2); }

  function mount(container, desc) {
    var model = compile(desc);
    var d = model.latentDim, H = desc.image_shape[0], W = desc.image_shape[1];
    var ranges = desc.ranges, vlo = desc.value_range[0], vhi = desc.value_range[1];
    var codes = base64ToFloat32(desc.codes), nCodes = desc.n_codes, labels = desc.labels;
    var z = new Float64Array(d), current = 0, last = null;

    container.textContent = "";
    var box = el("div", { "class": "rlx" }, container);
    el("p", { "class": "rlx-title" }, box, "Latent explorer: " + desc.title);
    el("p", { "class": "rlx-sub" }, box, "decoder " + desc.sizes.join("-") + " (" +
       desc.activations.join(", ") + "), evaluated in your browser: move a slider" +
       (d === 2 ? " or click the pad" : "") + " to change the code z and decode it.");
    var row = el("div", { "class": "rlx-row" }, box);

    var scale = Math.max(1, Math.round(240 / Math.max(W, H)));
    var fig = el("figure", { "class": "rlx-fig" }, row);
    var canvas = el("canvas", { width: W, height: H, "class": "rlx-image", role: "img",
                                "aria-label": "decoded image" }, fig);
    canvas.style.width = (W * scale) + "px";
    canvas.style.height = (H * scale) + "px";
    el("figcaption", {}, fig, "decoded image, " + W + "\u00d7" + H + " pixels");
    var ctx = canvas.getContext("2d");
    var image = ctx.createImageData(W, H), px = image.data;

    var pad = null;
    if (d === 2) pad = makePad(row);

    // sliders beside the image (below it when a 2-d pad takes that place)
    var sliderBox = el("div", { "class": "rlx-sliders" + (d <= 12 ? " rlx-few" : "") + (pad ? " rlx-below" : ""),
                                role: "group", "aria-label": "latent code sliders" }, row);
    var sliders = [], readouts = [];
    for (var k = 0; k < d; k++) {
      var line = el("div", { "class": "rlx-s" }, sliderBox);
      var id = "rlx-" + desc.name + "-z" + (k + 1);
      el("label", { "for": id }, line, "z" + (k + 1));
      var s = el("input", { type: "range", id: id, min: String(ranges[k][0]), max: String(ranges[k][1]),
                            step: "any", "aria-label": "latent z" + (k + 1), "data-dim": String(k) }, line);
      sliders.push(s);
      readouts.push(el("output", { "for": id }, line));
      s.addEventListener("input", onSlider);
    }

    var ctl = el("div", { "class": "rlx-ctl" }, box);
    var prev = el("button", { type: "button" }, ctl, "\u25c0 previous code");
    var next = el("button", { type: "button" }, ctl, "next code \u25b6");
    var status = el("span", {}, ctl);
    var timing = el("span", { style: "opacity:.6" }, ctl);
    prev.addEventListener("click", function () { useCode(current - 1); });
    next.addEventListener("click", function () { useCode(current + 1); });

    function render() {
      var t0 = performance.now();
      var out = forward(model, z);
      var k255 = 255 / (vhi - vlo);
      for (var i = 0, p = 0; i < out.length; i++, p += 4) {
        var g = Math.round((out[i] - vlo) * k255);
        g = g < 0 ? 0 : (g > 255 ? 255 : g);
        px[p] = g; px[p + 1] = g; px[p + 2] = g; px[p + 3] = 255;
      }
      ctx.putImageData(image, 0, 0);
      last = out;
      return performance.now() - t0;
    }

    function refresh() {
      var ms = render();
      for (var k = 0; k < d; k++) readouts[k].textContent = fmt(z[k]);
      timing.textContent = "decoded and drawn in " + (ms < 0.1 ? "<0.1" : ms.toFixed(1)) + " ms";
      if (pad) pad.draw();
    }

    function setZ(values, fromSlider) {
      for (var k = 0; k < d; k++) {
        z[k] = Math.fround(+values[k]);
        if (!fromSlider) sliders[k].value = String(z[k]);
      }
      refresh();
    }

    function onSlider() {
      for (var k = 0; k < d; k++) z[k] = Math.fround(parseFloat(sliders[k].value));
      status.textContent = "";
      refresh();
    }

    function useCode(i) {
      current = ((i % nCodes) + nCodes) % nCodes;
      setZ(codes.subarray(current * d, current * d + d));
      status.textContent = "test code " + (current + 1) + " of " + nCodes +
        (labels ? " (label " + labels[current] + ")" : "");
    }

    function makePad(parent) {
      var size = 240, dpr = root.devicePixelRatio || 1;
      var f = el("figure", { "class": "rlx-fig" }, parent);
      var c = el("canvas", { width: Math.round(size * dpr), height: Math.round(size * dpr),
                             "class": "rlx-pad", role: "img",
                             "aria-label": "latent plane: click to choose (z1, z2)" }, f);
      c.style.width = size + "px"; c.style.height = size + "px";
      var cap = el("figcaption", {}, f, "latent plane: z1 \u2192, z2 \u2191; dots: test codes");
      if (labels) {
        var seen = {}, leg = el("div", { "class": "rlx-legend" }, cap);
        labels.forEach(function (v) { seen[v] = 1; });
        Object.keys(seen).sort(function (a, b) { return a - b; }).forEach(function (v) {
          var sp = el("span", {}, leg);
          el("i", { style: "background:" + TAB10[((+v) % 10 + 10) % 10] }, sp);
          sp.appendChild(document.createTextNode(v));
        });
      }
      var g = c.getContext("2d"), back = document.createElement("canvas");
      back.width = c.width; back.height = c.height;
      var x0 = ranges[0][0], x1 = ranges[0][1], y0 = ranges[1][0], y1 = ranges[1][1];
      function toPx(zx, zy) { return [(zx - x0) / (x1 - x0) * c.width, (y1 - zy) / (y1 - y0) * c.height]; }
      (function paintBack() {
        var b = back.getContext("2d");
        b.fillStyle = "#fafafa"; b.fillRect(0, 0, back.width, back.height);
        b.strokeStyle = "#ddd"; b.lineWidth = dpr;
        var o = toPx(0, 0);
        if (o[0] > 0 && o[0] < back.width) { b.beginPath(); b.moveTo(o[0], 0); b.lineTo(o[0], back.height); b.stroke(); }
        if (o[1] > 0 && o[1] < back.height) { b.beginPath(); b.moveTo(0, o[1]); b.lineTo(back.width, o[1]); b.stroke(); }
        b.globalAlpha = 0.75;
        for (var i = 0; i < nCodes; i++) {
          var p = toPx(codes[2 * i], codes[2 * i + 1]);
          b.fillStyle = labels ? TAB10[((labels[i] % 10) + 10) % 10] : "#1f77b4";
          b.beginPath(); b.arc(p[0], p[1], 1.8 * dpr, 0, 2 * Math.PI); b.fill();
        }
        b.globalAlpha = 1; b.fillStyle = "#555"; b.font = (10 * dpr) + "px sans-serif";
        b.fillText(x0.toFixed(1), 3 * dpr, back.height - 4 * dpr);
        var t = x1.toFixed(1); b.fillText(t, back.width - b.measureText(t).width - 3 * dpr, back.height - 4 * dpr);
        b.fillText(y1.toFixed(1), 3 * dpr, 12 * dpr);
      })();
      function draw() {
        g.drawImage(back, 0, 0);
        var p = toPx(z[0], z[1]);
        g.strokeStyle = "#000"; g.lineWidth = 1.5 * dpr;
        g.beginPath(); g.arc(p[0], p[1], 6 * dpr, 0, 2 * Math.PI); g.stroke();
        g.beginPath(); g.moveTo(p[0] - 10 * dpr, p[1]); g.lineTo(p[0] + 10 * dpr, p[1]);
        g.moveTo(p[0], p[1] - 10 * dpr); g.lineTo(p[0], p[1] + 10 * dpr); g.stroke();
      }
      function pick(ev) {
        var r = c.getBoundingClientRect();
        var fx = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
        var fy = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
        status.textContent = "";
        setZ([x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)]);
      }
      var dragging = false;
      c.addEventListener("pointerdown", function (ev) {
        dragging = true; if (c.setPointerCapture) c.setPointerCapture(ev.pointerId); pick(ev); ev.preventDefault();
      });
      c.addEventListener("pointermove", function (ev) { if (dragging) pick(ev); });
      c.addEventListener("pointerup", function () { dragging = false; });
      c.addEventListener("pointercancel", function () { dragging = false; });
      return { draw: draw, canvas: c };
    }

    useCode(0);
    timing.textContent = "";  // the first call includes compiling; show times once the reader moves

    var hook = {
      name: desc.name, latentDim: d, imageShape: [H, W], sha256: desc.sha256, ranges: ranges,
      sliders: sliders, canvas: canvas, pad: pad ? pad.canvas : null,
      decode: function (values) { return Array.prototype.slice.call(forward(model, values)); },
      setZ: function (values) { setZ(values); return Array.prototype.slice.call(z); },
      getZ: function () { return Array.prototype.slice.call(z); },
      output: function () { return Array.prototype.slice.call(last); },
      pixels: function () {
        var data = ctx.getImageData(0, 0, W, H).data, g = new Array(W * H);
        for (var i = 0; i < g.length; i++) g[i] = data[4 * i];
        return g;
      },
      /* Decode-and-draw timings (ms) for n codes drawn uniformly in the slider ranges:
         per call (performance.now() is coarse in browsers) and the mean over `batch` calls. */
      bench: function (n, batch) {
        n = n || 200; batch = batch || 20;
        var seed = 12345, saved = Array.prototype.slice.call(z), each = [], means = [];
        function rnd() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; }
        function draw() { for (var k = 0; k < d; k++) z[k] = ranges[k][0] + rnd() * (ranges[k][1] - ranges[k][0]); }
        for (var w = 0; w < 20; w++) { draw(); render(); }  // warm up the JIT
        for (var i = 0; i < n; i++) { draw(); each.push(render()); }
        for (var r = 0; r < Math.max(1, Math.floor(n / batch)); r++) {
          var t0 = performance.now();
          for (var b = 0; b < batch; b++) { draw(); render(); }
          means.push((performance.now() - t0) / batch);
        }
        setZ(saved);
        return { per_call: each, batch_means: means };
      }
    };
    root.replearnExplorers[desc.name] = hook;
    container.setAttribute("data-replearn-ready", "true");
    return hook;
  }

  function mountAll() {
    addStyle();
    var nodes = document.querySelectorAll("[data-replearn-explorer]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i], name = node.getAttribute("data-replearn-explorer");
      if (node.getAttribute("data-replearn-ready") || !root.replearnDecoders[name]) continue;
      try {
        mount(node, root.replearnDecoders[name]);
      } catch (err) {
        node.setAttribute("data-replearn-ready", "error");
        node.textContent = "";
        el("p", { "class": "rlx-err" }, node, "Latent explorer " + name + " failed: " + err.message);
        if (root.console) root.console.error(err);
      }
    }
  }

  api.mount = mount;
  api.mountAll = mountAll;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  mountAll();
})(typeof window !== "undefined" ? window : globalThis);
