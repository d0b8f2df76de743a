"""Kafka's ``ReplaceField$Key``/``ReplaceField$Value``: keep, drop and rename fields."""

from __future__ import annotations

from hub.runtime.transforms import schema as s
from hub.runtime.transforms.base import R, Side, Transform
from hub.runtime.transforms.errors import TransformError
from hub.runtime.transforms.props import Props
from hub.runtime.transforms.struct_side import operand

PURPOSE = "field replacement"


def _renames(props: Props) -> dict[str, str]:
    out: dict[str, str] = {}
    for mapping in props.names("renames"):
        old, sep, new = mapping.partition(":")
        if not sep or not old or not new or ":" in new:
            props.problem("renames", f"invalid rename mapping {mapping!r}; write old:new,...")
        else:
            out[old] = new
    return out


class ReplaceField(Transform):
    """``exclude`` (wins over include), ``include`` (only these), ``renames``
    (``old:new,...``); Kafka's removed names ``blacklist``/``whitelist`` are read too."""

    def __init__(self, props: Props, side: Side) -> None:
        self.side = side
        self.exclude = set(self._list(props, "exclude", "blacklist"))
        self.include = set(self._list(props, "include", "whitelist"))
        self.renames = _renames(props)
        self.replace_null = props.boolean("replace.null.with.default", s.KEEP_NULLS)

    @staticmethod
    def _list(props: Props, key: str, deprecated: str) -> list[str]:
        if props.has(key) and props.has(deprecated):  # (Kafka's reads the new one)
            props.ignored(deprecated, f"the deprecated name of {props.full(key)}, which is set")
            return props.names(key)
        return props.names(key) or props.names(deprecated)

    def keep(self, name: str) -> bool:
        return name not in self.exclude and (not self.include or name in self.include)

    def apply(self, record: R) -> R | None:
        op = operand(self.side, record, PURPOSE)
        if op is None:
            return record
        if op.schema is None:
            data = {self.renames.get(k, k): v for k, v in op.data.items() if self.keep(k)}
            return self.side.put(record, data, None)
        values = s.values(op.data, op.schema, self.replace_null)
        entries, data = [], {}
        for entry in s.fields(op.schema):
            name = str(entry.get("field"))
            if self.keep(name):
                new = self.renames.get(name, name)
                if new in data:  # (Kafka's SchemaBuilder refuses it too: one value was lost)
                    raise TransformError(
                        f"two fields would be named {new!r} (renames onto a field that is "
                        "kept): exclude one or rename it too", topic=record.topic,
                    )  # fmt: skip
                entries.append(s.named(new, entry))
                data[new] = values.get(name)
        return self.side.put(record, data, s.with_fields(op.schema, entries))
