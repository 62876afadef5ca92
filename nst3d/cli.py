"""The `nst3d` command line: the registry of typer commands over the Python API, one per job.

Command modules define handlers and their inputs and import nothing from here; this module registers
them and turns user errors into one line on stderr.
"""

from __future__ import annotations

import sys

import typer

from nst3d import cli_batch, cli_image, cli_mesh, cli_render, cli_report, cli_study
from nst3d.errors import Nst3dError

try:  # typer >= 0.22 ships its own copy of click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - older typer on the real click
    from click.exceptions import ClickException, NoArgsIsHelpError

app = typer.Typer(
    name="nst3d",
    help="Neural style transfer on images and on the UV textures of 3D meshes (plain PyTorch, CPU or CUDA).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
for module in (cli_image, cli_mesh, cli_render, cli_study, cli_batch, cli_report):
    module.register_commands(app)


# the flags that lower a command's memory, named when it runs out
MEMORY_FLAGS = {"image": "--size, --scales", "reconstruct": "--size", "texture": "--size, --style-scale",
                "mesh": "--texture-size, --render-size, --views-per-step, --supersample",
                "render": "--size, --supersample", "study": "--size",
                "batch": "--texture-size, --render-size"}


def out_of_memory(argv: list[str]) -> str:
    """The one-line out-of-memory message, naming only the running command's own size flags."""
    command = next((a for a in argv if a in MEMORY_FLAGS), None)
    hint = f" ({MEMORY_FLAGS[command]})" if command else ""
    return f"nst3d: error: out of memory; try smaller sizes{hint}"


def main() -> None:
    """Run the command line: user errors become one line on stderr and a non-zero exit."""
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:  # `nst3d` or `nst3d study` alone: show the help
        print(exc.format_message(), file=sys.stderr)
        sys.exit(2)
    except ClickException as exc:  # bad flags or values, before anything runs: one line too
        context = getattr(exc, "ctx", None)
        where = f"{context.command_path} --help" if context is not None else "nst3d --help"
        print(f"nst3d: error: {exc.format_message()} (see {where})".replace("\n", " "), file=sys.stderr)
        sys.exit(exc.exit_code)
    except Nst3dError as exc:
        print(f"nst3d: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        print("nst3d: interrupted", file=sys.stderr)
        sys.exit(130)
    except (MemoryError, RuntimeError) as exc:  # torch reports failed allocations as RuntimeError
        text = str(exc)
        if not isinstance(exc, MemoryError) and "out of memory" not in text and "allocate" not in text:
            raise
        print(out_of_memory(sys.argv[1:]), file=sys.stderr)
        sys.exit(3)
    except OSError as exc:
        print(f"nst3d: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        sys.exit(2)
    if code == 130:  # typer turns Ctrl-C inside a command into exit code 130
        print("nst3d: interrupted", file=sys.stderr)
    sys.exit(code or 0)
