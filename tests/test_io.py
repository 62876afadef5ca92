import pytest

from nst3d.io import staged_directory


def test_staged_directory_replaces_only_the_jobs_own_outputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "progress.gif").write_text("from an earlier run")
    (out / "texture.png").write_text("old")
    (out / "notes.txt").write_text("the user's")
    (out / "run.json").mkdir()  # an owned name that is a folder is left alone
    with staged_directory(out, force=True, owned=("texture.png", "progress.gif", "run.json")) as stage:
        (stage / "texture.png").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "run.json", "texture.png"]
    assert (out / "texture.png").read_text() == "new" and (out / "run.json").is_dir()


def test_staged_directory_creates_a_new_folder_and_leaves_it_untouched_on_failure(tmp_path):
    out = tmp_path / "a" / "b"
    with staged_directory(out, owned=("x.txt",)) as stage:
        (stage / "x.txt").write_text("1")
    assert (out / "x.txt").read_text() == "1"
    with pytest.raises(RuntimeError), staged_directory(out, force=True, owned=("x.txt",)) as stage:
        (stage / "x.txt").write_text("2")
        raise RuntimeError("the job failed")
    assert (out / "x.txt").read_text() == "1"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b"]  # no stage folder left behind
