"""`nst3d study layers | texture | weights`: the classic comparison tables, one command each.

Each subcommand takes the flags of its underlying command (`reconstruct`, `texture`, `image`), which
apply to every cell, plus its own repeatable setting flags (--layers, --style-weight, --init); given
nothing but the images it reproduces the classic table. The work is nst3d.study's; this module checks the
settings, loads the inputs and passes the 2D job to run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from nst3d import image as img
from nst3d import study as st
from nst3d.cli_image import NO_CONTENT, NO_STYLE
from nst3d.cli_options import QUIET, Input, output_option, register
from nst3d.io import load_image
from nst3d.options import ImageOptions, ReconstructOptions, TextureOptions

# what a study does not use: GIFs and snapshots of the cells (each cell's image is written when done)
NO_FRAMES = ("gif_every", "save_every")

app = typer.Typer(name="study", help="The classic comparison tables as one run each: every cell's image "
                  "and JSON, a labelled contact sheet (sheet.png) and study.json.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)

OUTPUT = output_option("Output folder (default: study_<kind>_<inputs>/ here). Gets each cell's PNG and "
                       "JSON, sheet.png and study.json.")
FORCE = Input("force", bool, typer.Option(False, "--force", help="Write into an existing folder that is not "
                                          "empty (the study written there before is replaced once "
                                          "the new one finishes a cell; other files are kept)."))
CONTENT = Input("content", Path, typer.Argument(..., metavar="CONTENT", help="Content image."))
STYLES = Input("styles", list[Path], typer.Argument(..., metavar="STYLE", help="Style image(s); several "
                                                    "blend (--style-blend)."))


def _repeated(name: str, flag: str, metavar: str, defaults: tuple[str, ...], help: str) -> Input:
    """A repeatable setting flag: one cell (column or row) per value; the classic table by default."""
    shown = " ".join(f"{flag} {d}" for d in defaults)
    return Input(name, list[str] | None, typer.Option(None, flag, metavar=metavar, help=f"{help} Repeat the "
                                                      f"flag, one cell per value. Default: {shown}."))


LAYER_HELP = ("A comma-separated layer list (conv4_2 / relu_7 / conv_8 naming, 'all' = every conv "
              "layer, 'conv_1..conv_5' = a run of layers).")
RECONSTRUCT_LAYERS = _repeated("layers", "--layers", "LAYERS", st.RECONSTRUCT_LAYERS,
                               f"{LAYER_HELP} Matched from noise, one column each.")
TEXTURE_LAYERS = _repeated("layers", "--layers", "LAYERS", st.TEXTURE_LAYERS,
                           f"{LAYER_HELP} Gram matrices matched from noise, one column each.")
STYLE_WEIGHTS = _repeated("style_weight", "--style-weight", "WEIGHT", st.STYLE_WEIGHTS,
                          "A style weight (the content weight is --content-weight): one column each.")
INITS = _repeated("init", "--init", "INIT", st.INITS,
                  "A starting image (content, noise or style): one row each.")


def _run(study: st.Study, job: st.Job, output: Path, force: bool, quiet: bool) -> None:
    """Run the study into its folder, say what was written, and exit 130 after Ctrl-C."""
    created = not output.exists()
    folder = st.prepare_folder(output, force)
    try:
        outcome = st.run_study(study, job, folder, progress=not quiet)
    except Exception:
        if created and not any(folder.iterdir()):  # failed in the first cell: leave no empty folder
            folder.rmdir()
        raise
    if outcome.files:
        print(f"wrote {folder}/: {len(outcome.done)} of {len(study.cells)} cells (PNG + JSON each), "
              f"{st.SHEET}, {st.RECORD} ({outcome.seconds:.1f} s)")
    else:
        print(f"no cell finished; the study already in {folder}/ is kept as it was")
    if outcome.interrupted:
        raise KeyboardInterrupt


def _base(options: ImageOptions) -> ImageOptions:
    """The command's options as every cell's base: without GIF frames, which a study does not write."""
    return dataclasses.replace(options, gif_every=0)


def layers_command(options: ReconstructOptions, content: Path, layers: list[str] | None, output: Path | None,
                   force: bool, quiet: bool) -> None:
    """Content reconstruction from noise at several layers, one column each (early layers give back the
    photo, deep ones only its layout).

    Example: nst3d study layers examples/landscape.jpg --size 128 --steps 60 -o out/study_layers
    """
    cells = st.layer_cells(_base(options), "content_layers", layers or st.RECONSTRUCT_LAYERS)
    study = st.Study("layers", _base(options), cells, {"content": load_image(content, "content image")},
                     {"content": str(content)})
    _run(study, img.reconstruct, output or Path(f"study_layers_{content.stem}"), force, quiet)


def texture_command(options: TextureOptions, styles: list[Path], layers: list[str] | None,
                    output: Path | None, force: bool, quiet: bool) -> None:
    """Texture synthesis from noise with the Gram matrices of several layer lists, one column each.

    Example: nst3d study texture styles/mosaic.jpg --size 128 --steps 60 -o out/study_texture
    """
    cells = st.layer_cells(_base(options), "style_layers", layers or st.TEXTURE_LAYERS)
    study = st.Study("texture", _base(options), cells,
                     {"styles": [load_image(s, "style image") for s in styles]},
                     {"styles": [str(s) for s in styles]})
    _run(study, img.synthesize_texture, output or Path(f"study_texture_{styles[0].stem}"), force, quiet)


def weights_command(options: ImageOptions, content: Path, styles: list[Path], style_weight: list[str] | None,
                    init: list[str] | None, output: Path | None, force: bool, quiet: bool) -> None:
    """Style transfer with several style weights (columns) from several starting images (rows).

    Example: nst3d study weights examples/landscape.jpg styles/swirls.jpg --size 128 --steps 60
    """
    cells = st.weight_cells(_base(options), style_weight or st.STYLE_WEIGHTS, init or st.INITS)
    images = {"content": load_image(content, "content image"),
              "styles": [load_image(s, "style image") for s in styles]}
    study = st.Study("weights", _base(options), cells, images,
                     {"content": str(content), "styles": [str(s) for s in styles]})
    _run(study, img.transfer, output or Path(f"study_weights_{content.stem}_{styles[0].stem}"), force, quiet)


def register_commands(parent: typer.Typer) -> None:
    """Add `study` with its three subcommands to the app."""
    register(app, "layers", ReconstructOptions, layers_command, [CONTENT, RECONSTRUCT_LAYERS, OUTPUT, FORCE,
             QUIET], skip=(*NO_STYLE, "content_layers", *NO_FRAMES))
    register(app, "texture", TextureOptions, texture_command, [STYLES, TEXTURE_LAYERS, OUTPUT, FORCE, QUIET],
             skip=(*NO_CONTENT, "style_layers", *NO_FRAMES))
    register(app, "weights", ImageOptions, weights_command,
             [CONTENT, STYLES, STYLE_WEIGHTS, INITS, OUTPUT, FORCE, QUIET],
             skip=("style_weight", "init", *NO_FRAMES))
    parent.add_typer(app, name="study")
