"""The module map holds: imports run one way, every CLI module imports on its own, and the CLI's defaults
are the API's (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

import nst3d
from nst3d.cli import app
from nst3d.options import ImageOptions, MeshOptions, ReconstructOptions, RenderOptions, TextureOptions

PACKAGE = Path(nst3d.__file__).parent
PIPELINES = {"nst3d.image", "nst3d.stylize_mesh"}
COMMANDS = {"image": ImageOptions, "reconstruct": ReconstructOptions, "texture": TextureOptions,
            "mesh": MeshOptions, "render": RenderOptions}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> set[str]:
    """nst3d modules a file imports when it runs (imports under `if TYPE_CHECKING:` do not count)."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and getattr(node.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("nst3d")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nst3d"):
            # `from nst3d import losses` imports the module nst3d.losses, not the package face
            submodules = {f"{node.module}.{a.name}" for a in node.names}
            paths = {m: PACKAGE.parent / m.replace(".", "/") for m in submodules}
            modules = {m for m, p in paths.items() if p.with_suffix(".py").exists() or p.is_dir()}
            found |= modules or {node.module}
    return found


GRAPH = {module_name(p): runtime_imports(p) for p in PACKAGE.rglob("*.py")}


def test_no_pipeline_imports_another_and_no_command_module_imports_the_registry():
    for module in PIPELINES:
        assert not GRAPH[module] & (PIPELINES - {module}), module
    for module, imports in GRAPH.items():
        if module.startswith("nst3d.cli_"):
            assert "nst3d.cli" not in imports, module


def test_nothing_below_the_pipelines_imports_the_package_face_a_pipeline_or_the_cli():
    above = PIPELINES | {"nst3d", "nst3d.__main__", "nst3d.console"} | {
        m for m in GRAPH if m.startswith(("nst3d.cli", "nst3d.batch"))}
    for module, imports in GRAPH.items():
        if module not in above:
            assert not imports & above, (module, imports & above)


def test_render_sits_below_mesh():
    for module, imports in GRAPH.items():
        if module.startswith("nst3d.render"):
            assert not any(i.startswith("nst3d.mesh") for i in imports), module


def test_the_import_graph_has_no_cycle():
    state: dict[str, str] = {}

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert state.get(module) != "open", f"import cycle: {' -> '.join(path + (module,))}"
        if state.get(module) == "done" or module not in GRAPH:
            return
        state[module] = "open"
        for imported in GRAPH[module]:
            visit(imported, path + (module,))
        state[module] = "done"

    for module in GRAPH:
        visit(module, ())


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.startswith("nst3d.cli")))
def test_each_cli_module_imports_on_its_own(module):
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_every_cli_default_is_the_api_default():
    group = typer.main.get_command(app)
    assert set(COMMANDS) <= set(group.commands)
    for name, kind in COMMANDS.items():
        defaults = {f.name: f.default for f in dataclasses.fields(kind)}
        shown = [p for p in group.commands[name].params if p.name in defaults]
        assert len(shown) >= 10, name
        for param in shown:
            default = tuple(param.default) if isinstance(param.default, list | tuple) else param.default
            assert default == defaults[param.name], (name, param.name)


def test_api_functions_use_their_command_options():
    # the API's defaults are the options classes': a keyword that is not a field is a one-line error
    from nst3d.errors import Nst3dError

    with pytest.raises(Nst3dError, match="unknown option 'sizee'"):
        nst3d.transfer(None, [], sizee=3)
    assert ReconstructOptions().init == "noise" and TextureOptions().content_weight == 0
    assert MeshOptions().steps == 180 and ImageOptions().size == 384


def test_the_package_face_gives_the_api_functions_even_after_their_submodules_are_imported():
    import nst3d.image  # noqa: F401
    import nst3d.stylize_mesh  # noqa: F401  (sets the package attribute of that name to the module)

    assert callable(nst3d.stylize_mesh) and nst3d.stylize_mesh.__name__ == "stylize_mesh"
    assert nst3d.transfer.__module__ == "nst3d.image"
    proc = subprocess.run([sys.executable, "-c", "import sys, nst3d; print('torch' in sys.modules)"],
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False"  # import nst3d stays quick: Ctrl-C at start-up is caught
