"""The ``hub`` command: topics, produce, consume and consumer groups on a log directory.

Modelled on Kafka's tools (kafka-topics, kafka-console-producer, kafka-console-consumer,
kafka-consumer-groups) and kcat. Commands that only read open the log read-only, so they work
while a worker holds the write lock; commands that write take the lock for their duration and
close the log cleanly at the end.

Errors: a ``HubError`` or a usage error prints one line, ``hub: error: ...``, on stderr and
exits 2 for ``ConfigError`` and usage errors (the user must change something), 1 otherwise.
``--verbose`` adds the traceback. ``hub.log`` is imported lazily so that ``--help`` stays fast.

This module holds the root group, its options, the entry point ``main`` and the registration
of the subcommands, one module each (``topics``, ``clients``: produce and consume,
``groups``, ``demo``); ``_common`` holds what they share. A subcommand's module is imported
when the command is looked up (``_COMMANDS``), so ``hub run`` loads only ``connect``.
"""

from __future__ import annotations

import importlib
import os
import signal
import threading
import traceback
from collections.abc import Sequence
from typing import Any

import click

from hub import __version__
from hub.cli._common import CONTEXT, DATA_DIR_HELP, VERBOSE_HELP, State, silence_stdout
from hub.config import known_secrets, scrub
from hub.errors import ConfigError, HubError

__all__ = ["cli", "main"]

# command name -> module of hub.cli and the command's attribute in it
_COMMANDS = {
    "topics": ("topics", "topics"),
    "produce": ("clients", "produce"),
    "consume": ("clients", "consume"),
    "groups": ("groups", "groups"),
    "demo": ("demo", "demo"),
    "run": ("connect", "run"),
    "serve": ("connect", "serve"),
    "connectors": ("connectors", "connectors"),
    "validate": ("connect", "validate"),
    "plugins": ("connect", "plugins"),
    "verify": ("verify", "verify"),
    "log": ("logcmd", "log_group"),
}


class _LazyGroup(click.Group):
    """A group whose subcommands are imported from ``_COMMANDS`` when first looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, attr = _COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f"hub.cli.{module}"), attr)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


@click.group(cls=_LazyGroup, context_settings=CONTEXT)
@click.option("--data-dir", metavar="PATH", envvar="HUB_DATA_DIR", help=DATA_DIR_HELP)
@click.option("--verbose", "-v", is_flag=True, help=VERBOSE_HELP)
@click.version_option(__version__, "--version", prog_name="hub", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, verbose: bool) -> None:
    """hub: change data capture from databases into warehouses, through an embedded,
    Kafka-like log.

    Connectors (YAML, Debezium/Kafka Connect property names) run in a worker: sources turn
    row changes into events in the log's topics, sinks apply them to their targets. A data
    directory holds topics; a topic has partitions of ordered records (key, value, headers,
    timestamp); consumer groups remember how far they have read.

    \b
    Start here:
      hub demo                                    # PostgreSQL -> DuckDB, live, checked
      hub run configs/postgres-to-duckdb.yaml     # the same against your database
      hub demo log                                # the log alone: 100k records in and out
      hub topics create orders --partitions 4
      printf 'k1:hello\\nk2:world\\n' | hub produce orders --key-separator :
      hub consume orders --from-beginning --print-key --timeout-ms 1000
      hub consume orders --group billing --from-beginning --timeout-ms 1000
      hub groups describe billing

    Commands that only read (topics list/describe, consume without --group, groups
    list/describe) open the directory read-only and work while a worker holds it.
    """
    state = ctx.ensure_object(State)
    if data_dir is not None:
        state.data_dir = data_dir
        # `hub demo log` uses a temporary directory unless --data-dir is on the command line
        source = ctx.get_parameter_source("data_dir")
        state.explicit_data_dir = source == click.core.ParameterSource.COMMANDLINE
    state.verbose = state.verbose or verbose


# -- entry point ---------------------------------------------------------------------------
# click >= 8.2 raises this for a bare group (`hub`, `hub topics`); 8.1 prints help and exits 0
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _report(exc: Exception, verbose: bool) -> int:
    """Print ``exc`` as one ``hub: error: ...`` line (after its traceback with --verbose);
    returns the exit status: 2 when the user must change something, 1 otherwise."""
    traceback_helps = True
    if isinstance(exc, click.UsageError):
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        message, code = exc.format_message() + hint, exc.exit_code
    elif isinstance(exc, click.ClickException):
        message, code, traceback_helps = exc.format_message(), exc.exit_code, False
    elif isinstance(exc, HubError):
        message, code = str(exc), 2 if isinstance(exc, ConfigError) else 1
    elif isinstance(exc, OSError):
        message, code = str(exc), 1
    else:
        message = (  # (hub --verbose: not every subcommand takes it after its name)
            f"unexpected {type(exc).__name__}: {exc} (run 'hub --verbose ...' for the traceback)"
        )
        code = 1
    if verbose and traceback_helps:  # (scrubbed as the message: a driver quotes values)
        click.echo(scrub(traceback.format_exc(), known_secrets()).rstrip("\n"), err=True)
    message = scrub(message, known_secrets())  # (a driver may quote a password's bad part)
    click.echo("hub: error: " + "\n".join(_lines(message)), err=True)
    return code


def _lines(message: str) -> list[str]:
    """A message as its lines: each "- " item of a list of problems on its own (they had been
    run together into one line); any other line joined into the one before it, unless that
    is an item (a second file's header then starts a line of its own)."""
    out: list[str] = []
    fresh = True  # the next line starts a line of its own: the first, or one after a blank
    for raw in message.splitlines():
        line = " ".join(raw.split())
        if not line:  # (between problems: hub run's list of several, each its own line)
            fresh = True
            continue
        if line.startswith("- ") and out:
            out.append("  " + line)
        elif out and not fresh and not out[-1].startswith("  - "):
            out[-1] += " " + line
        else:  # (the first line, one after a list: the next file's own header, or a blank)
            out.append(line)
        fresh = False
    return out or [""]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hub``; returns the exit status (the console script passes it to sys.exit)."""
    # pydantic looks for its plugins (observability hooks) by scanning every installed
    # distribution's entry points when it builds the first model: ~12 ms of each start-up
    # here. hub's config models need none; PYDANTIC_DISABLE_PLUGINS= (empty) turns them on.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    state = State()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # close the log cleanly on `kill`, too
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="hub",
            standalone_mode=False,
            obj=state,
        )
        return result if isinstance(result, int) else 0
    except _NO_ARGS_IS_HELP as exc:
        exc.show()
        return int(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        return 130
    except BrokenPipeError:
        silence_stdout()
        return 0
    except Exception as exc:
        return _report(exc, state.verbose)
