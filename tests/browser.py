"""Headless Chromium for page tests: open a page from disk with no network and read back what its
script found. In CI a missing or broken Chromium fails the test with the reason (it does not skip)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

# No GPU and no network: WebGL runs on Chromium's software rasterizer (SwiftShader through ANGLE; newer
# Chromium only falls back to it when told it may), and every host name fails to resolve.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--virtual-time-budget=10000"]
WINDOW = (1280, 4000)
MARK = "nst3d-check"
# Run first in <head>: every console.error, uncaught error, failed resource load and unhandled rejection
# lands in window.nst3dErrors, for the probe script to report.
CATCH_ERRORS = """<script>window.nst3dErrors = [];
(function () {
  var original = console.error;
  console.error = function () {
    window.nst3dErrors.push(Array.prototype.map.call(arguments, String).join(" "));
    return original.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    var t = e.target;
    window.nst3dErrors.push(t && t !== window ? "failed to load " + (t.src || t.href || t.tagName)
                            : String(e.message));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { window.nst3dErrors.push(String(e.reason)); });
}());</script>"""


def chromium() -> str:
    """The chromium binary; without one, skip on a user's machine and fail in CI."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "needs Debian's chromium (apt-get install chromium); .ci/run installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def evaluate(page: Path, script: str, timeout: float = 60, *, catch_errors: bool = False,
             window: tuple[int, int] = WINDOW) -> dict:
    """Open a copy of `page` (same folder, so relative paths resolve) with `script` appended; the script
    must call `report(value)`; returns that value. With `catch_errors`, CATCH_ERRORS runs before anything
    else on the page and collects errors in window.nst3dErrors. `window` is the viewport (width, height)."""
    html = page.read_text(encoding="utf-8")
    probe = (f"<script>function report(v){{var p=document.createElement('pre');p.id='{MARK}';"
             f"p.textContent=JSON.stringify(v);document.body.appendChild(p);}}\n{script}</script>")
    if catch_errors:
        assert "<head>" in html, f"{page}: no <head> to put the error catcher in"
        html = html.replace("<head>", "<head>" + CATCH_ERRORS, 1)
    check = page.with_name(f".check-{page.name}")
    before, end, after = html.rpartition("</body>")
    check.write_text(before + probe + end + after if end else html + probe, encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory() as profile:
            proc = subprocess.run([chromium(), *FLAGS, f"--window-size={window[0]},{window[1]}",
                                   f"--user-data-dir={profile}", "--dump-dom", check.resolve().as_uri()],
                                  capture_output=True, text=True, timeout=timeout)
    finally:
        check.unlink(missing_ok=True)
    found = re.search(rf'<pre id="{MARK}">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"chromium exit {proc.returncode}; no result from the page; stderr: {proc.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
