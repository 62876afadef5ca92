"""`nst3d image`, `nst3d reconstruct`, `nst3d texture`: the 2D commands."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from nst3d import image as img
from nst3d.cli_options import QUIET, Input, output_option, register
from nst3d.errors import Nst3dError
from nst3d.io import IMAGE_SUFFIXES, check_output_path, load_image, save_gif, save_image
from nst3d.options import ImageOptions, ReconstructOptions, TextureOptions
from nst3d.records import write_record
from nst3d.report.run import image_report_path, write_image_report
from nst3d.runtime import interrupt_held

OUTPUT = output_option("Output image (.png/.jpg/...). A .json record of the run is written next to it. "
                       "Default: a name made from the inputs, in this folder.")
GIF = Input("gif", Path | None, typer.Option(None, "--gif", help="Also write an animated GIF of the "
                                              "optimization here (a frame every --gif-every steps)."))
REPORT = Input("report", bool, typer.Option(False, "--report", help="Also write <output stem>.report.html "
                                            "beside the image: before/after, styles, loss curves, parameters "
                                            "and the command, in one page that opens from disk."))
CONTENT = Input("content", Path, typer.Argument(..., metavar="CONTENT", help="Content image: its layout is "
                                                 "kept."))
STYLES = Input("styles", list[Path], typer.Argument(..., metavar="STYLE", help="One or more style images: "
                                                     "their textures are copied."))
# flags of ImageOptions that the reconstruction and synthesis commands do not show
NO_STYLE = ("style_weight", "style_loss", "style_layers", "style_blend", "style_scale", "preserve_colors",
            "color_match", "tv_weight", "content_weight", "init")
NO_CONTENT = ("content_weight", "content_layers", "preserve_colors", "color_match", "style_weight", "init")


def run_and_write(job: Callable[..., img.StylizeResult], output: Path, gif: Path | None,
                  options: ImageOptions, inputs: dict, progress: bool, report: bool, **images) -> None:
    """Check outputs first, run the job, then write image, GIF, JSON record and, with `report`, the
    report page (also after Ctrl-C)."""
    output = check_output_path(output, IMAGE_SUFFIXES)
    check_output_path(output.with_suffix(".json"))
    if report:
        check_output_path(image_report_path(output))
    if gif is not None:
        check_output_path(gif, [".gif"])
        if options.gif_every <= 0:
            raise Nst3dError(f"--gif-every must be > 0 to write {gif}")
    else:
        options = dataclasses.replace(options, gif_every=0)  # no frames to collect
    result = job(options=options, snapshot=lambda x: save_image(x, output), progress=progress, **images)
    stop = result.interrupted or result.stop_requested
    with interrupt_held(already=stop) as held:  # a Ctrl-C while writing: write everything first
        save_image(result.image, output)
        written = [str(output)]
        if gif is not None:
            save_gif(result.frames, gif, fps=8)
            written.append(str(gif))
        record = {"command": sys.argv[1] if len(sys.argv) > 1 else None, "argv": sys.argv[1:],
                  "inputs": inputs, "outputs": written + [str(output.with_suffix(".json"))], **result.record}
        write_record(record, output.with_suffix(".json"))
        if report:
            written.append(str(write_image_report(output.with_suffix(".json"))))
    _print_summary(result, written)
    if stop or held:
        raise KeyboardInterrupt


def _print_summary(result: img.StylizeResult, written: list[str]) -> None:
    """One line of what was written, and the final losses per layer."""
    losses = result.record["final_losses"]
    summary = ", ".join(f"{k} {losses[k]:.4g}" for k in ("content", "style", "tv") if k in losses)
    print(f"wrote {', '.join(written)} ({result.image.shape[-1]}x{result.image.shape[-2]}, "
          f"{result.record['timings']['total_seconds']:.1f} s, backbone {result.record['backbone']}; "
          f"{summary})")
    per_layer = "  ".join(f"{k} {v:.4g}" for k, v in losses.items() if "/" in k)
    if per_layer:
        print(f"final losses per layer: {per_layer}")


def image_command(options: ImageOptions, content: Path, styles: list[Path], output: Path | None,
                  gif: Path | None, report: bool, quiet: bool) -> None:
    """Style transfer: paint CONTENT in the style of STYLE (Gatys et al.), coarse to fine.

    Example: nst3d image photo.jpg styles/waves.jpg -o out.png --gif out.gif
    """
    output = output or Path(f"{content.stem}_{styles[0].stem}.png")
    images = {"content": load_image(content, "content image"),
              "styles": [load_image(s, "style image") for s in styles]}
    run_and_write(img.transfer, output, gif, options, {"content": str(content),
                  "styles": [str(s) for s in styles]}, not quiet, report, **images)


def reconstruct_command(options: ReconstructOptions, content: Path, output: Path | None, gif: Path | None,
                        report: bool, quiet: bool) -> None:
    """Content reconstruction: optimize white noise until its features at --layers match CONTENT's."""
    layers = options.content_layers.replace(",", "+").replace(":", "")
    output = output or Path(f"{content.stem}_reconstruct_{layers}.png")
    run_and_write(img.reconstruct, output, gif, options, {"content": str(content)}, not quiet, report,
                  content=load_image(content, "content image"))


def texture_command(options: TextureOptions, styles: list[Path], output: Path | None, gif: Path | None,
                    report: bool, quiet: bool) -> None:
    """Texture synthesis: optimize white noise until its Gram matrices match the style's."""
    output = output or Path(f"{styles[0].stem}_texture.png")
    run_and_write(img.synthesize_texture, output, gif, options, {"styles": [str(s) for s in styles]},
                  not quiet, report, styles=[load_image(s, "style image") for s in styles])


def register_commands(app: typer.Typer) -> None:
    """Add image, reconstruct and texture to the app."""
    register(app, "image", ImageOptions, image_command, [CONTENT, STYLES, OUTPUT, GIF, REPORT, QUIET])
    register(app, "reconstruct", ReconstructOptions, reconstruct_command,
             [Input("content", Path, typer.Argument(..., metavar="CONTENT", help="Image whose features are "
                                                    "matched.")), OUTPUT, GIF, REPORT, QUIET], skip=NO_STYLE)
    register(app, "texture", TextureOptions, texture_command,
             [Input("styles", list[Path], typer.Argument(..., metavar="STYLE", help="Style image(s) whose "
                                                         "texture statistics are matched.")),
              OUTPUT, GIF, REPORT, QUIET], skip=NO_CONTENT)
