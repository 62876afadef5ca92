"""`nst3d study`: tiny studies of each kind write their cells, a labelled sheet and study.json; bad settings
fail in one line before anything runs; Ctrl-C keeps the finished cells; the classic finding holds."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from nst3d import study as st
from nst3d.errors import Nst3dError

TINY = ["--size", "64", "--quiet", "--backbone", "vgg16-hed"]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def check_study(folder: Path, columns: list[str], rows: list, cells: int) -> dict:
    """study.json has one entry per cell; sheet.png has a tile per input and per cell, each the cell's own
    image, and a drawn label per column (and row)."""
    record = json.loads((folder / "study.json").read_text())
    assert len(record["cells"]) == cells and record["planned_cells"] == cells and not record["interrupted"]
    for cell in record["cells"]:
        assert cell["settings"] and cell["seconds"] > 0
        assert any("/" in k for k in cell["final_losses"])  # per layer
        assert json.loads((folder / cell["record"]).read_text())["cell"] == cell["settings"]
    layout = record["sheet"]
    sheet = pixels(folder / "sheet.png")
    assert layout["columns"] == columns and layout["rows"] == rows
    assert sheet.shape[:2] == tuple(layout["size"][::-1])
    tiles = layout["tiles"]
    assert len(tiles) == len(columns) - cells // len(rows) + cells
    for tile in (t for t in tiles if t["name"] != "input"):
        x0, y0, x1, y1 = tile["box"]
        assert np.array_equal(sheet[y0:y1, x0:x1], pixels(folder / f"{tile['name']}.png"))
    labels = {(label["kind"], label["text"]): label["box"] for label in layout["labels"]}
    wanted = [("column", c) for c in columns] + [("row", r) for r in rows if r]
    assert set(wanted) <= set(labels)
    for key in wanted:  # drawn: dark ink inside the label's box
        x0, y0, x1, y1 = labels[key]
        assert sheet[y0:y1, x0:x1].min() < 80, key
    assert sorted(record["files"]) == sorted(p.name for p in folder.iterdir())  # no temp files left
    return record


def test_layers_study_and_the_classic_finding(monkeypatch, capsys, tmp_path, content_png):
    out = tmp_path / "layers"
    code, stdout, _ = run_cli(monkeypatch, capsys, "study", "layers", content_png, "--layers", "conv_2",
                              "--layers", "conv_8", "--steps", "20", "-o", out, *TINY)
    assert code == 0 and "2 of 2 cells" in stdout
    record = check_study(out, ["content", "conv_2", "conv_8"], [None], cells=2)
    assert [c["settings"] for c in record["cells"]] == [{"content_layers": "conv_2"},
                                                        {"content_layers": "conv_8"}]
    # early layers give back the photo, deep ones only its layout
    photo = pixels(content_png)
    error = {c["column"]: np.mean((pixels(out / c["image"]) - photo) ** 2) for c in record["cells"]}
    assert error["conv_2"] < 0.5 * error["conv_8"], error


def test_texture_study(monkeypatch, capsys, tmp_path, style_png):
    out = tmp_path / "texture"
    code, _, _ = run_cli(monkeypatch, capsys, "study", "texture", style_png, "--layers", "conv_1",
                         "--layers", "conv_1..conv_3", "--steps", "2", "-o", out, *TINY)
    assert code == 0
    record = check_study(out, ["style", "conv_1", "conv_1..conv_3"], [None], cells=2)
    assert record["cells"][1]["settings"] == {"style_layers": "conv1_1,conv1_2,conv2_1"}


def test_weights_study_has_a_row_per_init(monkeypatch, capsys, tmp_path, content_png, style_png):
    out = tmp_path / "weights"
    code, _, _ = run_cli(monkeypatch, capsys, "study", "weights", content_png, style_png, "--style-weight",
                         "10", "--init", "content", "--init", "noise", "--steps", "2", "--scales", "1",
                         "-o", out, *TINY)
    assert code == 0
    record = check_study(out, ["content", "style", "style weight 10"], ["from content", "from noise"], 2)
    assert [c["settings"] for c in record["cells"]] == [{"style_weight": 10.0, "init": "content"},
                                                        {"style_weight": 10.0, "init": "noise"}]


@pytest.mark.parametrize("kind,args,message", [
    ("layers", ["--layers", "conv_2", "--layers", "conv_2"], "--layers 'conv_2' is given twice"),
    ("layers", ["--layers", "conv_2", "--layers", "conv1_2"], "the same as 'conv_2'"),
    ("layers", ["--layers", "conv_2,conv_99"], "unknown layer 'conv_99'"),
    ("layers", ["--layers", ""], "--layers '': no layers given"),
    ("texture", ["--layers", " , "], "no layers given"),
    ("texture", ["--layers", "conv_5..conv_1"], "must go from a layer to a deeper one"),
    ("weights", ["--style-weight", "1", "--style-weight", "1.0"], "is given twice"),
    ("weights", ["--style-weight", "-1"], "--style-weight must be a finite number >= 0"),
    ("weights", ["--init", "zeros"], "unknown --init 'zeros'"),
    ("layers", ["--size", "12"], "short side must be at least 16 px"),  # found by the first cell
])
def test_bad_settings_are_one_line_errors_before_anything_runs(monkeypatch, capsys, tmp_path, content_png,
                                                               style_png, kind, args, message):
    images = {"layers": [content_png], "texture": [style_png], "weights": [content_png, style_png]}[kind]
    out = tmp_path / "out"
    code, _, err = run_cli(monkeypatch, capsys, "study", kind, *images, "-o", out, *TINY, *args)
    assert code == 2 and err.startswith("nst3d: error: ") and message in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize("how", ["returns interrupted", "raises"])
def test_ctrl_c_keeps_the_finished_cells_and_a_sheet_of_them(monkeypatch, capsys, tmp_path, content_png,
                                                             how):
    from nst3d import image as img

    real, calls = img.stylize, []

    def stopped_in_the_second_cell(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2 and how == "raises":
            raise KeyboardInterrupt
        result = real(*args, **kwargs)
        result.interrupted = len(calls) == 2
        return result

    monkeypatch.setattr(img, "stylize", stopped_in_the_second_cell)
    out = tmp_path / "study"
    code, _, err = run_cli(monkeypatch, capsys, "study", "layers", content_png, "--layers", "conv_1",
                           "--layers", "conv_2", "--layers", "conv_3", "--steps", "1", "-o", out, *TINY)
    record = json.loads((out / "study.json").read_text())
    assert code == 130, err
    assert record["interrupted"] and record["planned_cells"] == 3 and len(record["cells"]) == 1
    assert [t["column"] for t in record["sheet"]["tiles"]] == ["content", "conv_1"]
    assert sorted(p.name for p in out.iterdir()) == ["01_conv_1.json", "01_conv_1.png", "sheet.png",
                                                     "study.json"]


def test_a_folder_with_files_needs_force_and_then_loses_the_old_study(monkeypatch, capsys, tmp_path,
                                                                      content_png):
    out = tmp_path / "study"
    run = ["study", "layers", content_png, "--steps", "1", "-o", out, *TINY]
    assert run_cli(monkeypatch, capsys, *run, "--layers", "conv_1", "--layers", "conv_2")[0] == 0
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli(monkeypatch, capsys, *run, "--layers", "conv_3")
    assert code == 2 and "--force" in err
    assert run_cli(monkeypatch, capsys, *run, "--layers", "conv_3", "--force")[0] == 0
    kept = ["01_conv_3.json", "01_conv_3.png", "notes.txt", "sheet.png", "study.json"]
    assert sorted(p.name for p in out.iterdir()) == kept
    record = (out / "study.json").read_text()
    monkeypatch.setattr(st, "_run_cell", lambda *_: None)  # Ctrl-C in the next study's first cell
    code, said, _ = run_cli(monkeypatch, capsys, *run, "--layers", "conv_4", "--force")
    assert code == 130 and "kept as it was" in said
    assert sorted(p.name for p in out.iterdir()) == kept and (out / "study.json").read_text() == record


def test_layer_shorthands_and_label_wrapping():
    convs = st.expand_layers("all", "vgg16").split(",")
    assert len(convs) == 13 and convs[0] == "conv1_1" and convs[-1] == "conv5_3"
    assert st.expand_layers("relu_1..relu_3, pool1", "vgg19") == "relu1_1,relu1_2,relu2_1,pool1"
    with pytest.raises(Nst3dError, match="same kind"):
        st.expand_layers("conv_1..relu_3", "vgg16")
    font = st._font(st.FONT_PX)
    lines = st.wrap("conv_2+conv_4+conv_8", font, 100)
    assert "".join(lines) == "conv_2+conv_4+conv_8" and len(lines) > 1
    assert all(font.getlength(line) <= 100 for line in lines)
