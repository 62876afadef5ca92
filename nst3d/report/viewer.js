/* nst3d report viewer: a small WebGL 1 viewer for the stylized mesh, no framework, no network.
 *
 * The page holds the mesh inline (a <script type="application/json" id="nst3d-mesh-data"> with base64
 * typed arrays: positions normalized to the unit sphere, normals, UVs, triangle indices) and the textures
 * as data URIs, because browsers do not let a page opened from disk fetch() the GLB beside it.
 * Drag (or one finger) orbits, the wheel (or two fingers) zooms, arrow keys and +/- do the same from the
 * keyboard, R resets; buttons switch between the stylized and the original texture (or the untextured
 * mesh) and between lit and unlit. Cameras follow nst3d's: azimuth 0 looks from +Z, +Y up; the light is
 * the renderer's headlight (from the camera's upper left) with the same ambient share.
 * The canvas keeps its drawing buffer (preserveDrawingBuffer) so tests can read its pixels; the state is
 * on window.nst3dViewer, and "nst3d-viewer-ready" fires on document after the first textured frame.
 */
(function () {
  "use strict";

  var VERTEX = [
    "attribute vec3 aPos; attribute vec3 aNormal; attribute vec2 aUv;",
    "uniform mat4 uMvp; varying vec3 vPos; varying vec3 vNormal; varying vec2 vUv;",
    "void main() { vPos = aPos; vNormal = aNormal; vUv = aUv; gl_Position = uMvp * vec4(aPos, 1.0); }"
  ].join("\n");
  var FRAGMENT = [
    "precision mediump float;",
    "uniform sampler2D uTex; uniform bool uTextured; uniform bool uLit; uniform float uAmbient;",
    "uniform vec3 uEye; uniform vec3 uLight; uniform vec3 uAlbedo;",
    "varying vec3 vPos; varying vec3 vNormal; varying vec2 vUv;",
    "void main() {",
    "  vec3 color = uTextured ? texture2D(uTex, vUv).rgb : uAlbedo;",
    "  if (uLit) {",
    "    vec3 n = normalize(vNormal);",
    "    if (dot(n, uEye - vPos) < 0.0) { n = -n; }",  // back faces of open meshes are lit like front faces
    "    color *= uAmbient + (1.0 - uAmbient) * max(dot(n, uLight), 0.0);",
    "  }",
    "  gl_FragColor = vec4(color, 1.0);",
    "}"
  ].join("\n");
  var ZOOM_LIMITS = [1.15, 12.0];

  function decode(base64, Type) {
    var text = atob(base64), bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) { bytes[i] = text.charCodeAt(i); }
    return new Type(bytes.buffer);
  }

  function normalize3(v) {
    var n = Math.hypot(v[0], v[1], v[2]) || 1;
    return [v[0] / n, v[1] / n, v[2] / n];
  }

  function cross(a, b) {
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  }

  function dot(a, b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

  /* The camera of an orbit state, as nst3d.render.orbit_cameras builds it: eye, axes, view-projection. */
  function camera(state, fov, aspect) {
    var el = state.elevation * Math.PI / 180, az = state.azimuth * Math.PI / 180, d = state.distance;
    var eye = [d * Math.cos(el) * Math.sin(az), d * Math.sin(el), d * Math.cos(el) * Math.cos(az)];
    var forward = normalize3([-eye[0], -eye[1], -eye[2]]);
    var right = [Math.cos(az), 0, -Math.sin(az)];
    var up = cross(right, forward);
    var f = 1 / Math.tan(fov * Math.PI / 360), near = 0.05, far = 100;
    var a = (far + near) / (near - far), b = 2 * far * near / (near - far);
    var rows = [right, up, [-forward[0], -forward[1], -forward[2]]];
    var t = rows.map(function (r) { return -dot(r, eye); });
    // column-major: P * V with P = diag(f / aspect, f, a, 0) plus the -1 and b terms
    var m = new Float32Array(16);
    for (var c = 0; c < 3; c++) {
      m[c * 4] = f / aspect * rows[0][c]; m[c * 4 + 1] = f * rows[1][c];
      m[c * 4 + 2] = a * rows[2][c]; m[c * 4 + 3] = -rows[2][c];
    }
    m[12] = f / aspect * t[0]; m[13] = f * t[1]; m[14] = a * t[2] + b; m[15] = -t[2];
    var light = normalize3([0, 1, 2].map(function (i) {
      return state.lightFrom[0] * right[i] + state.lightFrom[1] * up[i] + state.lightFrom[2] * forward[i];
    }));
    return {eye: eye, matrix: m, light: light};
  }

  function compile(gl, vertex, fragment) {
    var program = gl.createProgram();
    [[gl.VERTEX_SHADER, vertex], [gl.FRAGMENT_SHADER, fragment]].forEach(function (pair) {
      var shader = gl.createShader(pair[0]);
      gl.shaderSource(shader, pair[1]);
      gl.compileShader(shader);
      if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) { throw new Error(gl.getShaderInfoLog(shader)); }
      gl.attachShader(program, shader);
    });
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) { throw new Error(gl.getProgramInfoLog(program)); }
    return program;
  }

  function attribute(gl, program, name, data, size) {
    var where = gl.getAttribLocation(program, name);
    if (where < 0 || !data) { return; }
    gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
    gl.enableVertexAttribArray(where);
    gl.vertexAttribPointer(where, size, gl.FLOAT, false, 0, 0);
  }

  function isPowerOfTwo(n) { return n > 0 && (n & (n - 1)) === 0; }

  /* A texture from a data URI; `done(texture)` once decoded (mip-mapped when the size allows it). */
  function loadTexture(gl, uri, done) {
    var img = new Image();
    img.onload = function () {
      var texture = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, true);  // OBJ/OpenGL UVs: v up, the image's first row on top
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, gl.RGB, gl.UNSIGNED_BYTE, img);
      var mip = isPowerOfTwo(img.width) && isPowerOfTwo(img.height);
      if (mip) { gl.generateMipmap(gl.TEXTURE_2D); }
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, mip ? gl.LINEAR_MIPMAP_LINEAR : gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      done(texture);
    };
    img.onerror = function () { console.error("nst3d viewer: a texture could not be decoded"); done(null); };
    img.src = uri;
  }

  function Viewer(canvas, data, status) {
    var gl = canvas.getContext("webgl", {preserveDrawingBuffer: true, antialias: true}) ||
             canvas.getContext("experimental-webgl", {preserveDrawingBuffer: true});
    if (!gl) { throw new Error("WebGL is not available in this browser"); }
    var wide = data.index_type === "uint32";
    if (wide && !gl.getExtension("OES_element_index_uint")) {
      throw new Error("this browser's WebGL cannot draw meshes with more than 65535 vertices");
    }
    this.gl = gl; this.canvas = canvas; this.data = data; this.status = status;
    this.program = compile(gl, VERTEX, FRAGMENT);
    gl.useProgram(this.program);
    attribute(gl, this.program, "aPos", decode(data.positions, Float32Array), 3);
    attribute(gl, this.program, "aNormal", decode(data.normals, Float32Array), 3);
    attribute(gl, this.program, "aUv", data.uvs ? decode(data.uvs, Float32Array) : null, 2);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, decode(data.indices, wide ? Uint32Array : Uint16Array),
                  gl.STATIC_DRAW);
    this.count = data.faces * 3; this.indexType = wide ? gl.UNSIGNED_INT : gl.UNSIGNED_SHORT;
    this.textures = {};
    this.home = {azimuth: 30, elevation: 15, distance: data.camera.distance};
    this.state = {azimuth: 30, elevation: 15, distance: data.camera.distance, texture: "stylized", lit: true,
                  lightFrom: data.light.from_camera};
    this.background = data.background;
    this.frames = 0; this.ready = false; this.pending = false;
    gl.enable(gl.DEPTH_TEST);
  }

  Viewer.prototype.uniform = function (name) { return this.gl.getUniformLocation(this.program, name); };

  /* Draw one frame now (the canvas is sized to its CSS box times the pixel ratio first). */
  Viewer.prototype.draw = function () {
    var gl = this.gl, canvas = this.canvas, ratio = window.devicePixelRatio || 1;
    var w = Math.max(1, Math.round(canvas.clientWidth * ratio)), h = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    gl.viewport(0, 0, w, h);
    var bg = this.background;
    gl.clearColor(bg[0] / 255, bg[1] / 255, bg[2] / 255, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    var view = camera(this.state, this.data.camera.fov, w / h);
    var texture = this.textures[this.state.texture] || null;
    gl.uniformMatrix4fv(this.uniform("uMvp"), false, view.matrix);
    gl.uniform3fv(this.uniform("uEye"), view.eye);
    gl.uniform3fv(this.uniform("uLight"), view.light);
    gl.uniform3fv(this.uniform("uAlbedo"), this.data.light.albedo);
    gl.uniform1f(this.uniform("uAmbient"), this.data.light.ambient);
    gl.uniform1i(this.uniform("uLit"), this.state.lit ? 1 : 0);
    gl.uniform1i(this.uniform("uTextured"), texture ? 1 : 0);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.uniform1i(this.uniform("uTex"), 0);
    gl.drawElements(gl.TRIANGLES, this.count, this.indexType, 0);
    this.frames += 1;
  };

  /* Draw on the next animation frame (many pointer events between two frames cost one draw), or after
   * 100 ms where animation frames are held back (headless browsers, hidden tabs), whichever comes first. */
  Viewer.prototype.redraw = function () {
    var self = this;
    if (self.pending) { return; }
    self.pending = true;
    function go() { if (self.pending) { self.pending = false; self.draw(); } }
    window.requestAnimationFrame(go);
    window.setTimeout(go, 100);
  };

  Viewer.prototype.orbit = function (dAzimuth, dElevation) {
    this.state.azimuth = (this.state.azimuth + dAzimuth) % 360;
    this.state.elevation = Math.max(-89, Math.min(89, this.state.elevation + dElevation));
    this.redraw();
  };

  Viewer.prototype.zoom = function (factor) {
    this.state.distance = Math.max(ZOOM_LIMITS[0], Math.min(ZOOM_LIMITS[1], this.state.distance * factor));
    this.redraw();
  };

  Viewer.prototype.reset = function () {
    this.state.azimuth = this.home.azimuth; this.state.elevation = this.home.elevation;
    this.state.distance = this.home.distance;
    this.redraw();
  };

  /* Pointer input: one pointer orbits, two pinch to zoom; the wheel zooms. */
  Viewer.prototype.listenPointers = function () {
    var self = this, canvas = this.canvas, pointers = {};
    function spread() {
      var p = Object.keys(pointers).map(function (k) { return pointers[k]; });
      return p.length === 2 ? Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y) : 0;
    }
    canvas.addEventListener("pointerdown", function (e) {
      pointers[e.pointerId] = {x: e.clientX, y: e.clientY};
      if (canvas.setPointerCapture) { try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* synthetic */ } }
      canvas.focus();
    });
    canvas.addEventListener("pointermove", function (e) {
      var last = pointers[e.pointerId];
      if (!last) { return; }
      var before = spread();
      pointers[e.pointerId] = {x: e.clientX, y: e.clientY};
      if (before > 0) { self.zoom(before / Math.max(1, spread())); return; }
      self.orbit(-(e.clientX - last.x) * 0.5, (e.clientY - last.y) * 0.5);
    });
    ["pointerup", "pointercancel"].forEach(function (type) {
      canvas.addEventListener(type, function (e) { delete pointers[e.pointerId]; });
    });
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault();
      self.zoom(Math.exp(e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)));
    }, {passive: false});
  };

  Viewer.prototype.listenKeys = function () {
    var self = this, keys = {
      ArrowLeft: function () { self.orbit(10, 0); }, ArrowRight: function () { self.orbit(-10, 0); },
      ArrowUp: function () { self.orbit(0, 10); }, ArrowDown: function () { self.orbit(0, -10); },
      "+": function () { self.zoom(0.9); }, "=": function () { self.zoom(0.9); },
      "-": function () { self.zoom(1 / 0.9); }, r: function () { self.reset(); }, R: function () { self.reset(); }
    };
    this.canvas.addEventListener("keydown", function (e) {
      if (keys[e.key] && !e.altKey && !e.ctrlKey && !e.metaKey) { e.preventDefault(); keys[e.key](); }
    });
  };

  /* A toggle button: a fixed label, its state in aria-pressed (and the style that goes with it). */
  function toggle(button, viewer, label, pressed, apply) {
    if (!button) { return; }
    button.textContent = label;
    button.setAttribute("aria-pressed", String(pressed));
    button.addEventListener("click", function () {
      pressed = !pressed;
      button.setAttribute("aria-pressed", String(pressed));
      apply(pressed);
      viewer.redraw();
    });
    button.hidden = false;
  }

  Viewer.prototype.listenButtons = function () {
    var self = this, byId = function (id) { return document.getElementById(id); };
    var other = this.data.textures.original ? "original" : "untextured";
    toggle(byId("nst3d-texture"), this, other === "original" ? "Original texture" : "Untextured mesh", false,
           function (on) { self.state.texture = on ? other : "stylized"; });
    toggle(byId("nst3d-light"), this, "Lighting", true, function (on) { self.state.lit = on; });
    var reset = byId("nst3d-reset");
    if (reset) { reset.hidden = false; reset.addEventListener("click", function () { self.reset(); }); }
  };

  /* Load the textures, then draw the first frame and announce that the viewer is ready. */
  Viewer.prototype.start = function () {
    var self = this, names = Object.keys(this.data.textures).filter(function (k) { return self.data.textures[k]; });
    var left = names.length;
    function finish() {
      self.draw();
      self.ready = true; self.firstFrameMs = performance.now();
      if (self.status) { self.status.textContent = "Drag to turn the mesh, use the wheel to zoom (keyboard: " +
                         "arrow keys, + and -, R to reset)."; }
      document.dispatchEvent(new CustomEvent("nst3d-viewer-ready", {detail: self}));
    }
    this.listenPointers(); this.listenKeys(); this.listenButtons();
    window.addEventListener("resize", function () { self.redraw(); });
    if (!left) { finish(); return; }
    names.forEach(function (name) {
      loadTexture(self.gl, self.data.textures[name], function (texture) {
        self.textures[name] = texture;
        left -= 1;
        if (!left) { finish(); }
      });
    });
  };

  function main() {
    var canvas = document.getElementById("nst3d-viewer"), source = document.getElementById("nst3d-mesh-data");
    var status = document.getElementById("nst3d-viewer-status");
    if (!canvas || !source) { return; }
    try {
      var viewer = new Viewer(canvas, JSON.parse(source.textContent), status);
      window.nst3dViewer = viewer;
      viewer.start();
    } catch (err) {
      canvas.hidden = true;
      if (status) { status.textContent = "The 3D viewer cannot run here: " + err.message + ". The renders below show the mesh."; }
      window.nst3dViewer = {ready: false, error: String(err.message)};
    }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", main); } else { main(); }
}());
