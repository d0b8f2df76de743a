"""YAML configs: connector files and the worker file, with secrets resolved and masked.

A connector file holds one connector (``name`` + ``config``) or several under ``connectors:``.
Properties are Kafka Connect's and Debezium's names, written flat (``database.hostname: db``)
or nested (``database: {hostname: db}``); both become the same flat mapping. Values may refer
to secrets: ``${env:NAME}`` and ``${file:/path/to/file.properties:key}`` (or
``${file:/path}`` for a whole file), resolved when the config is loaded; their values are
treated as secrets. ``${env:NAME:-default}`` is configuration, not a secret: the file shows
its default.

Secrets never leave this module unmasked in anything meant for people: ``mask()`` replaces
the value of every secret property, and of every property that used a reference, with
``********``.
"""

from __future__ import annotations

import difflib
import os
import re
import urllib.parse
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.errors import ConfigError

MASK = "********"
_REF = re.compile(r"\$\{(env|file):([^}]*)\}")
_PROVIDERS = ("env", "file")
# a reference to a config provider hub does not have (Connect's ${provider:[path:]key}); the
# placeholders of sink and router formats (${topic}, ${source.table}) have no ":"
_ANY_REF = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_.-]*):[^}]*\}")
_SECRET_NAME = re.compile(
    r"(password|passwd|secret|token|credentials|private\.key|api\.key)$|^sasl\.jaas", re.I
)


@dataclass
class ConnectorSpec:
    """One connector as written by the user: its name, flat config, and where it came from."""

    name: str
    config: dict[str, Any]
    source: str  # file path, or "REST"
    secret_keys: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for k, v in self.config.items():
            remember_secrets([v] if k in self.secret_keys or is_secret(k) else url_passwords(v))

    def masked(self) -> dict[str, Any]:
        return mask(self.config, self.secret_keys)


# every secret this process has read (the connectors' secret values, the passwords of URLs):
# what the CLI masks in any error it prints, whichever code path raised it (a driver quoting
# the bad part of a URL in hub verify or hub demo)
_SECRETS: set[str] = set()


def remember_secrets(values: Iterable[Any]) -> None:
    if len(_SECRETS) < 10_000:  # (a long-running worker validating configs sent to it)
        _SECRETS.update(v for v in values if isinstance(v, str) and len(v) >= 3)


def known_secrets() -> frozenset[str]:
    return frozenset(_SECRETS)


def url_passwords(v: Any) -> list[str]:
    """The password of a URL (``postgresql://u:pw@h/db``) or conninfo (``password=pw``), as
    written and decoded; [] for anything else."""
    if not isinstance(v, str) or not ("@" in v or "password=" in v.lower()):
        return []
    whole = {v, urllib.parse.unquote(v)}
    return [p for p in secret_fragments(v) if p not in whole]


# broader: any name with a part that may hold a secret. Used for properties the connector does
# not define (a misspelt ``database.pasword`` must not be shown in the clear either)
_SECRETISH = re.compile(r"pas|pwd|word|secret|token|credential|key|auth|cert|jaas|sign", re.I)


SHOWN_MAX = 200  # longest value an error message quotes


def shown(value: Any) -> str:
    """``repr(value)`` for a message, cut to ``SHOWN_MAX`` characters: a 50 MB value sent by
    mistake must not come back in the reply."""
    text = repr(value)
    if len(text) <= SHOWN_MAX:
        return text
    return f"{text[:SHOWN_MAX]}... ({len(text)} characters)"


def is_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def looks_secret(name: str) -> bool:
    """True for any name that may hold a secret: ``password``, ``pasword``, ``api_key``,
    ``token``, ``credentials``... Applied to properties a connector does not define, whose
    meaning is unknown (a known property is secret when :func:`is_secret` says so or the
    connector declares it)."""
    return bool(_SECRETISH.search(name))


# a ``password=`` parameter (conninfo, a JDBC URL's query): the name, then the value
_PASSWORD_PARAM = re.compile(r"(password=)('(?:[^'\\]|\\.)*'|[^\s&;]+)", re.I)


