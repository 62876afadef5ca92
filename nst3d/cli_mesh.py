"""`nst3d mesh`: style transfer onto a mesh's UV texture, with all outputs written into one folder."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from nst3d import image as img
from nst3d.cli import app
from nst3d.cli_image import (
    BACKBONE,
    DEVICE,
    QUIET,
    STYLE_BLEND,
    STYLE_LAYERS,
    STYLE_WEIGHT,
    WEIGHTS,
    parse_floats,
)
from nst3d.io import check_output_dir, load_image
from nst3d.stylize_mesh import stylize_mesh, write_mesh_outputs

STYLE_SCALE = typer.Option(1.0, "--style-scale", help="Style image size relative to --render-size "
                           "(larger: bigger brush strokes on the mesh).")
SEED = typer.Option(0, "--seed", help="Random seed (views, noise init): the same seed gives the same result "
                    "on the CPU, and nearly the same on CUDA, where texture gradients are summed atomically.")


@app.command("mesh")
def mesh_command(
    mesh: Path = typer.Argument(..., metavar="MESH", help="Mesh file: OBJ (+MTL/texture), PLY, STL, OFF, "
                                "GLB/glTF. Meshes without UVs are unwrapped with xatlas."),
    styles: list[Path] = typer.Argument(..., metavar="STYLE", help="One or more style images."),
    outdir: Path = typer.Option(None, "--output", "-o", help="Output folder (default: <mesh>_<style>/). "
                                "Gets mesh.obj/.mtl, texture.png, mesh.glb, turntable.gif, run.json and, "
                                "unless --gif-every 0, progress.gif."),
    texture: Path = typer.Option(None, "--texture", help="Texture image for the mesh (overrides its "
                                 "material's; e.g. for an OBJ without MTL)."),
    steps: int = typer.Option(300, "--steps", help="Optimization steps (each renders --views-per-step "
                              "views)."),
    texture_size: int = typer.Option(512, "--texture-size", help="Side of the square output texture, in "
                                     "texels (16 to 8192)."),
    render_size: int = typer.Option(256, "--render-size", help="Side of each rendered view fed to VGG, in "
                                    "pixels (32 to 4096)."),
    views_per_step: int = typer.Option(2, "--views-per-step", help="Random views per step."),
    elevation: tuple[float, float] = typer.Option((-15.0, 45.0), "--elevation", help="Range of camera "
                                                  "elevations in degrees: MIN MAX."),
    distance: float = typer.Option(2.7, "--distance", help="Camera distance (the mesh is scaled to fit "
                                   "the unit sphere); jittered by +-10%."),
    fov: float = typer.Option(40.0, "--fov", help="Vertical field of view in degrees; jittered by +-5."),
    style_weight: float = STYLE_WEIGHT,
    content_weight: float = typer.Option(1.0, "--content-weight", help="Weight of keeping the mesh's "
                                         "own texture (content loss on renders); ignored without one."),
    tv_weight: float = typer.Option(50.0, "--tv-weight", help="Total-variation weight on the rendered "
                                    "surface (silhouettes excluded): removes pixel-level speckle."),
    seam_weight: float = typer.Option(1000.0, "--seam-weight", help="Weight of keeping colors equal on "
                                      "both sides of UV seams (0: off)."),
    style_blend: str = STYLE_BLEND,
    style_scale: float = STYLE_SCALE,
    preserve_colors: bool = typer.Option(False, "--preserve-colors", help="Keep the original texture's "
                                         "colors; take only luminance texture from the style."),
    init: str = typer.Option("auto", "--init", help="Start texture: original (the mesh's own), gray or "
                             "noise; auto = original if the mesh has a texture, else gray."),
    lr: float = typer.Option(0.05, "--lr", help="Adam learning rate (texture in logit space)."),
    content_layers: str = typer.Option(img.DEFAULT_CONTENT_LAYERS, "--content-layers",
                                       help="Comma-separated layers for the content loss."),
    style_layers: str = STYLE_LAYERS,
    supersample: int = typer.Option(1, "--supersample", help="Render at this many times the size and "
                                    "box-filter down (antialiasing; denser texture gradients)."),
    mipmap: bool = typer.Option(True, "--mipmap/--no-mipmap", help="Trilinear mip-mapped texture "
                                "sampling (antialiasing for minified textures)."),
    levels: int = typer.Option(4, "--levels", help="Laplacian-pyramid levels of the texture "
                               "parameterization (1: plain texels)."),
    average_decay: float = typer.Option(0.9, "--average-decay", help="Export the exponential moving "
                                        "average of the texture over the steps, with this decay (iterate "
                                        "averaging cancels the jitter of random views; 0: the last step's "
                                        "texture)."),
    gif_every: int = typer.Option(10, "--gif-every", help="Steps between progress.gif frames (0: none)."),
    force: bool = typer.Option(False, "--force", help="Overwrite the outputs of an earlier run in an "
                               "existing --output folder (other files there are kept)."),
    seed: int = SEED,
    device: str = DEVICE,
    backbone: str = BACKBONE,
    weights: Path = WEIGHTS,
    quiet: bool = QUIET,
) -> None:
    """Stylize a mesh's UV texture so it carries STYLE from every side.

    Example: nst3d mesh meshes/blob.obj styles/swirls.jpg -o out/blob_swirls
    """
    outdir = outdir or Path(f"{mesh.stem}_{styles[0].stem}")
    check_output_dir(outdir, force)
    style_images = [load_image(s, "style image") for s in styles]
    result = stylize_mesh(mesh, style_images, texture=texture, steps=steps, texture_size=texture_size,
                          render_size=render_size, views_per_step=views_per_step, elevation=elevation,
                          distance=distance, fov=fov, style_weight=style_weight,
                          content_weight=content_weight, tv_weight=tv_weight, seam_weight=seam_weight,
                          style_blend=parse_floats(style_blend, "--style-blend"), style_scale=style_scale,
                          preserve_colors=preserve_colors, init=init, lr=lr, seed=seed, device=device,
                          backbone=backbone, weights=weights, style_layers=style_layers,
                          content_layers=content_layers, gif_every=gif_every, supersample=supersample,
                          mipmap=mipmap, levels=levels, average_decay=average_decay, progress=not quiet)
    inputs = {"mesh": str(mesh), "texture": None if texture is None else str(texture),
              "styles": [str(s) for s in styles]}
    written = write_mesh_outputs(result, outdir, force, {"argv": sys.argv[1:], **inputs})
    held = result.record["heldout_style_distance"]
    print(f"wrote {outdir}/ ({', '.join(written)}) in "
          f"{result.record['timings']['total_seconds']:.0f} s; held-out style distance "
          f"{held['initial']:.3g} -> {held['final']:.3g} ({held['ratio']:.0%})")
    if result.interrupted:
        raise KeyboardInterrupt
