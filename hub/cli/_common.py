"""What the ``hub`` subcommands share: global options, the log at --data-dir, output helpers.

Nothing here imports ``hub.log`` at module level (``open_log`` imports it when called), so
that ``hub --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, overload

import click

from hub.errors import ConfigError

if TYPE_CHECKING:
    from hub.log import Log

DEFAULT_DATA_DIR = "./data"
CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DATA_DIR_HELP = "Log data directory [env HUB_DATA_DIR; default ./data]."
VERBOSE_HELP = "Show tracebacks on errors."

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclasses.dataclass
class State:
    """Options of the ``hub`` group, also settable after the subcommand."""

    data_dir: str = DEFAULT_DATA_DIR
    explicit_data_dir: bool = False
    verbose: bool = False


def current_state() -> State:
    return click.get_current_context().ensure_object(State)


# -- options -------------------------------------------------------------------------------
def _set_data_dir(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        state = ctx.ensure_object(State)
        state.data_dir, state.explicit_data_dir = value, True


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(State).verbose = True


@overload
def common_options(f: Callable[..., Any]) -> Callable[..., Any]: ...
@overload
def common_options(*, data_dir_help: str) -> Decorator: ...
def common_options(
    f: Callable[..., Any] | None = None, *, data_dir_help: str = DATA_DIR_HELP
) -> Callable[..., Any]:
    """``--data-dir`` and ``--verbose`` accepted after the subcommand as well (a command that
    reads the data directory otherwise says so with ``data_dir_help``)."""

    def add(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option(
            "--verbose", "-v", is_flag=True, expose_value=False, callback=_set_verbose,
            help=VERBOSE_HELP,
        )(f)  # fmt: skip
        return click.option(
            "--data-dir", metavar="PATH", expose_value=False, callback=_set_data_dir,
            help=data_dir_help,
        )(f)  # fmt: skip

    return add if f is None else add(f)


def _pairs(
    _ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> list[tuple[str, str]]:
    out = []
    for v in values:
        key, found, value = v.partition("=")
        if not found or not key:
            raise click.BadParameter(f"{v!r} is not KEY=VALUE", param=param)
        out.append((key, value))
    return out


def pairs_option(*decls: str, help: str, required: bool = False) -> Decorator:
    """A repeatable KEY=VALUE option whose value is a list of (key, value) pairs."""
    return click.option(
        *decls, multiple=True, required=required, callback=_pairs, metavar="KEY=VALUE", help=help
    )


def partition_option(help: str) -> Decorator:
    return click.option("--partition", "-p", type=click.IntRange(min=0), metavar="P", help=help)


def format_option(help: str | None = None) -> Decorator:
    return click.option(
        "--format", "fmt", type=click.Choice(["text", "json"]), default="text",
        show_default=True, help=help,
    )  # fmt: skip


# -- the log -------------------------------------------------------------------------------
@contextmanager
def open_log(*, write: bool, must_exist: bool = True) -> Iterator[Log]:
    """The log at --data-dir: read-only (lock-free) or for writing, closed cleanly at the end."""
    path = current_state().data_dir
    if (must_exist or not write) and not os.path.isdir(path):
        raise ConfigError(
            f"data directory {path} does not exist; pass --data-dir PATH or set HUB_DATA_DIR "
            "('hub topics create' makes a new one)"
        )
    from hub.log import Log

    log = Log(path, read_only=not write, background=False)
    try:
        yield log
    finally:
        log.close()


# -- output --------------------------------------------------------------------------------
def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(headers), *([("-" if c is None else str(c)) for c in r] for r in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def size(n: int | None) -> str:
    """Bytes for people; "-" when not known (a Kafka partition's)."""
    if n is None:
        return "-"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def print_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False))


def silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the exit-time flush does not complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
