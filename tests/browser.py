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

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,4000", "--virtual-time-budget=10000"]
MARK = "nst3d-check"


def chromium() -> str:
    """The chromium binary; without one, skip on a user's machine and fail in CI."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "needs Debian's chromium (apt-get install chromium); .ci/run installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def evaluate(page: Path, script: str, timeout: float = 60) -> dict:
    """Open a copy of `page` (same folder, so relative paths resolve) with `script` appended; the script
    must call `report(value)`; returns that value."""
    html = page.read_text(encoding="utf-8")
    probe = (f"<script>function report(v){{var p=document.createElement('pre');p.id='{MARK}';"
             f"p.textContent=JSON.stringify(v);document.body.appendChild(p);}}\n{script}</script>")
    check = page.with_name(f".check-{page.name}")
    check.write_text(html.replace("</body>", probe + "</body>"), encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory() as profile:
            proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                                   check.resolve().as_uri()], capture_output=True, text=True, timeout=timeout)
    finally:
        check.unlink(missing_ok=True)
    found = re.search(rf'<pre id="{MARK}">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"chromium exit {proc.returncode}; no result from the page; stderr: {proc.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
