"""`nst3d mesh`: style transfer onto a mesh's UV texture, with all outputs written into one folder."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from pathlib import Path
from typing import Any

import typer

from nst3d.cli_options import QUIET, Input, output_option, register, typed_options
from nst3d.io import check_output_dir, load_image
from nst3d.options import MeshOptions, mesh_preset
from nst3d.runtime import interrupt_held
from nst3d.stylize_mesh import stylize_mesh, write_mesh_outputs

SKIP = ("bank_size",)  # an API-only knob
INPUTS = [
    Input("ctx", typer.Context, inspect.Parameter.empty),
    Input("mesh", Path, typer.Argument(..., metavar="MESH", help="Mesh file: OBJ (+MTL/texture), PLY, STL, "
                                       "OFF, GLB/glTF. Meshes without UVs are unwrapped with xatlas.")),
    Input("styles", list[Path], typer.Argument(..., metavar="STYLE", help="One or more style images.")),
    output_option("Output folder (default: <mesh>_<style>/). Gets mesh.obj/.mtl, texture.png, mesh.glb, "
                  "turntable.gif, heldout_before/after.png, run.json, report.html (open it in a browser), "
                  "original_texture.png if the mesh had one and, unless --gif-every 0, progress.gif."),
    Input("texture", Path | None, typer.Option(None, "--texture", help="Texture image for the mesh "
                                               "(overrides its material's; e.g. for an OBJ without MTL).")),
    Input("force", bool, typer.Option(False, "--force", help="Overwrite the outputs of an earlier run in an "
                                      "existing --output folder (other files there are kept).")),
    Input("preset", str | None, typer.Option(None, "--preset", help="Start from a preset, then apply the "
                                             "other flags given: draft (100 steps, 256² texture: about 1 "
                                             "minute on a 2-core CPU with AMX), default (180 steps, 512²: "
                                             "about 2), or high (400 steps, 1024²: at most 6). Without AMX "
                                             "(fp32) about 1.5-2x that; on a GPU seconds.")),
    QUIET,
]


def mesh_command(options: MeshOptions, ctx: typer.Context, mesh: Path, styles: list[Path],
                 output: Path | None, texture: Path | None, **flags: Any) -> None:
    """Stylize a mesh's UV texture so it carries STYLE from every side.

    Example: nst3d mesh meshes/blob.obj styles/swirls.jpg -o out/blob_swirls
    """
    if flags["preset"] is not None:
        options = dataclasses.replace(mesh_preset(flags["preset"]), **typed_options(ctx, options, SKIP))
    force = flags["force"]
    outdir = output or Path(f"{mesh.stem}_{styles[0].stem}")
    check_output_dir(outdir, force)
    style_images = [load_image(s, "style image") for s in styles]
    result = stylize_mesh(mesh, style_images, options, texture=texture, progress=not flags["quiet"])
    inputs = {"mesh": str(mesh), "texture": None if texture is None else str(texture),
              "styles": [str(s) for s in styles], "preset": flags["preset"]}
    stop = result.interrupted or result.stop_requested
    with interrupt_held(already=stop) as held:  # a Ctrl-C while writing: the folder is finished first
        written = write_mesh_outputs(result, outdir, force, {"argv": sys.argv[1:], **inputs})
    distance = result.record["heldout_style_distance"]
    print(f"wrote {outdir}/ ({', '.join(written)}) in "
          f"{result.record['timings']['total_seconds']:.0f} s; held-out style distance "
          f"{distance['initial']:.3g} -> {distance['final']:.3g} ({distance['ratio']:.0%})")
    if stop or held:
        raise KeyboardInterrupt


def register_commands(app: typer.Typer) -> None:
    """Add mesh to the app (bank_size is an API-only knob)."""
    register(app, "mesh", MeshOptions, mesh_command, INPUTS, skip=SKIP)
