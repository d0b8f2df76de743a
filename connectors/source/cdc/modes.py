"""Debezium's type handling modes as small policy objects, shared by the sources:
``decimal.handling.mode`` (`DecimalMode`), ``binary.handling.mode`` (`BinaryMode`) and
``time.precision.mode`` (`TimePrecision`). Each gives the Connect schema of a column and the
function that turns a value into what the event carries."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

from hub.runtime import unscaled_bytes

DECIMAL = "org.apache.kafka.connect.data.Decimal"
_EXACT = Context(prec=1000)


def _schema(kind: str, optional: bool, name: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "optional": optional}
    if name is not None:
        out["name"] = name
        out["version"] = 1
    out.update(extra)
    return out


@dataclass(frozen=True)
class DecimalMode:
    """``precise``: Connect Decimal (bytes, scale parameter); ``double``; ``string``."""

    name: str

    def schema(self, precision: int | None, scale: int, optional: bool) -> dict[str, Any]:
        if self.name == "double":
            return _schema("double", optional)
        if self.name == "string":
            return _schema("string", optional)
        params = {"scale": str(scale)}
        if precision is not None:
            params["connect.decimal.precision"] = str(precision)
        return _schema("bytes", optional, DECIMAL, parameters=params)

    def converter(self, scale: int) -> Callable[[Decimal], Any]:
        """A finite decimal as the mode carries it (at the column's ``scale`` when precise)."""
        if self.name == "double":
            return float
        if self.name == "string":
            return lambda d: format(d, "f")
        exp = Decimal(1).scaleb(-scale)
        # exactly, whatever the number of digits (the default context keeps 28)
        return lambda d: unscaled_bytes(int(d.quantize(exp, context=_EXACT).scaleb(scale, _EXACT)))

    @property
    def precise(self) -> bool:
        return self.name == "precise"


@dataclass(frozen=True)
class BinaryMode:
    """``bytes`` (Connect bytes), ``base64``, ``base64-url-safe`` or ``hex`` (strings)."""

    name: str

    def schema(self, optional: bool, name: str | None = None, **extra: Any) -> dict[str, Any]:
        return _schema("bytes" if self.name == "bytes" else "string", optional, name, **extra)

    def converter(self) -> Callable[[bytes], Any]:
        if self.name == "base64":
            return lambda b: base64.b64encode(b).decode("ascii")
        if self.name == "base64-url-safe":
            return lambda b: base64.urlsafe_b64encode(b).decode("ascii")
        if self.name == "hex":
            return bytes.hex
        return bytes


@dataclass(frozen=True)
class TimePrecision:
    """``adaptive``: millisecond types up to precision 3, microsecond types above;
    ``adaptive_time_microseconds``: the same, but times of day always in microseconds;
    ``connect``: Kafka Connect's logical types (milliseconds)."""

    name: str

    @property
    def connect(self) -> bool:
        return self.name == "connect"

    def time_micros(self, precision: int) -> bool:
        """A time of day in microseconds (io.debezium.time.MicroTime, int64) rather than
        milliseconds; ``precision`` < 0: unknown (the type's maximum, 6)."""
        if self.name == "connect":
            return False
        if self.name == "adaptive_time_microseconds":
            return True
        return not 0 <= precision <= 3

    def timestamp_millis(self, precision: int) -> bool:
        """A timestamp without zone in milliseconds (io.debezium.time.Timestamp)."""
        return self.name == "connect" or 0 <= precision <= 3

    def date_schema(self, optional: bool) -> dict[str, Any]:
        name = "org.apache.kafka.connect.data.Date" if self.connect else "io.debezium.time.Date"
        return _schema("int32", optional, name)

    def time_schema(self, precision: int, optional: bool) -> dict[str, Any]:
        if self.connect:
            return _schema("int32", optional, "org.apache.kafka.connect.data.Time")
        if self.time_micros(precision):
            return _schema("int64", optional, "io.debezium.time.MicroTime")
        return _schema("int32", optional, "io.debezium.time.Time")

    def timestamp_schema(self, precision: int, optional: bool) -> dict[str, Any]:
        if self.connect:
            return _schema("int64", optional, "org.apache.kafka.connect.data.Timestamp")
        if self.timestamp_millis(precision):
            return _schema("int64", optional, "io.debezium.time.Timestamp")
        return _schema("int64", optional, "io.debezium.time.MicroTimestamp")
