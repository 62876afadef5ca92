/* Probe of a run report in headless Chromium (appended to a copy of the page by browser.evaluate).
 * Reports: errors caught on the page, which images loaded, the loss curves' terms, the page's width, and,
 * when there is a viewer: how much of the canvas centre shows the mesh, and how much of the picture a
 * drag, the texture toggle, the lighting toggle and a wheel turn each change. */
function whenReady(done) {
  var v = window.nst3dViewer;
  if (!document.getElementById("nst3d-viewer") || (v && (v.ready || v.error))) { done(); return; }
  document.addEventListener("nst3d-viewer-ready", function () { done(); });
}

function afterFrame(viewer, seen, done, tries) {  // the viewer draws on animation frames: wait for one
  tries = tries || 0;
  if (viewer.frames > seen || tries > 300) { done(); return; }
  setTimeout(function () { afterFrame(viewer, seen, done, tries + 1); }, 10);
}

function pixels(canvas) {
  var gl = canvas.getContext("webgl"), p = new Uint8Array(canvas.width * canvas.height * 4);
  gl.readPixels(0, 0, canvas.width, canvas.height, gl.RGBA, gl.UNSIGNED_BYTE, p);
  return p;
}

function differs(p, i, rgb, tolerance) {
  return Math.abs(p[i] - rgb[0]) + Math.abs(p[i + 1] - rgb[1]) + Math.abs(p[i + 2] - rgb[2]) > tolerance;
}

function centreCovered(canvas, p, background) {  // share of the middle 20% x 20% that is not background
  var w = canvas.width, h = canvas.height, hit = 0, all = 0;
  for (var y = Math.floor(h * 0.4); y < h * 0.6; y++) {
    for (var x = Math.floor(w * 0.4); x < w * 0.6; x++) {
      all++;
      if (differs(p, (y * w + x) * 4, background, 12)) { hit++; }
    }
  }
  return hit / all;
}

function changed(a, b) {  // share of pixels that differ between two pictures
  var n = 0;
  for (var i = 0; i < a.length; i += 4) { if (differs(a, i, [b[i], b[i + 1], b[i + 2]], 6)) { n++; } }
  return n / (a.length / 4);
}

function pointer(canvas, type, x, y) {
  canvas.dispatchEvent(new PointerEvent(type, {pointerId: 1, pointerType: "mouse", isPrimary: true,
                                               bubbles: true, clientX: x, clientY: y,
                                               buttons: type === "pointerup" ? 0 : 1}));
}

function pageFacts() {
  return {
    images: Array.prototype.map.call(document.images, function (i) {
      return {alt: i.alt, loaded: i.complete && i.naturalWidth > 0, src: i.src.slice(0, 30)};
    }),
    curves: Array.prototype.map.call(document.querySelectorAll("#loss-curves path.curve"),
                                     function (p) { return p.getAttribute("data-term"); }),
    missing: Array.prototype.filter.call(document.querySelectorAll(".missing"), function (m) {
      return m.offsetHeight > 0;
    }).map(function (m) { return m.textContent; }),
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    widest: Math.max.apply(null, Array.prototype.map.call(document.querySelectorAll("body *"), function (e) {
      return e.getBoundingClientRect().right;
    })),
    hasCanvas: !!document.getElementById("nst3d-viewer")
  };
}

function interact(viewer, canvas, out) {  // drag, then each toggle, then the wheel: a frame after each
  var first = pixels(canvas), box = canvas.getBoundingClientRect(), seen = viewer.frames;
  var x = box.left + box.width / 2, y = box.top + box.height / 2;
  out.canvas = [canvas.width, canvas.height, box.width];
  out.centre = centreCovered(canvas, first, viewer.background);
  pointer(canvas, "pointerdown", x, y); pointer(canvas, "pointermove", x + 60, y + 10);
  pointer(canvas, "pointermove", x + 120, y + 20); pointer(canvas, "pointerup", x + 120, y + 20);
  var steps = [
    ["drag", function () { document.getElementById("nst3d-texture").click(); }],
    ["texture", function () { document.getElementById("nst3d-light").click(); }],
    ["light", function () {
      canvas.dispatchEvent(new WheelEvent("wheel", {deltaY: 400, bubbles: true, cancelable: true,
                                                    clientX: x, clientY: y}));
    }],
    ["zoom", null]
  ];
  var before = first;
  (function next(i) {
    afterFrame(viewer, seen, function () {
      var now = pixels(canvas);
      out[steps[i][0]] = changed(before, now);
      before = now; seen = viewer.frames;
      if (steps[i][1]) { steps[i][1](); next(i + 1); return; }
      out.state = viewer.state; out.errors = window.nst3dErrors || null;
      report(out);
    });
  }(0));
}

window.addEventListener("load", function () {
  whenReady(function () {
    var out = pageFacts(), viewer = window.nst3dViewer, canvas = document.getElementById("nst3d-viewer");
    out.viewerError = viewer ? viewer.error || null : null;
    if (!viewer || out.viewerError) {
      out.errors = window.nst3dErrors || null;
      report(out);
      return;
    }
    interact(viewer, canvas, out);
  });
});
