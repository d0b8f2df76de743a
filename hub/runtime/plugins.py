"""Connector plugins, found through the entry-point group ``hub.connectors``.

A config names a connector by its short name (``file``, ``datagen``, ``postgres``), by a
Connect/Debezium class name (``FileStreamSource``,
``io.debezium.connector.postgresql.PostgresConnector``), or by ``module:Class`` for a
connector that is not installed as a plugin. Listing plugins loads only the entry points'
classes; heavy drivers are imported by the tasks, not here.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.config import shown
from hub.errors import ConfigError
from hub.runtime.api import Connector

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "hub.connectors"


@functools.cache
def _entry_points() -> tuple[EntryPoint, ...]:
    """The group's entry points, read once: each read scans every installed distribution
    (~11 ms here), and resolving a config's connectors asked for them once per connector."""
    from importlib.metadata import entry_points  # (its import alone is ~15 ms: when needed)

    return tuple(entry_points(group=GROUP))


@dataclass(frozen=True, slots=True)
class Plugin:
    name: str
    cls: type[Connector]

    @property
    def type(self) -> str:
        return str(getattr(self.cls, "type", "unknown"))

    @property
    def class_name(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"


def discover() -> list[Plugin]:
    plugins = []
    for ep in _entry_points():
        try:
            cls = ep.load()
        except Exception as exc:  # a broken third-party plugin must not break the others
            import logging

            logging.getLogger(__name__).warning("cannot load connector plugin %s: %s", ep.name, exc)
            continue
        plugins.append(Plugin(ep.name, cls))
    return sorted(plugins, key=lambda p: (p.type, p.name))


def _wanted(config: dict[str, Any]) -> str:
    """A sink config names topics; a source config does not."""
    return "sink" if ("topics" in config or "topics.regex" in config) else "source"


def _by_class_name(name: str, config: dict[str, Any] | None) -> type[Connector] | None:
    """The one connector whose entry point's class is called as ``name`` or its last dotted
    part (``FileStreamSink``, ``io.debezium.connector.mysql.MySqlConnector``) and answers to
    ``name`` (`_names`), loading only such plugins; None when not exactly one does (then
    every plugin is looked at)."""
    short = name.rpartition(".")[2]
    found = []
    for ep in _entry_points():
        if ep.value.rpartition(":")[2] not in (name, short):
            continue
        try:
            cls = ep.load()
        except Exception:  # noqa: BLE001 - discover() reports it
            return None
        if isinstance(cls, type) and issubclass(cls, Connector):
            plugin = Plugin(ep.name, cls)
            if name in _names(plugin) and (config is None or plugin.type == _wanted(config)):
                found.append(cls)
    return found[0] if len(found) == 1 else None


# hub's own connectors, as pyproject.toml's entry points name them (a test keeps the two
# equal): one of these names is loaded without reading every installed distribution's
# metadata (importlib.metadata's import and scan, ~25 ms of a start here), and wins over a
# third-party plugin that took the same name
BUILTIN = {
    "file-source": "connectors.source.file:FileStreamSource",
    "file-sink": "connectors.sink.file:FileStreamSink",
    "datagen": "connectors.source.datagen:Datagen",
    "postgres": "connectors.source.postgres:PostgresConnector",
    "mysql": "connectors.source.mysql:MySqlConnector",
    "mariadb": "connectors.source.mysql:MariaDbConnector",
    "duckdb": "connectors.sink.duckdb:DuckDBSink",
    "postgres-sink": "connectors.sink.postgres:PostgresSink",
    "snowflake": "connectors.sink.snowflake:SnowflakeSink",
    "bigquery": "connectors.sink.bigquery:BigQuerySink",
    "redshift": "connectors.sink.redshift:RedshiftSink",
    "jdbc": "connectors.sink.jdbc:JdbcSink",
}


def _builtin(name: str) -> type[Connector] | None:
    value = BUILTIN.get(name)
    if value is None:
        return None
    module, _, attr = value.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except Exception:  # noqa: BLE001 - discover() reports it
        return None
    return cls if isinstance(cls, type) and issubclass(cls, Connector) else None


def _by_entry_name(name: str) -> type[Connector] | None:
    """The connector whose entry point is called ``name`` (``postgres``, ``duckdb``), loading
    no other plugin; None when no entry point has that name or it does not load."""
    if name in BUILTIN:
        return _builtin(name)
    for ep in (ep for ep in _entry_points() if ep.name == name):
        try:
            cls = ep.load()
        except Exception:  # noqa: BLE001 - discover() reports it
            return None
        if isinstance(cls, type) and issubclass(cls, Connector):
            return cls
    return None


def _names(p: Plugin) -> set[str]:
    return {p.name, p.cls.name, *p.cls.aliases, p.class_name, p.cls.__qualname__}


_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def resolve(
    connector_class: str, config: dict[str, Any] | None = None, *, untrusted: bool = False
) -> type[Connector]:
    """The connector class for a config's ``connector.class``. ``untrusted`` (a config from
    the REST API): a ``module:Class`` must be in a module this process has loaded already;
    importing one runs its code, and a REST client could name any installed module."""
    if ":" in connector_class:
        module, _, attr = connector_class.partition(":")
        if not _DOTTED.fullmatch(module) or not attr.isidentifier():
            raise ConfigError(
                f"connector.class={shown(connector_class)}: write a plugin's name, or "
                "module.path:ClassName for a connector class of your own"
            )
        if untrusted and module not in sys.modules:
            raise ConfigError(
                f"connector.class={shown(connector_class)}: over the REST API a module:Class "
                "must be one this worker has loaded; install the connector as a plugin (entry "
                "point group hub.connectors), or name it in a connector file hub serve starts "
                "with"
            )
        try:
            cls = getattr(importlib.import_module(module), attr)
        except Exception as exc:  # (ImportError, AttributeError, or the module's own error)
            raise ConfigError(
                f"connector.class={shown(connector_class)}: cannot import it "
                f"({type(exc).__name__}: {exc})"
            ) from None
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise ConfigError(f"connector.class={shown(connector_class)} is not a hub Connector")
        return cls
    direct = _by_entry_name(connector_class)
    if direct is not None and (config is None or direct.type == _wanted(config)):
        return direct  # a plugin's own name: that one loaded alone (start-up time)
    likely = _by_class_name(connector_class, config)
    if likely is not None:
        return likely  # a Connect/Debezium class name matching a plugin's class: that one
    matches = [p for p in discover() if connector_class in _names(p)]
    if len(matches) > 1 and config is not None:
        # the same short name for a source and a sink (file): a sink config names topics
        matches = [p for p in matches if p.type == _wanted(config)] or matches
    if not matches:
        known = sorted({p.name for p in discover()})
        raise ConfigError(
            f"connector.class={shown(connector_class)}: no such connector; "
            f"installed: {', '.join(known)}"
        )
    return matches[0].cls
