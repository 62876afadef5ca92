"""The `nst3d` command line: the registry of typer commands over the Python API, one per job.

Command modules define handlers and their inputs and import nothing from here; this module registers
them and turns user errors into one line on stderr.
"""

from __future__ import annotations

import sys

import typer

from nst3d import cli_image, cli_mesh, cli_render
from nst3d.errors import Nst3dError

app = typer.Typer(
    name="nst3d",
    help="Neural style transfer on images and on the UV textures of 3D meshes (plain PyTorch, CPU or CUDA).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
for module in (cli_image, cli_mesh, cli_render):
    module.register_commands(app)


def main() -> None:
    """Console entry point: user errors become one line on stderr and a non-zero exit."""
    try:
        app()
    except Nst3dError as exc:
        print(f"nst3d: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("nst3d: interrupted", file=sys.stderr)
        sys.exit(130)
    except MemoryError:
        print("nst3d: error: out of memory; try smaller sizes", file=sys.stderr)
        sys.exit(3)
    except RuntimeError as exc:  # torch reports allocation failures as RuntimeError (OutOfMemoryError)
        if "out of memory" not in str(exc) and "allocate" not in str(exc):
            raise
        print("nst3d: error: out of memory; try smaller sizes (--size, --texture-size, --render-size, "
              "--views-per-step)", file=sys.stderr)
        sys.exit(3)
    except OSError as exc:
        print(f"nst3d: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        sys.exit(2)
