"""Converters between record values and bytes in the log: JSON (with or without an embedded
Connect schema, ``schemas.enable``), string and bytes. Avro with a schema registry plugs in
here later through the same two methods."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson

from hub.errors import ConfigError
from hub.log.codec import json_split, nonfinite


class Converter:
    """Values to bytes and back, one at a time or a batch at a time (the runners use the
    batch methods: one call per poll; a converter may override them to save the per-record
    calls, and must give the same result as the single ones, or raise)."""

    def from_value(self, value: Any, schema: Mapping[str, Any] | None = None) -> bytes | None:
        raise NotImplementedError

    def to_value(self, data: bytes | None) -> tuple[Any, Mapping[str, Any] | None]:
        """The value and its schema (None when the format carries none)."""
        raise NotImplementedError

    def from_values(
        self, values: Sequence[Any], schemas: Sequence[Mapping[str, Any] | None]
    ) -> list[bytes | None]:
        convert = self.from_value
        return [convert(v, s) for v, s in zip(values, schemas, strict=True)]

    def to_values(
        self, datas: Sequence[bytes | None]
    ) -> tuple[list[Any], list[Mapping[str, Any] | None]]:
        """The values and their schemas."""
        pairs = [self.to_value(d) for d in datas]
        return [p[0] for p in pairs], [p[1] for p in pairs]


_NOTHING = object()  # (no schema seen yet)


def unscaled_bytes(unscaled: int) -> bytes:
    """Connect's Decimal value: the unscaled integer, big-endian two's complement, shortest
    (Java's BigInteger.toByteArray: one byte for 0)."""
    n = (unscaled + (unscaled < 0)).bit_length() // 8 + 1
    return unscaled.to_bytes(n, "big", signed=True)


def json_default(o: Any) -> Any:
    """How the JSON converter writes what JSON has no type for (orjson's ``default``):
    bytes as base64, Decimal as its text, dates and times as ISO strings; the C encoders of
    connectors call it too, so their bytes stay equal to the converter's."""
    if isinstance(o, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(o)).decode()
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, datetime | date | time):
        return o.isoformat()
    raise TypeError(f"cannot convert {type(o).__name__} to JSON")


_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1  # what orjson writes and reads back exactly


def _finite(doc: Any) -> Any:
    """``doc`` with each float that is not finite as Kafka's JsonConverter writes it (Jackson
    quotes them: "NaN", "Infinity", "-Infinity"; orjson would write null); ``doc`` itself when
    it holds none. Integers past what JSON readers take exactly are refused (orjson reads one
    past 64 bits back as a float: silently another number). A map with a key that is not a
    string becomes an array of ``[key, value]`` pairs, as Kafka's JsonConverter writes it
    (JSON keys are strings: ``1`` and ``"1"`` would be one key, a value lost)."""
    if isinstance(doc, float):
        if doc - doc == 0.0:  # (finite)
            return doc
        return "NaN" if doc != doc else "Infinity" if doc > 0 else "-Infinity"
    if isinstance(doc, int) and not _INT_MIN <= doc <= _INT_MAX and not isinstance(doc, bool):
        raise ValueError(
            f"the integer {doc} is past 64 bits: JSON readers do not read it back exactly "
            "(send it as a string or a Decimal)"
        )
    if isinstance(doc, Mapping | list | tuple):
        mapping = isinstance(doc, Mapping)
        if isinstance(doc, Mapping) and not all(isinstance(k, str) for k in doc):
            return [[_finite(k), _finite(v)] for k, v in doc.items()]
        out: Any = None  # (a copy, made at the first value that changes)
        pairs: Iterable[tuple[Any, Any]] = (
            doc.items() if isinstance(doc, Mapping) else enumerate(doc)
        )
        for k, v in pairs:
            w = _finite(v)
            if w is not v:
                if out is None:
                    out = dict(doc) if mapping else list(doc)
                out[k] = w
        return doc if out is None else out
    return doc