def secret_fragments(value: str) -> list[str]:
    """What of a secret value may show in a message: the value, and for a URL or conninfo its
    password as written and decoded (a driver quotes the bad part of a URL, not all of it:
    ``invalid percent-encoded token: "Pa%zzw0rd"``), longest first."""
    out = {value}
    for begin, end in _password_spans(value):
        password = value[begin:end]
        # (its pieces too: one holding "/" or "@" unencoded is read by a driver as host,
        # port or database, which it then quotes)
        out.update([password, *re.split(r"[/@?]", password)])
    for m in _PASSWORD_PARAM.finditer(value):
        out.add(m.group(2).strip("'"))
    more = {urllib.parse.unquote(part) for part in out}
    return sorted((p for p in out | more if len(p) >= 3), key=len, reverse=True)


WORD_SECRET_MAX = 7  # a secret this short is masked only where it is not part of a word


def scrub(text: str, values: Iterable[Any]) -> str:
    """``text`` with every `secret_fragments` of ``values`` (the secret ones) masked. A
    fragment of at most `WORD_SECRET_MAX` characters is masked where no letter, digit, ``_``,
    ``-`` or ``/`` touches it: a password ``hub`` masked "github" as "git********", and the
    S3 prefix "hub-staging" as "********-staging"."""
    for v in values:
        if isinstance(v, str) and v:
            for part in secret_fragments(v):
                if len(part) > WORD_SECRET_MAX:
                    text = text.replace(part, MASK)
                elif part in text:
                    text = re.sub(rf"(?<![\w/-]){re.escape(part)}(?![\w/-])", MASK, text)
    return text


def mask(
    config: Mapping[str, Any], extra_secrets: set[str] | frozenset[str] = frozenset()
) -> dict[str, Any]:
    return {
        k: (MASK if (k in extra_secrets or is_secret(k)) and v not in (None, "")
            else _url_masked(v))
        for k, v in config.items()
    }  # fmt: skip


def _password_spans(value: str) -> list[tuple[int, int]]:
    """Where the passwords of the URLs in ``value`` (``scheme://user:password@host...``;
    several: a list, a URL in another's query) are. An authority ends at the first "/", as
    a URL's does, unless that leaves no "@": then at the last "@" before any space (a
    password holding "/" or "?" unencoded: ``postgresql://u:pa/ss@h/db``; rather a path's
    "@" taken for one than a password shown)."""
    if "@" not in value:
        return []
    marks = [m.start() for m in re.finditer("://", value)]
    out = []
    for i, mark in enumerate(marks):
        start = mark + 3
        region = value[start : marks[i + 1] if i + 1 < len(marks) else len(value)]
        netloc = region.split("/", 1)[0]
        if "@" not in netloc:
            netloc = re.split(r"\s", region, maxsplit=1)[0]
        userinfo, at, _ = netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        if not at or not colon or not password or user.startswith("["):
            continue  # (no password; or an IPv6 host's colons)
        begin = start + len(user) + 1
        out.append((begin, begin + len(password)))
    return out


def _url_masked(v: Any) -> Any:
    """A value holding URLs with passwords (``postgresql://u:pw@h/db``) or ``password=``
    parameters (conninfo, a JDBC URL's query): the passwords masked, whatever the property's
    name."""
    if not isinstance(v, str):
        return v
    for begin, end in reversed(_password_spans(v)):
        v = v[:begin] + MASK + v[end:]
    return _PASSWORD_PARAM.sub(lambda m: m.group(1) + MASK, v)


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"database": {"hostname": "db"}}`` -> ``{"database.hostname": "db"}``."""
    out: dict[str, Any] = {}
    for k, v in value.items():
        key = f"{prefix}{k}"
        for name, item in (flatten(v, key + ".") if isinstance(v, Mapping) else {key: v}).items():
            if name in out:  # (database: {hostname: a} and database.hostname: b)
                raise ConfigError(f"property {name} is given twice (nested and flat): keep one")
            out[name] = item
    return out


def _file_ref_path(spec: str) -> str:
    path, sep, key = spec.rpartition(":")
    return spec if not sep or "/" in key else path


def _read_file_ref(spec: str, where: str) -> str:
    """``/path/file.properties:key`` (Kafka's FileConfigProvider) or ``/path/file``."""
    path, sep, key = spec.rpartition(":")
    if not sep or "/" in key:
        path, key = spec, ""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ${{file:{path}}}: {exc.strerror}") from None
    if not key:
        return text.strip()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        m = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)$", line)
        if m and m.group(1) == key:
            return m.group(2)
    raise ConfigError(f"{where}: key {key!r} not found in {path}")


