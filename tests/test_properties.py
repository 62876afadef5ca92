"""Property tests: whatever the option values or the mesh file, the CLI either writes a valid output
(exit 0) or says what is wrong in one line (exit 2) and writes nothing; it never raises, crashes or hangs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import run_cli, time_limit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nst3d.errors import Nst3dError
from nst3d.options import ImageOptions, MeshOptions, ReconstructOptions, RenderOptions, TextureOptions

TORUS = Path(__file__).resolve().parents[1] / "meshes" / "torus.obj"
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**70, 2**70),
                    st.sampled_from([0, -0.0, 1e-300, 5e-324, 3.4e38, -3.4e38, 1e300, 2**63, 2**63 - 1]))
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def assert_one_line_or_output(code: int, err: str, output: Path) -> None:
    """Exit 0 and a readable output, or exit 2, exactly one 'nst3d: error:' line and no file at all."""
    if code == 0:
        with Image.open(output) as image:
            image.load()
    else:
        assert code == 2, err
        lines = [line for line in err.splitlines() if not line.startswith("note:")]
        assert len(lines) == 1 and lines[0].startswith("nst3d: error: "), err
        assert not output.exists()
    assert [p.name for p in output.parent.iterdir() if p.name.startswith(".")] == []  # no staged leftovers


KINDS = [ImageOptions, ReconstructOptions, TextureOptions, MeshOptions, RenderOptions]


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data())
def test_any_numeric_option_value_is_accepted_or_one_clear_error(kind, data):
    numeric = [f.name for f in dataclasses.fields(kind) if isinstance(f.default, int | float)
               and not isinstance(f.default, bool)]
    name = data.draw(st.sampled_from(numeric))
    value = data.draw(NUMBERS)
    try:
        kind(**{name: value})
    except Nst3dError as exc:
        assert "\n" not in str(exc) and str(exc)


ANYTHING = st.one_of(NUMBERS, st.booleans(), st.none(), st.text(max_size=8),
                     st.sampled_from(["10", "0.5", "yes"]),
                     st.lists(st.one_of(st.integers(-5, 90), st.text(max_size=4)), max_size=3))


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data())
def test_a_value_of_the_wrong_kind_is_one_clear_error_never_a_later_crash(kind, data):
    """A manifest row or an API call can give any JSON value: it is checked at once, so what is accepted
    has the kind of its default (numbers stay numbers, flags stay bools, text stays text)."""
    field = data.draw(st.sampled_from([f for f in dataclasses.fields(kind) if f.name != "weights"]))
    value = data.draw(ANYTHING)
    try:
        made = getattr(kind(**{field.name: value}), field.name)
    except Nst3dError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    if isinstance(field.default, bool):
        assert isinstance(made, bool)
    elif isinstance(field.default, int | float):
        assert isinstance(made, int | float) and not isinstance(made, bool) and not isinstance(value, str)
    elif isinstance(field.default, str):
        assert isinstance(made, str) or field.name.endswith("_layers")


@SETTINGS
@given(size=st.one_of(st.integers(16, 40), st.integers(-10**9, 15), st.integers(4097, 10**12)),
       distance=NUMBERS, elevation=NUMBERS, azimuth=NUMBERS, fov=NUMBERS,
       fps=NUMBERS, frames=st.one_of(st.integers(1, 3), st.integers(-10**9, 0), st.integers(10**5, 10**12)),
       suffix=st.sampled_from([".png", ".gif"]))
def test_render_options_never_traceback(monkeypatch, capsys, tmp_path_factory, size, distance, elevation,
                                        azimuth, fov, fps, frames, suffix):
    out = tmp_path_factory.mktemp("render") / f"out{suffix}"
    args = ["render", TORUS, "-o", out, "--size", size, "--distance", distance, "--elevation", elevation,
            "--azimuth", azimuth, "--fov", fov, "--fps", fps, "--frames", frames]
    with time_limit(60):
        code, _, err = run_cli(monkeypatch, capsys, *args)
    assert_one_line_or_output(code, err, out)


COORDINATES = st.one_of(st.floats(-2, 2), st.sampled_from(["nan", "inf", "-inf", "3.4e38", "-3.4e38", "1e38",
                                                           "1e-45", "0", "1e30"]))


@st.composite
def mesh_files(draw) -> tuple[str, str]:
    """(suffix, text) of a small OBJ (relative and absolute indices, CRLF, BOM) or ASCII PLY."""
    count = draw(st.integers(0, 5))
    vertices = [[draw(COORDINATES) for _ in range(3)] for _ in range(count)]
    faces = draw(st.lists(st.lists(st.integers(-6, 6), min_size=3, max_size=4), max_size=4))
    if draw(st.booleans()):
        text = "".join(f"v {' '.join(map(str, v))}\n" for v in vertices)
        text += "".join(f"f {' '.join(map(str, f))}\n" for f in faces)
        if draw(st.booleans()):
            text = "\ufeff" + text.replace("\n", "\r\n")
        return ".obj", text
    faces = [[abs(i) for i in f] for f in faces]
    header = (f"ply\nformat ascii 1.0\nelement vertex {count}\nproperty float x\nproperty float y\n"
              f"property float z\nelement face {len(faces)}\nproperty list uchar int vertex_indices\n"
              "end_header\n")
    body = "".join(f"{' '.join(map(str, v))}\n" for v in vertices)
    return ".ply", header + body + "".join(f"{len(f)} {' '.join(map(str, f))}\n" for f in faces)


@SETTINGS
@given(mesh=mesh_files())
def test_any_small_mesh_file_renders_or_is_one_clear_error(monkeypatch, capsys, tmp_path_factory, mesh):
    suffix, text = mesh
    folder = tmp_path_factory.mktemp("mesh")
    path = folder / f"m{suffix}"
    path.write_text(text, encoding="utf-8", newline="")
    out = folder / "out.png"
    with time_limit(60):
        code, _, err = run_cli(monkeypatch, capsys, "render", path, "-o", out, "--size", 32)
    assert_one_line_or_output(code, err, out)


@pytest.mark.parametrize("args", [["--size", "1e3"], ["--bogus"], ["--frames", "many"], []])
def test_usage_errors_are_one_line_too(monkeypatch, capsys, tmp_path, args):
    out = tmp_path / "out.png"
    mesh = [] if not args else [TORUS, "-o", out]
    code, _, err = run_cli(monkeypatch, capsys, "render", *mesh, *args)
    assert_one_line_or_output(code, err, out)
    assert code == 2 and "--help" in err