def dumps(doc: Any, check: bool = True) -> bytes:
    """Compact JSON bytes: orjson, or the json module for what orjson refuses (non-string
    keys). Floats that are not finite are written as strings, as Kafka does; integers past
    64 bits and strings that are not Unicode (lone surrogates) are refused with ValueError:
    written, they would be read back as another value, or not at all."""
    try:
        out = orjson.dumps(doc, default=json_default)
    except (orjson.JSONEncodeError, TypeError):
        pass
    else:  # orjson writes a float that is not finite as null (``check``: there may be one)
        if not (check and nonfinite(doc)):
            return out
        return dumps(_finite(doc), False)
    fixed = _finite(doc)
    try:
        text = json.dumps(
            fixed, default=json_default, separators=(",", ":"), ensure_ascii=False,
            allow_nan=False,
        )  # fmt: skip
        return text.encode()
    except UnicodeEncodeError:
        raise ValueError(
            "a string holds a lone surrogate (not Unicode text): JSON readers refuse it"
        ) from None


class JsonConverter(Converter):
    """Kafka Connect's JsonConverter: with ``schemas.enable`` the bytes are
    ``{"schema": ..., "payload": ...}``."""

    # Debezium envelopes carry the same large schema object on every record of a table: its
    # JSON is encoded once and reused, keyed by the object's identity. Schemas are never
    # modified in place (hub.runtime.transforms.schema); the cache holds a reference to each
    # schema so an id cannot be reused while its entry lives, and is cleared when full (a
    # transform building a new schema per record only costs the bytes' concatenation).
    SCHEMA_CACHE_SIZE = 256

    SEEN_SCHEMAS = 8  # schemas remembered for reading (one per table a sink reads, say)

    def __init__(self, schemas_enable: bool = True) -> None:
        self.schemas_enable = schemas_enable
        self._schemas: dict[int, tuple[Any, bytes, bool]] = {}
        # (prefix, schema, where its Decimals are: `_decimal_paths`)
        self._seen: list[tuple[bytes, Any, tuple[Path, ...]]] = []
        self._misses = 0

    def from_value(self, value: Any, schema: Mapping[str, Any] | None = None) -> bytes | None:
        return self._encode(value, schema, True)

    def _cached(self, schema: Mapping[str, Any] | None) -> tuple[Any, bytes, bool] | None:
        """The schema, its JSON and whether it has maps of non-string keys; None when orjson
        cannot write the schema."""
        cached = self._schemas.get(id(schema))
        if cached is None or cached[0] is not schema:
            try:
                encoded = orjson.dumps(schema, default=json_default)
            except (orjson.JSONEncodeError, TypeError):
                return None
            if len(self._schemas) >= self.SCHEMA_CACHE_SIZE:
                self._schemas.clear()
            cached = self._schemas[id(schema)] = (schema, encoded, _pair_maps(schema))
        return cached

    def _encode(self, value: Any, schema: Mapping[str, Any] | None, check: bool) -> bytes | None:
        """``check``: the value may hold a float that is not finite (`nonfinite`)."""
        if value is None:
            return None
        if not self.schemas_enable:
            return dumps(value, check)
        cached = self._cached(schema)
        if cached is None:
            # the json module's fallback writes the whole document differently (ASCII
            # escapes): keep the exact bytes of the uncached path
            return dumps({"schema": schema, "payload": value})
        if cached[2]:  # (an empty map of non-string keys: [], as Kafka writes it)
            value = _empty_pair_maps(value, schema)
        try:
            payload = orjson.dumps(value, default=json_default)
        except (orjson.JSONEncodeError, TypeError):
            return dumps({"schema": schema, "payload": value})
        if check and nonfinite(value):
            return dumps({"schema": schema, "payload": value})
        return b"".join((b'{"schema":', cached[1], b',"payload":', payload, b"}"))

    def from_values(
        self, values: Sequence[Any], schemas: Sequence[Mapping[str, Any] | None]
    ) -> list[bytes | None]:
        if json_split is not None:
            batch = self._batch(values, schemas)
            if batch is not None:
                return batch
        check = nonfinite(values)  # (one C call for the batch: a record at a time if so)
        if self.schemas_enable:
            one = self._encode
            return [one(v, s, check) for v, s in zip(values, schemas, strict=True)]
        out: list[bytes | None] = []
        append, encode = out.append, orjson.dumps
        for v in values:
            if v is None:
                append(None)
                continue
            try:
                b = encode(v, default=json_default)
            except (orjson.JSONEncodeError, TypeError):
                b = dumps(v)  # (the json module's fallback, as from_value)
            else:
                if check:
                    b = dumps(v)  # (as from_value)
            append(b)
        return out

    def _batch(
        self, values: Sequence[Any], schemas: Sequence[Mapping[str, Any] | None]
    ) -> list[bytes | None] | None:
        """`from_values` with one orjson call for every value, its output split in C: the
        same bytes as one call per value (orjson writes each element of an array as it writes
        it alone), at a fraction of the calls' cost. None when anything needs the record at a
        time path (a value or schema orjson cannot write, a float that is not finite)."""
        assert json_split is not None
        heads: list[bytes | None] = []
        if self.schemas_enable:
            present: list[Any] = []
            last: Any = _NOTHING
            head = b""
            for v, s in zip(values, schemas, strict=True):
                if v is None:
                    heads.append(None)
                    continue
                if s is not last:
                    cached = self._cached(s)
                    if cached is None:
                        return None
                    last, head, pairs = s, b'{"schema":' + cached[1] + b',"payload":', cached[2]
                if pairs:
                    v = _empty_pair_maps(v, s)
                heads.append(head)
                present.append(v)
        else:
            present = [v for v in values if v is not None]
        try:
            data = orjson.dumps(present, default=json_default)
        except (orjson.JSONEncodeError, TypeError):
            return None
        # orjson writes a float that is not finite as null: only a batch with a null is
        # looked at (one C call), and one with such a float takes the record at a time path
        if b"null" in data and nonfinite(present):
            return None
        parts = json_split(data, len(present))
        if parts is None:
            return None
        if not self.schemas_enable:
            if len(present) == len(values):
                return parts  # type: ignore[no-any-return]
            it = iter(parts)
            return [None if v is None else next(it) for v in values]
        it = iter(parts)
        return [None if h is None else b"".join((h, next(it), b"}")) for h in heads]

    def to_values(
        self, datas: Sequence[bytes | None]
    ) -> tuple[list[Any], list[Mapping[str, Any] | None]]:
        decode = orjson.loads
        if not self.schemas_enable:
            return [None if d is None else decode(d) for d in datas], [None] * len(datas)
        values: list[Any] = []
        schemas: list[Mapping[str, Any] | None] = []
        add_value, add_schema = values.append, schemas.append
        prefix, schema, cut = b"", None, 0  # the schema the last record had (as `to_value`)
        exact: tuple[Path, ...] = ()
        for d in datas:
            if d is None:
                add_value(None)
                add_schema(None)
                continue
            if cut and d.startswith(prefix) and d.endswith(b"}"):
                try:
                    payload = decode(d[cut:-1])
                except orjson.JSONDecodeError:
                    pass  # not the plain two-key layout: as to_value reads it
                else:
                    add_value(_exactly(d[cut:-1], payload, exact) if exact else payload)
                    add_schema(schema)
                    continue
            v, sch = self.to_value(d)
            add_value(v)
            add_schema(sch)
            cut = 0
            for seen_prefix, seen_schema, seen_exact in self._seen:  # this record's prefix
                if seen_schema is sch and d.startswith(seen_prefix):
                    prefix, schema, cut = seen_prefix, seen_schema, len(seen_prefix)
                    exact = seen_exact
                    break
        return values, schemas

    def schema_prefix(self, data: bytes) -> tuple[bytes, Mapping[str, Any]] | None:
        """For bytes of the plain layout ``{"schema":S,"payload":P}``: the prefix up to P
        (every record of the schema starts with it) and S parsed (the object `to_value`
        hands out for it); None for other bytes (no schema, another writer's formatting)."""
        if not self.schemas_enable:
            return None
        for _ in range(2):
            for prefix, schema, _ in self._seen:
                if data.startswith(prefix) and data.endswith(b"}"):
                    return prefix, schema
            try:
                self.to_value(data)  # (remembers the schema's prefix when it has one)
            except orjson.JSONDecodeError:
                return None
        return None

    def to_value(self, data: bytes | None) -> tuple[Any, Mapping[str, Any] | None]:
        if data is None:
            return None, None
        if self.schemas_enable:
            # the same schema leads record after record: when the bytes start with one seen
            # recently, parse only the payload and hand back that schema object (which also
            # lets a sink compare schemas by identity)
            for prefix, schema, exact in self._seen:
                if data.startswith(prefix) and data.endswith(b"}"):
                    try:
                        payload = orjson.loads(data[len(prefix) : -1])
                    except orjson.JSONDecodeError:
                        break  # not the plain two-key layout: parse it whole
                    return (_exactly(data[len(prefix) : -1], payload, exact) if exact
                            else payload, schema)  # fmt: skip
        doc = orjson.loads(data)
        if (
            self.schemas_enable and type(doc) is dict and len(doc) == 2
            and "schema" in doc and "payload" in doc and _a_schema(doc["schema"])
        ):  # fmt: skip
            schema = doc["schema"]
            paths = _decimal_paths(schema)
            self._remember(data, schema, paths)
            if paths:
                doc = _exactly(data, doc, tuple(("payload", *p) for p in paths))
            return doc["payload"], schema
        return doc, None

    def _remember(self, data: bytes, schema: Any, paths: tuple[Path, ...]) -> None:
        if schema is None or self._misses > 1000:
            return  # tiny or foreign-formatted schemas: not worth the look-ups
        try:
            prefix = b'{"schema":' + orjson.dumps(schema) + b',"payload":'
        except (orjson.JSONEncodeError, TypeError):
            return
        if not data.startswith(prefix):
            self._misses += 1  # another writer's formatting: the prefix never matches
            return
        self._seen.insert(0, (prefix, schema, paths))
        del self._seen[self.SEEN_SCHEMAS :]