@dataclass
class RestReferences:
    """What a config sent over the REST API may read through ``${env:..}`` and ``${file:..}``
    (Kafka Connect's EnvVarConfigProvider ``allowlist.pattern``, KIP-887, and
    FileConfigProvider ``allowed.paths``, KIP-993): by default nothing. Its values reach the
    connector, and from there records, topic names or a server the client names, so a REST
    client could read the worker's environment and files. A worker config sets them
    (`allow_rest_references`); files on the command line are the operator's own and read
    anything."""

    env: re.Pattern[str] | None = None
    paths: tuple[str, ...] = ()  # directories, real paths

    def allows_env(self, name: str) -> bool:
        return self.env is not None and self.env.fullmatch(name) is not None

    def allows_file(self, path: str) -> bool:
        real = os.path.realpath(path)
        return any(real == d or real.startswith(d.rstrip("/") + "/") for d in self.paths)


REST_REFERENCES = RestReferences()
ENV_ALLOWLIST = "config.providers.env.param.allowlist.pattern"
FILE_ALLOWED_PATHS = "config.providers.file.param.allowed.paths"


def allow_rest_references(env_pattern: str | None, paths: Sequence[str]) -> None:
    """Let REST configs read the environment variables ``env_pattern`` matches (whole names)
    and the files under ``paths`` (directories)."""
    REST_REFERENCES.env = re.compile(env_pattern) if env_pattern else None
    REST_REFERENCES.paths = tuple(os.path.realpath(p) for p in paths)


def _refused_reference(where: str, key: str, ref: str, setting: str) -> ConfigError:
    return ConfigError(
        f"{where}: property {key} refers to {ref}, which a config sent over the REST API may "
        f"not read: the worker config's {setting} must allow it (hub serve --worker-config; "
        "a REST client could otherwise read the worker's environment and files), or give the "
        "connector in a file on hub serve's command line"
    )


def resolve(
    config: Mapping[str, Any], where: str, strict: bool = False
) -> tuple[dict[str, Any], set[str]]:
    """Replace ``${env:..}``/``${file:..}`` references; returns the config and the names of
    properties that used one (treated as secrets). A value written ``${env:NAME:-default}``
    is configuration, unless ``strict`` (a config sent over REST) and NAME is set: a REST
    client must not read the worker's environment through ``${env:AWS_SECRET:-x}``; and a
    ``strict`` config reads only what `REST_REFERENCES` allows."""
    out: dict[str, Any] = {}
    secret: set[str] = set()
    problems: list[str] = []  # (every property's: the first had hidden the others)
    for k, v in config.items():
        if isinstance(v, str) and "${" in v:
            try:
                v = _resolved(k, v, where, strict, secret)
            except ConfigError as exc:
                problems.append(str(exc))
        out[k] = v
    if problems:  # (a blank line between them: a line each, hub.cli._lines)
        raise ConfigError("\n\n".join(problems))
    return out, secret


def _resolved(k: str, v: str, where: str, strict: bool, secret: set[str]) -> str:
    """One property's value with its references replaced (``secret`` gets its name when one
    was read from the environment or a file)."""
    outside: list[bool] = []  # per reference: read from the environment or a file

    def sub(m: re.Match[str], k: str = k, outside: list[bool] = outside) -> str:
        kind, arg = m.group(1), m.group(2)
        if kind == "env":
            arg, has_default, default = arg.partition(":-")
            if strict and not REST_REFERENCES.allows_env(arg):
                raise _refused_reference(where, k, f"${{env:{arg}}}", ENV_ALLOWLIST)
            if arg not in os.environ and has_default:
                outside.append(False)
                return default
            if has_default and not strict:  # (the file's own: configuration)
                outside.append(False)
                return os.environ[arg]
            if arg not in os.environ:
                raise ConfigError(
                    f"{where}: property {k} refers to ${{env:{arg}}}, "
                    f"but the environment variable {arg} is not set"
                )
            outside.append(True)
            return os.environ[arg]
        outside.append(True)
        if strict and not REST_REFERENCES.allows_file(_file_ref_path(arg)):
            path = _file_ref_path(arg)
            raise _refused_reference(where, k, f"${{file:{path}}}", FILE_ALLOWED_PATHS)
        return _read_file_ref(arg, f"{where}: property {k}")

    unknown = _ANY_REF.search(_REF.sub("", v))
    if unknown is not None:
        name = unknown.group(1)
        close = difflib.get_close_matches(name.lower(), _PROVIDERS, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            f"{where}: property {k}: ${{{name}:...}} names no config provider hub has"
            f"{hint}: hub reads ${{env:NAME}} (${{env:NAME:-default}}) and "
            "${file:PATH} (${file:PATH:key} of a properties file); Kafka's other "
            "providers (directory, vault...) are not read"
        )
    resolved = _REF.sub(sub, v)
    # a value read from a file or the environment is treated as a secret, but for
    # ${env:NAME:-default} in a file (see the docstring); secret-like names are
    # masked whatever their source
    if any(outside):
        secret.add(k)
    return resolved


