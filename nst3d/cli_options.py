"""Command-line plumbing the commands share: flags made from the options dataclasses, and the flags
that only the CLI has (outputs, --quiet). Imports no command module; `cli.py` registers the commands.

A command is a handler `handler(options, **inputs)` plus the inputs' typer parameters; every field of
its options class becomes a `--flag` whose default and help text are the field's, so the CLI and the
Python API cannot drift apart.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import typer

Handler = Callable[..., None]


@dataclass(frozen=True)
class Input:
    """A command parameter that is not an option field: an argument, an output path, a switch."""

    name: str
    annotation: Any
    info: Any                           # typer.Argument(...) or typer.Option(...)


def _flag(spec: Any, hints: dict[str, Any]) -> inspect.Parameter:
    """The typer option of one options field: its flags, default, help text and parsed type."""
    meta = spec.metadata
    decls = meta.get("flags") or (f"--{spec.name.replace('_', '-')}",)
    annotation = meta.get("cli_type") or hints[spec.name]
    if meta.get("cli_type") is not None and spec.default is None:
        annotation = annotation | None
    info = typer.Option(spec.default, *decls, help=meta.get("help"))
    return inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def option_fields(kind: type, skip: Sequence[str] = ()) -> list[str]:
    """Names of the fields of `kind` that a command shows as flags."""
    return [f.name for f in fields(kind) if f.name not in skip]


def typed_options(ctx: typer.Context, options: Any, skip: Sequence[str] = ()) -> dict[str, Any]:
    """The options fields whose flags were typed on the command line (not left at their default)."""
    names = option_fields(type(options), skip)
    typed = [n for n in names if (source := ctx.get_parameter_source(n)) is not None
             and source.name not in ("DEFAULT", "DEFAULT_MAP")]
    return {name: getattr(options, name) for name in typed}


def register(app: typer.Typer, name: str, kind: type, handler: Handler, inputs: Sequence[Input],
             skip: Sequence[str] = ()) -> None:
    """Add command `name`: `inputs` first, then one flag per field of `kind` (except `skip`).

    The command builds `kind(**flags)` (which checks every value) and calls handler(options, **inputs);
    its help is the handler's docstring.
    """
    hints = typing.get_type_hints(kind)
    shown = option_fields(kind, skip)
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter(i.name, keyword, default=i.info, annotation=i.annotation) for i in inputs]
    params += [_flag(spec, hints) for spec in fields(kind) if spec.name in shown]

    def command(**values: Any) -> None:
        options = kind(**{k: values.pop(k) for k in shown})
        handler(options, **values)

    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = handler.__doc__
    app.command(name)(command)


def output_option(help: str) -> Any:
    """-o/--output with a command's own help text."""
    return Input("output", Path | None, typer.Option(None, "--output", "-o", help=help))


QUIET = Input("quiet", bool, typer.Option(False, "--quiet", "-q", help="No progress bar."))