_DECIMAL = "org.apache.kafka.connect.data.Decimal"


def _pair_maps(schema: Any) -> bool:
    """Whether a Connect schema (JSON) has a map whose keys are not strings anywhere: Kafka's
    JsonConverter writes one as an array of [key, value] pairs, an empty one as ``[]``."""
    if type(schema) is not dict:
        return False
    if schema.get("type") == "map":
        keys = schema.get("keys")
        if type(keys) is dict and keys.get("type") != "string":
            return True
    fields = schema.get("fields")
    if type(fields) is list and any(_pair_maps(f) for f in fields):
        return True
    return any(_pair_maps(schema.get(k)) for k in ("items", "keys", "values"))


def _empty_pair_maps(value: Any, schema: Any) -> Any:
    """``value`` with each empty map of a ``_pair_maps`` schema as ``[]`` (a non-empty one
    becomes pairs when written: `dumps`); ``value`` itself when it has none."""
    if type(schema) is not dict or value is None:
        return value
    kind = schema.get("type")
    if kind == "map" and isinstance(value, Mapping):
        keys = schema.get("keys")
        if not value and type(keys) is dict and keys.get("type") != "string":
            return []
        out = {k: _empty_pair_maps(v, schema.get("values")) for k, v in value.items()}
        return value if all(out[k] is value[k] for k in value) else out
    if kind == "array" and isinstance(value, list):
        items = [_empty_pair_maps(v, schema.get("items")) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if kind == "struct" and isinstance(value, Mapping) and type(schema.get("fields")) is list:
        changed = {}
        for f in schema["fields"]:
            name = f.get("field") if type(f) is dict else None
            if isinstance(name, str) and name in value:
                w = _empty_pair_maps(value[name], f)
                if w is not value[name]:
                    changed[name] = w
        return {**value, **changed} if changed else value
    return value


def _holds_decimal(schema: Any) -> bool:
    """Whether a Connect schema (JSON) has a Decimal anywhere."""
    if type(schema) is not dict:
        return False
    if schema.get("name") == _DECIMAL:
        return True
    fields = schema.get("fields")
    if type(fields) is list and any(_holds_decimal(f) for f in fields):
        return True
    return any(_holds_decimal(schema.get(k)) for k in ("items", "keys", "values"))


def _has_float(doc: Any) -> bool:
    if type(doc) is float:
        return True
    if type(doc) is dict:
        return any(_has_float(v) for v in doc.values())
    if type(doc) is list:
        return any(_has_float(v) for v in doc)
    return False


def _exact_number(text: str) -> float | Decimal:
    """A JSON number with a fraction or an exponent: a float when the float's shortest
    form is the same number, else the Decimal (digits past a double's kept)."""
    f = float(text)
    if f - f == 0.0 and Decimal(repr(f)) == Decimal(text):
        return f
    return Decimal(text)


Path = tuple[str | None, ...]


def _decimal_paths(schema: Any, at: Path = ()) -> tuple[Path, ...]:
    """Where a Connect schema (JSON) has its Decimals: for each, the struct field names
    leading to it; a path ending in None: somewhere in the array or map there."""
    if type(schema) is not dict:
        return ()
    if schema.get("name") == _DECIMAL:
        return (at,)
    kind = schema.get("type")
    if kind == "struct" and type(schema.get("fields")) is list:
        return tuple(
            p for f in schema["fields"] if type(f) is dict and isinstance(f.get("field"), str)
            for p in _decimal_paths(f, (*at, f["field"]))
        )  # fmt: skip
    if kind in ("array", "map") and _holds_decimal(schema):
        return ((*at, None),)
    return ()


def _inexact(doc: Any, paths: tuple[Path, ...]) -> bool:
    """Whether a Decimal at one of ``paths`` was read as a float (orjson reads a number
    with a fraction, and an integer past 64 bits, as one)."""
    for path in paths:
        v = doc
        for k in path:
            if k is None:
                if _has_float(v):
                    return True
                break
            if type(v) is not dict:
                break
            v = v.get(k)
        else:
            if type(v) is float:
                return True
    return False


def _exactly(data: bytes, doc: Any, paths: tuple[Path, ...]) -> Any:
    """``doc`` (orjson's reading of ``data``) with the Decimals at ``paths`` read exactly:
    Kafka's JsonConverter reads a Decimal written as a number (``decimal.format=NUMERIC``)
    as a BigDecimal; orjson rounds it to a float (an integer past 64 bits too), and a sink
    stored the rounded digits. Every other value stays as orjson read it; the bytes are
    parsed again only when such a float is there."""
    if not _inexact(doc, paths):
        return doc
    exact = json.loads(data, parse_float=_exact_number)
    for path in paths:
        keys = path[:-1] if path and path[-1] is None else path
        if not keys:
            return exact
        d, e = doc, exact
        for k in keys[:-1]:
            if type(d) is not dict or type(e) is not dict:
                break
            d, e = d.get(k), e.get(k)
        else:
            if type(d) is dict and type(e) is dict and keys[-1] in d:
                d[keys[-1]] = e.get(keys[-1])
    return doc


def _java_double(x: float) -> str:
    """Java's Double.toString: plain between 10^-3 and 10^7, else d.dddE±n (shortest digits)."""
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        return repr(x)  # (Python's shortest repr: the same digits, a '.0' kept)
    sign, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
    text = "".join(map(str, digits))
    mantissa = text[0] + "." + (text[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{exponent + len(text) - 1}"  # type: ignore[operator]


def _java_decimal(value: Any, schema: Mapping[str, Any]) -> str | None:
    """A Connect Decimal (unscaled two's complement bytes, their base64 text, or a Decimal)
    as BigDecimal.toString writes it: the same rule as Python's str of a Decimal."""
    try:
        scale = int((schema.get("parameters") or {}).get("scale", 0))
        if isinstance(value, str):
            value = base64.b64decode(value, validate=True)
        if isinstance(value, bytes | bytearray | memoryview):
            value = Decimal(int.from_bytes(value, "big", signed=True)).scaleb(-scale)
    except (ValueError, TypeError, binascii.Error):
        return None
    return str(value) if isinstance(value, Decimal) else None


def _java_date(value: Any, fmt: str, unit_ms: int) -> str | None:
    """A Connect Date/Time/Timestamp as java.util.Date.toString writes it in UTC (the JVM's
    default zone; Connect images run in UTC): ``Mon Jan 01 00:00:00 UTC 2024``."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        at = datetime(1970, 1, 1) + timedelta(milliseconds=value * unit_ms)
    except OverflowError:
        return None
    return at.strftime(fmt)


_JAVA_DATE = "%a %b %d %H:%M:%S UTC %Y"
_JAVA_LOGICAL: dict[str, Callable[[Any, Mapping[str, Any]], str | None]] = {
    "org.apache.kafka.connect.data.Decimal": _java_decimal,
    "org.apache.kafka.connect.data.Timestamp": lambda v, _: _java_date(v, _JAVA_DATE, 1),
    "org.apache.kafka.connect.data.Date": lambda v, _: _java_date(v, _JAVA_DATE, 86_400_000),
    "org.apache.kafka.connect.data.Time": lambda v, _: _java_date(v, _JAVA_DATE, 1),
}


def java_text(value: Any, schema: Mapping[str, Any] | None = None) -> str:
    """``value`` as Java's toString writes the Connect value Kafka's StringConverter gets:
    ``true``, ``1.0E7``, ``Struct{id=1,name=a}`` (a struct schema's fields in order, nulls
    left out), ``{k=v, k2=v2}`` for a map, ``[a, b]`` for a list."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    logical = schema.get("name") if schema is not None else None
    if logical in _JAVA_LOGICAL and schema is not None:
        text = _JAVA_LOGICAL[logical](value, schema)
        if text is not None:
            return text
    if isinstance(value, Mapping):
        if schema is not None and schema.get("type") == "struct":
            fields = [(str(f.get("field")), f) for f in schema.get("fields") or ()]
            parts = [f"{n}={java_text(value[n], f)}" for n, f in fields if value.get(n) is not None]
            return "Struct{" + ",".join(parts) + "}"
        items = (schema or {}).get("values")
        return (
            "{" + ", ".join(f"{java_text(k)}={java_text(v, items)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list | tuple):
        items = (schema or {}).get("items")
        return "[" + ", ".join(java_text(v, items) for v in value) + "]"
    return str(value)


def _a_schema(schema: Any) -> bool:
    """Whether an envelope's ``schema`` is one (null, or an object with a ``type``): a row of
    two columns named schema and payload, read with schemas.enable, is a row (its text
    column schema had been taken for the schema and the row replaced by its payload)."""
    return schema is None or (type(schema) is dict and isinstance(schema.get("type"), str))


class StringConverter(Converter):
    """Kafka's StringConverter: a string as it is, anything else as Java's toString writes it
    (`java_text`): a key's bytes decide its partition and what compaction keeps."""

    def from_value(self, value: Any, schema: Mapping[str, Any] | None = None) -> bytes | None:
        if value is None:
            return None
        if schema is not None and schema.get("name") in _JAVA_LOGICAL:
            return java_text(value, schema).encode()  # (a Decimal's bytes: its number)
        if isinstance(value, bytes):
            return value
        return (value if isinstance(value, str) else java_text(value, schema)).encode()

    def to_value(self, data: bytes | None) -> tuple[Any, Mapping[str, Any] | None]:
        return (None if data is None else data.decode("utf-8", errors="replace")), None


class ByteArrayConverter(Converter):
    def from_value(self, value: Any, schema: Mapping[str, Any] | None = None) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        raise TypeError(f"ByteArrayConverter needs bytes, got {type(value).__name__}")

    def to_value(self, data: bytes | None) -> tuple[Any, Mapping[str, Any] | None]:
        return data, None


_NAMES = {
    "json": JsonConverter,
    "org.apache.kafka.connect.json.JsonConverter": JsonConverter,
    "string": StringConverter,
    "org.apache.kafka.connect.storage.StringConverter": StringConverter,
    "bytes": ByteArrayConverter,
    "org.apache.kafka.connect.converters.ByteArrayConverter": ByteArrayConverter,
}


def converter_names() -> frozenset[str]:
    """The names ``key.converter``/``value.converter`` take."""
    return frozenset(_NAMES)


def make_converter(name: str, schemas_enable: bool = True) -> Converter:
    cls = _NAMES.get(name)
    if cls is None:
        raise ConfigError(f"unknown converter {name!r}; use one of json, string, bytes")
    return JsonConverter(schemas_enable) if cls is JsonConverter else cls()