_ENTRY_KEYS = ("name", "config")


def _known_keys(doc: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
    """A key nobody reads is a mistake (``wrker:`` beside ``connectors:``, ``confg:``)."""
    unknown = [str(k) for k in doc if k not in known]
    if unknown:
        listed = ", ".join(repr(k) for k in unknown)
        raise ConfigError(
            f"{what}{'s' if len(unknown) > 1 else ''} {listed}; the known keys are "
            f"{', '.join(known)} (connector properties belong under 'config')"
        )


class DuplicateKeyError(Exception):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(f"{key!r} is given twice (again on line {line}): keep one")


def load_yaml(stream: Any) -> Any:
    """YAML as ``yaml.safe_load`` reads it, but a key given twice in one mapping raises
    `DuplicateKeyError` (PyYAML keeps the last silently: two ``table.include.list`` lines,
    and the first one is gone)."""
    import yaml

    class Strict(yaml.SafeLoader):  # type: ignore[misc]
        pass

    def mapping(loader: Strict, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # (PyYAML refuses it itself)
            if key in seen:
                raise DuplicateKeyError(key, key_node.start_mark.line + 1)
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(stream, Loader=Strict)  # noqa: S506 - a SafeLoader


def load_connector_file(path: str) -> list[ConnectorSpec]:
    """Read one YAML file of connectors. Raises ConfigError naming the file."""
    specs = []
    for name, flat in read_connector_entries(path):
        resolved, secrets = resolve(flat, f"{path}, connector {name!r}")
        specs.append(ConnectorSpec(name, resolved, path, secrets))
    return specs


def read_connector_entries(path: str) -> list[tuple[str, dict[str, Any]]]:
    """The connectors of one YAML file as written: (name, flat config), references such as
    ``${env:...}`` not resolved (what ``hub connectors create`` sends, for the worker to
    resolve). Raises ConfigError naming the file."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            doc = load_yaml(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except DuplicateKeyError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} of the file): save it as UTF-8"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a directory, not a connector file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if isinstance(doc, Mapping) and "connectors" in doc:
        _known_keys(doc, ("connectors",), f"{path}: unknown top-level key")
        items = doc["connectors"]
        if not isinstance(items, list):
            raise ConfigError(f"{path}: 'connectors' must be a list of {{name, config}} entries")
        if not items:  # (validate said nothing, and run ran nothing until killed)
            raise ConfigError(f"{path}: 'connectors' is empty: list at least one connector")
    elif isinstance(doc, Mapping):
        items = [doc]
    else:
        raise ConfigError(
            f"{path}: expected a connector (name: ..., config: {{...}}) "
            "or a list of them under 'connectors:'"
        )
    entries = []
    for i, item in enumerate(items):
        where = f"{path}, connector #{i + 1}"
        if not isinstance(item, Mapping) or "name" not in item or "config" not in item:
            raise ConfigError(f"{where}: each connector needs 'name' and 'config' keys")
        name = str(item["name"])
        _known_keys(item, _ENTRY_KEYS, f"{path}, connector {name!r}: unknown key")
        if not isinstance(item["config"], Mapping):
            raise ConfigError(
                f"{path}, connector {name!r}: 'config' must be a mapping of properties"
            )
        try:
            entries.append((name, flatten(item["config"])))
        except ConfigError as exc:
            raise ConfigError(f"{path}, connector {name!r}: {exc}") from None
    names = [n for n, _ in entries]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(
            f"{path}: connector names must be unique; repeated: {', '.join(sorted(dup))}"
        )
    return entries
