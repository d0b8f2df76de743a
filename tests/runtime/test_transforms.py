"""Single message transforms and predicates: Kafka Connect / Debezium semantics and configs."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from hub.errors import ConfigError, FatalError
from hub.runtime.api import HUB_VERSION_MARK, UNAVAILABLE_HEADER, SinkRecord, SourceRecord
from hub.runtime.transforms import (
    PREDICATES,
    TRANSFORMS,
    TransformChain,
    TransformConfigError,
    TransformError,
    build_chain,
)
from hub.runtime.transforms.date_format import compile_date_format
from hub.runtime.transforms.java_regex import compile_java, parse_replacement

# -- helpers ----------------------------------------------------------------------------------


def one(type_: str, **props: Any) -> TransformChain:
    """A chain of one transform aliased ``t``; property names use ``_`` for ``.``."""
    config: dict[str, Any] = {"transforms": "t", "transforms.t.type": type_}
    config.update({f"transforms.t.{k.replace('_', '.')}": v for k, v in props.items()})
    return build_chain(config)


def chain(**config: Any) -> TransformChain:
    return build_chain({k.replace("_", "."): v for k, v in config.items()})


def sink(value: Any, topic: str = "t", **kw: Any) -> SinkRecord:
    kw.setdefault("key", None)
    return SinkRecord(
        topic, kw.pop("partition", 3), kw.pop("offset", 42), kw.pop("ts", 1000), value=value, **kw
    )


def problems(config: dict[str, Any]) -> list[str]:
    with pytest.raises(TransformConfigError) as info:
        build_chain(config)
    assert isinstance(info.value, ConfigError)
    assert str(info.value).startswith("invalid transforms config:\n  - ")
    return info.value.problems


def applied(c: TransformChain, record: Any) -> Any:
    out = c.apply(record)
    assert out is not None
    assert type(out) is type(record)
    return out


# -- Debezium change events -------------------------------------------------------------------

ROW = {
    "type": "struct",
    "optional": True,
    "name": "db.public.orders.Value",
    "fields": [
        {"field": "id", "type": "int32", "optional": False},
        {"field": "name", "type": "string", "optional": True},
    ],
}
SOURCE = {
    "type": "struct",
    "optional": False,
    "name": "io.debezium.connector.postgresql.Source",
    "fields": [
        {"field": "connector", "type": "string", "optional": False},
        {"field": "ts_ms", "type": "int64", "optional": False},
        {"field": "db", "type": "string", "optional": False},
        {"field": "schema", "type": "string", "optional": False},
        {"field": "table", "type": "string", "optional": False},
        {"field": "lsn", "type": "int64", "optional": True},
        {"field": "snapshot", "type": "string", "optional": True, "default": "false"},
    ],
}
TRANSACTION = {
    "type": "struct",
    "optional": True,
    "name": "event.block",
    "fields": [
        {"field": "id", "type": "string", "optional": False},
        {"field": "total_order", "type": "int64", "optional": False},
        {"field": "data_collection_order", "type": "int64", "optional": False},
    ],
}
ENVELOPE = {
    "type": "struct",
    "optional": False,
    "name": "db.public.orders.Envelope",
    "version": 1,
    "fields": [
        {"field": "before", **ROW},
        {"field": "after", **ROW},
        {"field": "source", **SOURCE},
        {"field": "op", "type": "string", "optional": False},
        {"field": "ts_ms", "type": "int64", "optional": True},
        {"field": "transaction", **TRANSACTION},
    ],
}
SRC = {
    "connector": "postgresql",
    "ts_ms": 1700000000000,
    "db": "db",
    "schema": "public",
    "table": "orders",
    "lsn": 123456,
    "snapshot": "false",
}


def event(op: str, before: Any = None, after: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "before": before,
        "after": after,
        "source": SRC,
        "op": op,
        "ts_ms": 1700000000500,
        "transaction": None,
        **extra,
    }


def change(op: str, before: Any = None, after: Any = None, schema: bool = True) -> SourceRecord:
    return SourceRecord(
        "db.public.orders",
        event(op, before, after),
        key={"id": 1},
        value_schema=ENVELOPE if schema else None,
    )


A = {"id": 1, "name": "a"}
B = {"id": 1, "name": "b"}


def row_schema(*extra: dict[str, Any]) -> dict[str, Any]:
    return {**ROW, "fields": [*ROW["fields"], *extra]}


# -- the chain --------------------------------------------------------------------------------


def test_no_transforms_is_an_empty_chain() -> None:
    c = build_chain({"connector.class": "datagen", "topic": "t"})
    assert not c
    assert len(c) == 0
    assert c.properties() == set()
    r = sink({"a": 1})
    assert c.apply(r) is r
    assert not build_chain({"transforms": ""})
    assert build_chain({"transforms": ""}).properties() == {"transforms"}


BRIEF_CONFIG = {
    "connector.class": "postgres",
    "transforms": "unwrap,route",
    "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
    "transforms.unwrap.drop.tombstones": False,
    "transforms.unwrap.delete.handling.mode": "rewrite",
    "transforms.unwrap.add.fields": "op,source.ts_ms",
    "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
    "transforms.route.regex": r"(.*)\.public\.(.*)",
    "transforms.route.replacement": "$1.$2",
    "transforms.route.predicate": "isOrders",
    "transforms.route.negate": False,
    "predicates": "isOrders",
    "predicates.isOrders.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
    "predicates.isOrders.pattern": ".*orders",
}


def test_a_debezium_config_as_written_for_connect() -> None:
    c = build_chain(BRIEF_CONFIG)
    assert bool(c) and len(c) == 2
    assert [s.alias for s in c.stages] == ["unwrap", "route"]
    assert c.properties() == set(BRIEF_CONFIG) - {"connector.class"}
    out = applied(c, change("c", after=A))
    assert out.topic == "db.orders"
    assert out.value == {**A, "__deleted": "false", "__op": "c", "__source_ts_ms": SRC["ts_ms"]}
    # the fields in Debezium 2.5+'s order (a review's: 2.4's put __deleted last): the row's,
    # __deleted, then add.fields'
    assert list(out.value) == [*A, "__deleted", "__op", "__source_ts_ms"]
    assert [f["field"] for f in out.value_schema["fields"]][-3:] == [  # type: ignore[index]
        "__deleted",
        "__op",
        "__source_ts_ms",
    ]
    other = applied(c, SourceRecord("db.public.items", event("u", A, B)))
    assert other.topic == "db.public.items"  # the predicate does not hold
    deleted = applied(c, change("d", before=A))
    assert deleted.value == {**A, "__deleted": "true", "__op": "d", "__source_ts_ms": SRC["ts_ms"]}
    tombstone = applied(c, SourceRecord("db.public.orders", None, key={"id": 1}))
    assert tombstone.value is None and tombstone.topic == "db.orders"


def test_unwrap_refuses_to_add_a_field_over_a_column_of_the_row() -> None:
    """The row's own value would be lost and the schema hold the name twice (Debezium's
    schema builder refuses the duplicate)."""
    unwrap = "io.debezium.transforms.ExtractNewRecordState"
    c = one(unwrap, add_fields="op")
    with pytest.raises(TransformError, match="__op, a column the row has already"):
        c.apply(change("c", after={**A, "__op": "mine"}, schema=False))
    assert applied(c, change("c", after=A, schema=False)).value == {**A, "__op": "c"}
    rewrite = one(unwrap, delete_handling_mode="rewrite")
    with pytest.raises(TransformError, match="a column named __deleted"):
        rewrite.apply(change("u", before=A, after={**B, "__deleted": "no"}, schema=False))


def test_aliases_as_a_yaml_list_and_strings_for_booleans() -> None:
    c = build_chain(
        {
            "transforms": ["drop", "route"],
            "transforms.drop.type": "Filter",
            "transforms.drop.predicate": "tomb",
            "transforms.drop.negate": "TRUE",
            "transforms.route.type": "RegexRouter",
            "transforms.route.regex": "x",
            "transforms.route.replacement": "y",
            "predicates": ["tomb"],
            "predicates.tomb.type": "RecordIsTombstone",
        }
    )
    assert c.apply(sink({"a": 1}, "x")) is None  # not a tombstone: negated predicate holds
    assert applied(c, sink(None, "x")).topic == "y"


@pytest.mark.parametrize(
    ("regex", "replacement", "topic", "kafkas"),
    [  # (Kafka's RegexRouter on each, run on OpenJDK 17: matches(), then replaceFirst())
        (r"(.*?)(_v\d+)?", "$1", "orders_v2", "orders_v2"),
        (r"(.+?)(-\d+)?", "$1", "topic-12", "topic-12"),
        (r"dbserver1\.inventory\.(.+?)", "$1_v2", "dbserver1.inventory.customers", "c_v2ustomers"),
        (r"(.*?)\.(.*?)", "$2_x", "db.public.orders", "_xpublic.orders"),
        ("a|ab", "X", "ab", "Xb"),
        (r"(.*)\.(.*)", "$2", "db.public.orders", "orders"),
        (r"soe-(.*)", "$1", "soe-Order", "Order"),
    ],
)
def test_regex_router_names_topics_as_kafkas_replace_first(
    regex: str, replacement: str, topic: str, kafkas: str
) -> None:
    props = {"type": "RegexRouter", "regex": regex, "replacement": replacement}
    c = build_chain({"transforms": "r", **{f"transforms.r.{k}": v for k, v in props.items()}})
    assert applied(c, sink({"a": 1}, topic)).topic == kafkas


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_every_transform_name_builds(name: str) -> None:
    needs = {
        "RegexRouter": {"regex": "a", "replacement": "b"},
        "InsertField": {"static.field": "f", "static.value": "v"},
        "MaskField": {"fields": "f"},
        "ValueToKey": {"fields": "f"},
    }
    props = next((p for k, p in needs.items() if k in name), {})
    config = {"transforms": "t", "transforms.t.type": name}
    config.update({f"transforms.t.{k}": v for k, v in props.items()})
    c = build_chain(config)
    assert c.stages[0].type_name == TRANSFORMS[name].type_name
    assert name.endswith(c.stages[0].type_name) or name == "unwrap"


@pytest.mark.parametrize("name", sorted(PREDICATES))
def test_every_predicate_name_builds(name: str) -> None:
    props = {"TopicNameMatches": {"pattern": "a"}, "HasHeaderKey": {"name": "h"}}
    config: dict[str, Any] = {
        "transforms": "f",
        "transforms.f.type": "Filter",
        "transforms.f.predicate": "p",
        "predicates": "p",
        "predicates.p.type": name,
    }
    extra = next((p for k, p in props.items() if name.endswith(k)), {})
    config.update({f"predicates.p.{k}": v for k, v in extra.items()})
    assert build_chain(config).stages[0].predicate is not None


def test_chain_applies_in_order_and_stops_at_a_drop() -> None:
    route_then_insert = chain(
        transforms="route,insert",
        transforms_route_type="RegexRouter",
        transforms_route_regex="(.*)-raw",
        transforms_route_replacement="$1",
        transforms_insert_type="InsertField$Value",
        transforms_insert_topic_field="topic",
    )
    insert_then_route = chain(
        transforms="insert,route",
        transforms_route_type="RegexRouter",
        transforms_route_regex="(.*)-raw",
        transforms_route_replacement="$1",
        transforms_insert_type="InsertField$Value",
        transforms_insert_topic_field="topic",
    )
    r = sink({"a": 1}, "orders-raw")
    assert applied(route_then_insert, r).value == {"a": 1, "topic": "orders"}
    assert applied(insert_then_route, r).value == {"a": 1, "topic": "orders-raw"}
    dropping = chain(
        transforms="drop,insert",
        transforms_drop_type="Filter",
        transforms_insert_type="InsertField$Value",
        transforms_insert_topic_field="topic",
    )
    assert dropping.apply(r) is None


def test_aliases_must_be_a_list() -> None:
    assert problems({"transforms": {"a": {"type": "Filter"}}}) == [
        "transforms = {'a': {'type': 'Filter'}}: expected a comma-separated list of aliases"
    ]


def test_repr_names_aliases_and_types() -> None:
    c = chain(transforms="f", transforms_f_type="org.apache.kafka.connect.transforms.Filter")
    assert repr(c) == "TransformChain(f=Filter)"


def test_a_record_error_names_the_transform_and_topic() -> None:
    c = chain(
        transforms="stamp",
        transforms_stamp_type="TimestampRouter",
    )
    with pytest.raises(TransformError) as info:
        c.apply(SourceRecord("orders", {"a": 1}))
    assert isinstance(info.value, FatalError)
    assert info.value.alias == "stamp" and info.value.topic == "orders"
    assert str(info.value) == (
        "transform 'stamp' on a record of topic 'orders': "
        "TimestampRouter: timestamp missing on record"
    )
    # a year past 9999 (Java prints it; Python's dates end there): an error naming it, not an
    # OverflowError out of the chain
    with pytest.raises(TransformError, match="timestamp 253402300800000 ms is outside"):
        c.apply(SourceRecord("orders", {"a": 1}, timestamp=253402300800000))


# -- bad configs ------------------------------------------------------------------------------

BAD: list[tuple[dict[str, Any], list[str]]] = [
    (
        {"transforms": "a", "transforms.a.type": "Nope"},
        ["transforms.a.type = 'Nope': unknown transform type; hub has ExtractNewRecordState, "],
    ),
    (
        {"transforms": "a", "transforms.a.type": "RegexRoutr"},
        ["transforms.a.type = 'RegexRoutr': unknown transform type (did you mean RegexRouter?)"],
    ),
    (
        {"transforms": "a", "transforms.a.type": "org.apache.kafka.connect.transforms.Cast$Value"},
        ["a transform hub does not implement yet"],
    ),
    (
        {"transforms": "a", "transforms.a.type": "io.debezium.transforms.Filter"},
        ["'io.debezium.transforms.Filter': a transform hub does not implement yet"],
    ),
    (
        {"transforms": "a", "transforms.a.type": "InsertField", "transforms.a.topic.field": "t"},
        ["transforms.a.type = 'InsertField': name the side: InsertField$Key or InsertField$Value"],
    ),
    (
        {"transforms": "a"},
        ["transforms.a.type: required, not set (the class of this transform; its alias is listed)"],
    ),
    (
        {"transforms": "a,b,a", "transforms.a.type": "Filter", "transforms.b.type": "Filter"},
        ["transforms = 'a,b,a': duplicate alias 'a'"],
    ),
    (
        {"transforms": "a", "transforms.a.type": "Filter", "transforms.b.type": "Filter"},
        [
            "transforms.b.type = 'Filter': no alias of transforms matches (transforms lists a); "
            "add the alias to transforms or remove this property"
        ],
    ),
    (
        {"predicates.p.type": "RecordIsTombstone"},
        ["predicates.p.type = 'RecordIsTombstone': no alias of predicates matches"],
    ),
    (
        {"transforms": "r", "transforms.r.type": "RegexRouter"},
        [
            "transforms.r.regex: required, not set (the pattern topic names must match)",
            "transforms.r.replacement: required, not set (the new topic name, e.g. $1)",
        ],
    ),
    (
        {
            "transforms": "r",
            "transforms.r.type": "RegexRouter",
            "transforms.r.regex": "(a",
            "transforms.r.replacement": "$1",
        },
        ["transforms.r.regex = '(a': not a valid regular expression: missing ), unterminated"],
    ),
    (
        {
            "transforms": "r",
            "transforms.r.type": "RegexRouter",
            "transforms.r.regex": "(a)",
            "transforms.r.replacement": "$2",
        },
        ["transforms.r.replacement = '$2': no group 2: regex has 1 group(s)"],
    ),
    (
        {
            "transforms": "r",
            "transforms.r.type": "RegexRouter",
            "transforms.r.regex": "a",
            "transforms.r.replacement": "b",
            "transforms.r.regexp": "c",
        },
        [
            "transforms.r.regexp: unknown property of RegexRouter "
            "(it has: negate, predicate, regex, replacement, type)"
        ],
    ),
    (
        {"transforms": "f", "transforms.f.type": "Filter", "transforms.f.predicate": "p"},
        ["transforms.f.predicate = 'p': no such predicate alias (predicates lists nothing)"],
    ),
    (
        {"transforms": "f", "transforms.f.type": "Filter", "transforms.f.negate": True},
        ["transforms.f.negate = True: there is no transforms.f.predicate to negate"],
    ),
    (
        {
            "transforms": "f",
            "transforms.f.type": "Filter",
            "transforms.f.predicate": "p",
            "transforms.f.negate": "maybe",
            "predicates": "p",
            "predicates.p.type": "RecordIsTombstone",
        },
        ["transforms.f.negate = 'maybe': expected true or false"],
    ),
    (
        {"predicates": "p"},
        ["predicates.p.type: required, not set (the class of this predicate; its alias is listed)"],
    ),
    (
        {"predicates": "p", "predicates.p.type": "TopicNameMatches"},
        ["predicates.p.pattern: required, not set (a regular expression for topic names)"],
    ),
    (
        {"predicates": "p", "predicates.p.type": "TopicNameMatches", "predicates.p.pattern": "["},
        ["predicates.p.pattern = '[': not a valid regular expression"],
    ),
    (
        {"predicates": "p", "predicates.p.type": "HasHeaderKey", "predicates.p.name": ""},
        ["predicates.p.name = '': must not be empty"],
    ),
    (
        {"predicates": "p", "predicates.p.type": "RecordIsTombstone", "predicates.p.x": 1},
        ["predicates.p.x: unknown property of RecordIsTombstone (it has: type)"],
    ),
    (
        {"predicates": "p", "predicates.p.type": "IsTombstone"},
        [
            "predicates.p.type = 'IsTombstone': unknown predicate type "
            "(did you mean RecordIsTombstone?); hub has HasHeaderKey, RecordIsTombstone, "
            "TopicNameMatches"
        ],
    ),
    (
        {"transforms": "i", "transforms.i.type": "InsertField$Value"},
        [
            "transforms.i.*: nothing to insert; set at least one of transforms.i.topic.field, "
            "transforms.i.partition.field, transforms.i.offset.field, "
            "transforms.i.timestamp.field, transforms.i.static.field"
        ],
    ),
    (
        {
            "transforms": "i",
            "transforms.i.type": "InsertField$Value",
            "transforms.i.static.field": "s",
        },
        [
            "transforms.i.static.value: required, not set "
            "(the value of the field static.field names)"
        ],
    ),
    (
        {
            "transforms": "i",
            "transforms.i.type": "InsertField$Key",
            "transforms.i.topic.field": ["a"],
        },
        ["transforms.i.topic.field = ['a']: expected a single value, not a list or mapping"],
    ),
    (
        {
            "transforms": "i",
            "transforms.i.type": "InsertField$Value",
            "transforms.i.topic.field": "!",
        },
        ["transforms.i.topic.field = '!': needs a field name before '!' or '?'"],
    ),
    (
        {"transforms": "m", "transforms.m.type": "MaskField$Value"},
        ["transforms.m.fields: required, not set (the names of the fields to mask)"],
    ),
    (
        {
            "transforms": "m",
            "transforms.m.type": "MaskField$Value",
            "transforms.m.fields": " , ",
            "transforms.m.replacement": "",
        },
        [
            "transforms.m.fields = ' , ': must not be empty (the names of the fields to mask)",
            "transforms.m.replacement = '': must not be empty",
        ],
    ),
    (
        {"transforms": "k", "transforms.k.type": "ValueToKey"},
        ["transforms.k.fields: required, not set (the value fields that form the key)"],
    ),
    (
        {
            "transforms": "r",
            "transforms.r.type": "ReplaceField$Value",
            "transforms.r.renames": "a:b,c",
        },
        ["transforms.r.renames = 'a:b,c': invalid rename mapping 'c'; write old:new,..."],
    ),
    (
        {
            "transforms": "s",
            "transforms.s.type": "TimestampRouter",
            "transforms.s.timestamp.format": "YYYY",
        },
        ["transforms.s.timestamp.format = 'YYYY': pattern letter 'Y' depends on the locale"],
    ),
    (
        {
            "transforms": "s",
            "transforms.s.type": "TimestampRouter",
            "transforms.s.timestamp.format": "yyyyMMddTHH",
        },
        ["illegal pattern character 'T' (quote literal text: 'T')"],
    ),
    (
        {
            "transforms": "s",
            "transforms.s.type": "TimestampRouter",
            "transforms.s.timestamp.format": "'x",
        },
        ['transforms.s.timestamp.format = "\'x": unterminated quote'],
    ),
    (
        {
            "transforms": "u",
            "transforms.u.type": "unwrap",
            "transforms.u.delete.handling.mode": "keep",
        },
        ["transforms.u.delete.handling.mode = 'keep': must be one of drop, rewrite, none"],
    ),
    (
        {"transforms": "u", "transforms.u.type": "unwrap", "transforms.u.drop.tombstones": "no"},
        ["transforms.u.drop.tombstones = 'no': expected true or false"],
    ),
    (
        {
            "transforms": "u",
            "transforms.u.type": "unwrap",
            "transforms.u.delete.tombstone.handling.mode": "keep",
        },
        [
            "transforms.u.delete.tombstone.handling.mode = 'keep': must be one of drop, "
            "tombstone, rewrite, rewrite-with-tombstone, delete-to-tombstone"
        ],
    ),
    (
        {
            "transforms": "u",
            "transforms.u.type": "unwrap",
            "transforms.u.add.fields": "op,a.b.c,x:",
        },
        [
            "transforms.u.add.fields = 'op,a.b.c,x:': 'a.b.c' is not [struct.]field[:new_name]",
            "transforms.u.add.fields = 'op,a.b.c,x:': 'x:' is not [struct.]field[:new_name]",
        ],
    ),
    (
        {
            "transforms": "u",
            "transforms.u.type": "unwrap",
            "transforms.u.drop.fields.header.name": "h",
        },
        [
            "transforms.u.drop.fields.header.name = 'h': a Debezium property hub does not "
            "support yet; remove it"
        ],
    ),
    (
        {"transforms": "u", "transforms.u.type": "unwrap", "transforms.u.add.field": "op"},
        ["transforms.u.add.field: unknown property of ExtractNewRecordState (it has: "],
    ),
    # (two inserted fields of one name: one value was lost, the schema had the field twice)
    (
        {
            "transforms": "i",
            "transforms.i.type": "InsertField$Value",
            "transforms.i.topic.field": "meta",
            "transforms.i.static.field": "meta!",
            "transforms.i.static.value": "v",
        },
        ["transforms.i.static.field = 'meta!': names field 'meta', which another property"],
    ),
    (
        {
            "transforms": "u",
            "transforms.u.type": "unwrap",
            "transforms.u.add.fields": "source.ts_ms,ts_ms:source_ts_ms",
            "transforms.u.add.headers": "op,op",
        },
        [
            "transforms.u.add.fields = 'source.ts_ms,ts_ms:source_ts_ms': names __source_ts_ms "
            "more than once",
            "transforms.u.add.headers = 'op,op': names __op more than once",
        ],
    ),
]


@pytest.mark.parametrize(("config", "expected"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_configs(config: dict[str, Any], expected: list[str]) -> None:
    found = problems(config)
    for fragment in expected:
        assert any(fragment in p for p in found), (fragment, found)


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        {
            "transforms": "a,b,c",
            "transforms.a.type": "Nope",
            "transforms.c.type": "RegexRouter",
            "transforms.c.regex": "(",
            "transforms.c.replacement": "$1",
            "transforms.c.predicate": "missing",
            "transforms.d.type": "Filter",
            "predicates": "p",
            "predicates.p.type": "TopicNameMatches",
        }
    )
    assert len(found) == 6, found
    for name in (
        "transforms.a.type",
        "transforms.b.type",
        "transforms.c.regex",
        "transforms.c.predicate",
        "transforms.d.type",
        "predicates.p.pattern",
    ):
        assert any(p.startswith(name) for p in found), (name, found)


def test_values_of_unknown_properties_are_never_shown() -> None:
    found = problems(
        {"transforms": "a", "transforms.a.type": "Filter", "transforms.a.pasword": "s3cr3t"}
    )
    assert found == [
        "transforms.a.pasword: unknown property of Filter (it has: negate, predicate, type)"
    ]


# -- predicates -------------------------------------------------------------------------------


def filtered(pred_type: str, negate: bool = False, **props: Any) -> TransformChain:
    config: dict[str, Any] = {
        "transforms": "f",
        "transforms.f.type": "Filter",
        "transforms.f.predicate": "p",
        "transforms.f.negate": negate,
        "predicates": "p",
        "predicates.p.type": pred_type,
    }
    config.update({f"predicates.p.{k}": v for k, v in props.items()})
    return build_chain(config)


def test_topic_name_matches_the_whole_name() -> None:
    c = filtered("TopicNameMatches", pattern=".*orders")
    assert c.apply(sink({}, "db.public.orders")) is None
    assert c.apply(sink({}, "db.public.orders_archive")) is not None
    negated = filtered("TopicNameMatches", negate=True, pattern=".*orders")
    assert negated.apply(sink({}, "db.public.orders")) is not None
    assert negated.apply(sink({}, "db.public.items")) is None


def test_record_is_tombstone() -> None:
    c = filtered("RecordIsTombstone")
    assert c.apply(sink(None)) is None
    assert c.apply(sink({"a": 1})) is not None
    assert c.apply(SourceRecord("t", None)) is None


def test_has_header_key() -> None:
    c = filtered("org.apache.kafka.connect.transforms.predicates.HasHeaderKey", name="trace")
    assert c.apply(sink({}, headers=(("trace", b"1"),))) is None
    assert c.apply(sink({}, headers=(("trace", None), ("x", b"")))) is None
    assert c.apply(sink({}, headers=(("other", b"1"),))) is not None
    assert c.apply(sink({})) is not None


# -- Java regular expressions and replacements ------------------------------------------------


def test_java_named_groups_quoting_and_back_references() -> None:
    regex = compile_java(r"(?<db>\w+)\.\Q$(weird)\E\.(\k<db>)")
    m = regex.fullmatch("a.$(weird).a")
    assert m is not None and m.group("db") == "a"
    assert regex.fullmatch("a.$(weird).b") is None
    assert compile_java(r"a\z").search("a") is not None
    assert compile_java(r"(?<=x)y(?<!z)").search("xy") is not None  # lookbehinds stay
    with pytest.raises(ValueError, match="Java construct"):
        compile_java("[a-z&&[^e]]")
    # a union: Java reads [a-z0-9], re a class [a-z[0-9] then a literal ]
    with pytest.raises(ValueError, match="nested character class"):
        compile_java("audit_[a-z[0-9]]+")
    assert compile_java(r"[\[a]+").fullmatch("[a[") is not None  # an escaped [ is one


@pytest.mark.parametrize(
    ("regex", "replacement", "topic", "expected"),
    [
        (r"(.*)\.public\.(.*)", "$1.$2", "db.public.orders", "db.orders"),
        (r"(.*)\.public\.(.*)", "$2", "db.public.orders", "orders"),
        (r"(?<db>[^.]+)\.(?<t>.*)", "${t}_${db}", "db.orders", "orders_db"),
        (r"(a)(b)?", "$1$2$10", "a", "aa0"),  # $10 is $1 then 0 when there are < 10 groups
        (r"(.*)", r"\$$1\\", "x", "$x\\"),
        (r"(.*)", "fixed", "x", "fixed"),
        (r"(.*)\.public\.(.*)", "$1.$2", "public.orders", "public.orders"),  # no match
        (r"orders", "o", "all_orders", "all_orders"),  # must match the whole name
    ],
)
def test_regex_router(regex: str, replacement: str, topic: str, expected: str) -> None:
    c = one("RegexRouter", regex=regex, replacement=replacement)
    assert applied(c, sink({"a": 1}, topic)).topic == expected
    assert applied(c, SourceRecord(topic, None)).topic == expected


def test_group_numbers_take_as_many_digits_as_name_a_group() -> None:
    regex = compile_java("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)")
    m = regex.fullmatch("abcdefghijk")
    assert m is not None
    assert parse_replacement("$11-$111-$1a", regex).expand(m) == "k-k1-aa"


@pytest.mark.parametrize(
    ("replacement", "error"),
    [
        ("$", "'$' at the end"),
        ("$x", "'$' must be followed by a group number or {name}"),
        ("${nope}", "no group named 'nope'"),
        ("${1}", "${ must hold a group name"),
        ("a\\", "ends with a backslash"),
        ("$3", "no group 3: regex has 2 group(s)"),
    ],
)
def test_bad_replacements(replacement: str, error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        parse_replacement(replacement, compile_java(r"(?<a>x)(y)"))


# -- TimestampRouter --------------------------------------------------------------------------

TS = 1700000000123  # 2023-11-14T22:13:20.123Z


def test_timestamp_router_defaults() -> None:
    c = one("org.apache.kafka.connect.transforms.TimestampRouter")
    assert applied(c, sink({}, "orders", ts=TS)).topic == "orders-20231114"
    assert applied(c, SourceRecord("orders", {}, timestamp=0)).topic == "orders-19700101"


def test_timestamp_router_formats() -> None:
    c = one(
        "TimestampRouter",
        topic_format="archive_${timestamp}_${topic}",
        timestamp_format="yy-MM-dd'T'HH:mm:ss.SSS",
    )
    assert applied(c, sink({}, "orders", ts=TS)).topic == "archive_23-11-14T22:13:20.123_orders"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyyMMdd", "20231114"),
        ("yyyy-MM-dd HH:mm:ss.SSS", "2023-11-14 22:13:20.123"),
        ("yy.M.d", "23.11.14"),
        ("EEE, d MMM yyyy hh a", "Tue, 14 Nov 2023 10 PM"),
        ("EEEE MMMM", "Tuesday November"),
        ("D u k K Z X z G", "318 2 22 10 +0000 Z UTC AD"),
        ("'week'' 'yyyy", "week' 2023"),
        ("''", "'"),
    ],
)
def test_simple_date_format(pattern: str, expected: str) -> None:
    assert compile_date_format(pattern)(TS) == expected


def test_simple_date_format_before_the_epoch() -> None:
    assert compile_date_format("yyyy-MM-dd HH:mm:ss.SSS")(-1) == "1969-12-31 23:59:59.999"


# -- InsertField ------------------------------------------------------------------------------

VALUE_SCHEMA = {
    "type": "struct",
    "optional": False,
    "name": "orders.Value",
    "fields": [
        {"field": "id", "type": "int32", "optional": False},
        {"field": "status", "type": "string", "optional": True, "default": "new"},
    ],
}


def test_insert_field_schemaless_sink_record() -> None:
    c = one(
        "org.apache.kafka.connect.transforms.InsertField$Value",
        topic_field="t",
        partition_field="p",
        offset_field="o!",
        timestamp_field="ts?",
        static_field="s",
        static_value="v",
    )
    out = applied(c, sink({"id": 1}, "orders", partition=2, offset=7, ts=TS))
    assert out.value == {"id": 1, "t": "orders", "p": 2, "o": 7, "ts": TS, "s": "v"}
    assert out.value_schema is None


def test_insert_field_with_a_struct_schema() -> None:
    c = one("InsertField$Value", topic_field="t!", offset_field="o", timestamp_field="ts")
    out = applied(c, sink({"id": 1, "status": None}, "orders", value_schema=VALUE_SCHEMA, ts=TS))
    # a null with a default stays null (hub's converter keeps it too; Kafka's writes both as
    # the default)
    assert out.value == {"id": 1, "status": None, "t": "orders", "o": 42, "ts": TS}
    assert out.value_schema == {
        **VALUE_SCHEMA,
        "fields": [
            *VALUE_SCHEMA["fields"],
            {"field": "t", "type": "string", "optional": False},
            {"field": "o", "type": "int64", "optional": True},
            {
                "field": "ts",
                "type": "int64",
                "optional": True,
                "name": "org.apache.kafka.connect.data.Timestamp",
                "version": 1,
            },
        ],
    }
    as_kafka = one("InsertField$Value", topic_field="t", replace_null_with_default=True)
    out = applied(as_kafka, sink({"id": 1, "status": None}, value_schema=VALUE_SCHEMA))
    assert out.value["status"] == "new"


def test_insert_field_source_records() -> None:
    c = one("InsertField$Value", partition_field="p", timestamp_field="ts", topic_field="t")
    out = applied(c, SourceRecord("orders", {"id": 1}))  # no partition, no timestamp yet
    assert out.value == {"id": 1, "t": "orders"}
    with_schema = applied(c, SourceRecord("orders", {"id": 1}, value_schema=VALUE_SCHEMA))
    assert with_schema.value == {"id": 1, "p": None, "ts": None, "t": "orders"}
    # a missing field with a default gets the default with replace.null.with.default=true
    as_kafka = one("InsertField$Value", topic_field="t", replace_null_with_default=True)
    with_default = applied(as_kafka, SourceRecord("orders", {"id": 1}, value_schema=VALUE_SCHEMA))
    assert with_default.value == {"id": 1, "status": "new", "t": "orders"}
    offset = one("InsertField$Value", offset_field="o")
    with pytest.raises(TransformError, match="offset.field is only available on sink records"):
        offset.apply(SourceRecord("orders", {"id": 1}))


def test_yaml_scalars_read_as_java_would() -> None:
    c = one("InsertField$Value", static_field="flag", static_value=True)
    assert applied(c, sink({})).value == {"flag": "true"}
    c = one("InsertField$Value", static_field="n", static_value=5)
    assert applied(c, sink({})).value == {"n": "5"}


def test_insert_field_key_tombstones_and_errors() -> None:
    c = one("InsertField$Key", static_field="region", static_value="eu")
    out = applied(c, sink({"v": 1}, key={"id": 1}))
    assert out.key == {"id": 1, "region": "eu"} and out.value == {"v": 1}
    assert applied(c, sink({"v": 1})).key is None  # no key: unchanged
    value = one("InsertField$Value", static_field="region", static_value="eu")
    tombstone = sink(None, key={"id": 1})
    assert value.apply(tombstone) is tombstone
    with pytest.raises(TransformError, match="only dict .* values are supported .* found str"):
        value.apply(sink("text"))
    with pytest.raises(TransformError, match="needs a struct value schema, found type 'string'"):
        value.apply(sink({"a": 1}, value_schema={"type": "string", "optional": False}))
    with pytest.raises(TransformError, match=r"cannot insert field\(s\) \['id'\]"):
        one("InsertField$Value", topic_field="id").apply(sink({"id": 1}, value_schema=VALUE_SCHEMA))
    overwrite = one("InsertField$Value", topic_field="id")
    assert applied(overwrite, sink({"id": 1}, "t")).value == {"id": "t"}  # schemaless: replaced


# -- ReplaceField -----------------------------------------------------------------------------


def test_replace_field_schemaless() -> None:
    row = {"id": 1, "name": "a", "secret": "x", "extra": 2}
    assert applied(one("ReplaceField$Value", exclude="secret"), sink(row)).value == {
        "id": 1,
        "name": "a",
        "extra": 2,
    }
    assert applied(
        one("ReplaceField$Value", include="id,secret", exclude="secret"), sink(row)
    ).value == {"id": 1}
    renamed = one("ReplaceField$Value", include=["id", "name"], renames="name:full_name,id:pk")
    assert applied(renamed, sink(row)).value == {"pk": 1, "full_name": "a"}
    legacy = one("ReplaceField$Value", blacklist="secret,extra", whitelist="id,name,secret")
    assert applied(legacy, sink(row)).value == {"id": 1, "name": "a"}


def test_replace_field_with_schema_and_key() -> None:
    c = one(
        "org.apache.kafka.connect.transforms.ReplaceField$Key", exclude="status", renames="id:pk"
    )
    out = applied(c, sink({"v": 1}, key={"id": 1, "status": "x"}, key_schema=VALUE_SCHEMA))
    assert out.key == {"pk": 1}
    assert out.key_schema == {
        **VALUE_SCHEMA,
        "fields": [{"field": "pk", "type": "int32", "optional": False}],
    }
    assert out.value == {"v": 1}
    renamed = one("ReplaceField$Value", renames="status:state")
    out = applied(renamed, sink({"id": 1, "status": None}, value_schema=VALUE_SCHEMA))
    assert out.value == {"id": 1, "state": None}
    with_default = one("ReplaceField$Value", renames="status:state", replace_null_with_default=True)
    assert applied(with_default, sink({"id": 1, "status": None}, value_schema=VALUE_SCHEMA)
                   ).value == {"id": 1, "state": "new"}  # fmt: skip
    assert [f["field"] for f in out.value_schema["fields"]] == ["id", "state"]
    assert out.value_schema["fields"][1]["default"] == "new"


def test_replace_field_tombstone_passes() -> None:
    r = sink(None, key={"id": 1})
    assert one("ReplaceField$Value", exclude="a").apply(r) is r


# -- MaskField --------------------------------------------------------------------------------


def test_mask_field_type_appropriate_empty_values() -> None:
    from datetime import UTC, date, datetime
    from decimal import Decimal

    row = {
        "i": 5,
        "f": 2.5,
        "s": "x",
        "b": True,
        "d": Decimal("9.99"),
        "l": [1],
        "m": {"a": 1},
        "n": None,
        "dt": datetime(2024, 5, 1, tzinfo=UTC),
        "day": date(2024, 5, 1),
        "raw": b"\x00",
        "keep": 7,
    }
    c = one("MaskField$Value", fields="i,f,s,b,d,l,m,n,dt,day,raw,absent")
    out = applied(c, sink(row))
    assert out.value == {
        "i": 0,
        "f": 0.0,
        "s": "",
        "b": False,
        "d": Decimal(0),
        "l": [],
        "m": {},
        "n": None,
        "dt": datetime(1970, 1, 1, tzinfo=UTC),
        "day": date(1970, 1, 1),
        "raw": b"",
        "keep": 7,
        "absent": None,  # (put, as Kafka's puts every field it is given)
    }
    assert row["i"] == 5  # the input is not modified


def test_mask_field_times_and_unmaskable_values() -> None:
    from datetime import time

    c = one("MaskField$Value", fields="t,o")
    assert applied(c, sink({"t": time(12, 30)})).value == {"t": time(0), "o": None}
    with pytest.raises(TransformError, match="cannot mask a value of type set"):
        c.apply(sink({"o": {1}}))


def test_mask_field_replacement() -> None:
    from decimal import Decimal

    c = one("MaskField$Value", fields="s,i,f,d", replacement="42")
    out = applied(c, sink({"s": "secret", "i": 1, "f": 1.5, "d": Decimal(1), "x": 1}))
    assert out.value == {"s": "42", "i": 42, "f": 42.0, "d": Decimal(42), "x": 1}
    stars = one("MaskField$Value", fields="s,i", replacement="***")
    with pytest.raises(TransformError, match="cannot convert replacement '\\*\\*\\*' to a number"):
        stars.apply(sink({"s": "secret", "i": 1}))
    with pytest.raises(TransformError, match="cannot mask a value of type bool with a replacement"):
        one("MaskField$Value", fields="b", replacement="1").apply(sink({"b": True}))


def test_mask_field_follows_the_field_schema() -> None:
    # a Decimal is bytes from a source and base64 text after the JSON converter: masked by its
    # Python type, the replacement 12.50 was written as base64 text and read as -26587.00
    from decimal import Decimal

    from connectors.sink.engine.types import columns_of, decimal_value
    from hub.runtime.converters import JsonConverter

    dec = {"type": "bytes", "optional": False, "name": "org.apache.kafka.connect.data.Decimal",
           "version": 1,
           "parameters": {"scale": "2", "connect.decimal.precision": "10"}}  # fmt: skip
    schema = {"type": "struct", "optional": False, "fields": [
        {**dec, "field": "price"}, {"field": "n", "type": "int16", "optional": True},
        {"field": "blob", "type": "bytes", "optional": True}]}  # fmt: skip
    conv = JsonConverter()
    value, vs = conv.to_value(
        conv.from_value({"price": b"\x04\xd2", "n": 1, "blob": b"\x01"}, schema)
    )
    assert isinstance(value["price"], str)  # base64, as the sink sees it

    def price(out: Any) -> Decimal:
        col = {c.name: c for c in columns_of(out.value_schema)}["price"]
        return decimal_value(col.type, col.convert(out.value["price"]))  # type: ignore[no-any-return]

    cases = (
        ("12.50", "12.50", b"\x04\xe2"),
        ("-7.5", "-7.50", b"\xfd\x12"),
        ("1e3", "1000.00", b"\x01\x86\xa0"),
        ("-128", "-128.00", b"\xce\x00"),
        ("1.27", "1.27", b"\x7f"),
    )  # (the unscaled value in two's complement, as short as Java's BigInteger.toByteArray)
    for replacement, want, raw in cases:
        mask = one("MaskField$Value", fields="price", replacement=replacement)
        assert price(applied(mask, sink(value, value_schema=vs))) == Decimal(want), replacement
        src = applied(mask, SourceRecord("t", {"price": b"\x04\xd2"}, value_schema=schema))
        assert src.value["price"] == raw, replacement
    zero = applied(one("MaskField$Value", fields="price"), sink(value, value_schema=vs))
    assert price(zero) == 0 and zero.value["price"] == "AA=="  # BigDecimal.ZERO: one byte
    src = applied(
        one("MaskField$Value", fields="price"),
        SourceRecord("t", {"price": b"\x04"}, value_schema=schema),
    )
    assert src.value["price"] == b"\x00"
    for fields, replacement, says in (
        ("price", "12.555", "more than the field's 2 fraction digits"),
        ("price", "xxxx", "cannot convert replacement 'xxxx'"),
        ("price", "1_0", "cannot convert replacement '1_0'"),
        ("blob", "x", "cannot mask a bytes field with a replacement"),
        ("n", "40000", "does not fit a 16-bit integer field"),
        ("n", "1_000", "cannot convert replacement '1_000'"),
        ("n", " 7", "cannot convert replacement ' 7'"),
    ):
        with pytest.raises(TransformError, match=says):
            one("MaskField$Value", fields=fields, replacement=replacement).apply(
                sink(value, value_schema=vs)
            )
    assert (
        applied(
            one("MaskField$Value", fields="n", replacement="-32768"), sink(value, value_schema=vs)
        ).value["n"]
        == -32768
    )
    # (a review's: Kafka takes a number with a fraction or an exponent for an integer field,
    # cut to an integer, as BigDecimal.longValue does; hub failed every record)
    for replacement, want in (("0.00", 0), ("1.9", 1), ("-1.9", -1), ("1e3", 1000)):
        mask = one("MaskField$Value", fields="n", replacement=replacement)
        assert applied(mask, sink(value, value_schema=vs)).value["n"] == want, replacement
        assert applied(one("MaskField$Value", fields="i", replacement=replacement),
                       sink({"i": 5})).value["i"] == want  # fmt: skip
    with pytest.raises(TransformError, match="does not fit a 64-bit"):  # schemaless: int64
        one("MaskField$Value", fields="i", replacement=str(2**63)).apply(sink({"i": 1}))


def test_mask_field_without_a_schema_puts_every_field_it_is_given() -> None:
    # (a review's: Kafka's puts each listed field, null where the record lacks it)
    out = applied(one("MaskField$Value", fields="ssn,name"), sink({"name": "bob", "id": 1}))
    assert out.value == {"name": "", "id": 1, "ssn": None}


def test_mask_field_refuses_a_struct_field() -> None:
    """{} breaks the field's schema (PostgreSQL's numeric without scale: a struct of scale and
    value): the record went to the log and failed in every sink; Kafka refuses it here."""
    vsd = {"type": "struct", "optional": True, "name": "io.debezium.data.VariableScaleDecimal",
           "fields": [{"field": "scale", "type": "int32", "optional": False},
                      {"field": "value", "type": "bytes", "optional": False}]}  # fmt: skip
    schema = {"type": "struct", "optional": False,
              "fields": [{"field": "id", "type": "int32", "optional": False},
                         {**vsd, "field": "salary"}]}  # fmt: skip
    record = sink({"id": 1, "salary": {"scale": 0, "value": b"\x01"}}, value_schema=schema)
    with pytest.raises(TransformError, match="cannot mask a struct field"):
        one("MaskField$Value", fields="salary").apply(record)
    assert applied(one("MaskField$Value", fields="id"), record).value["id"] == 0


def test_mask_field_with_schema_key_and_tombstone() -> None:
    c = one("MaskField$Key", fields="id,status")
    out = applied(c, sink({"v": 1}, key={"id": 7, "status": None}, key_schema=VALUE_SCHEMA))
    assert out.key == {"id": 0, "status": None}  # a null stays null (nothing to mask)
    assert out.key_schema == VALUE_SCHEMA
    tombstone = sink(None)
    assert one("MaskField$Value", fields="a").apply(tombstone) is tombstone


def test_replace_field_refuses_two_fields_of_one_name() -> None:
    # a rename onto a kept field had given a schema with two fields "b" and lost a's value
    schema = {"type": "struct", "optional": False, "fields": [
        {"field": "a", "type": "int32", "optional": False},
        {"field": "b", "type": "string", "optional": True}]}  # fmt: skip
    c = one("ReplaceField$Value", renames="a:b")
    with pytest.raises(TransformError, match="two fields would be named 'b'"):
        c.apply(sink({"a": 1, "b": "keep-me"}, value_schema=schema))
    both = one("ReplaceField$Value", renames="a:b,b:c")
    out = applied(both, sink({"a": 1, "b": "keep-me"}, value_schema=schema))
    assert out.value == {"b": 1, "c": "keep-me"}
    assert "fields = 'a,a': names a field twice" in "\n".join(
        problems(
            {"transforms": "k", "transforms.k.type": "ValueToKey", "transforms.k.fields": "a,a"}
        )
    )


# -- ValueToKey -------------------------------------------------------------------------------


def test_value_to_key() -> None:
    c = one("org.apache.kafka.connect.transforms.ValueToKey", fields="status,id,missing")
    out = applied(c, sink({"id": 1, "status": "x", "v": 2}, key="old"))
    assert out.key == {"status": "x", "id": 1, "missing": None} and out.key_schema is None
    with_schema = one("ValueToKey", fields="id")
    out = applied(with_schema, sink({"id": 1, "status": None}, value_schema=VALUE_SCHEMA))
    assert out.key == {"id": 1}
    assert out.key_schema == {
        "type": "struct",
        "fields": [{"field": "id", "type": "int32", "optional": False}],
        "optional": False,
    }
    assert out.value_schema == VALUE_SCHEMA
    with pytest.raises(TransformError, match="field does not exist in the value schema: 'nope'"):
        one("ValueToKey", fields="nope").apply(sink({"id": 1}, value_schema=VALUE_SCHEMA))
    # (a tombstone went on with its old key, which no row keyed by the new one matches: the
    # sinks failed later, blaming the source table's key; Kafka's fails here)
    with pytest.raises(TransformError, match="a record without a value .* has no fields to"):
        with_schema.apply(sink(None, key={"id": 1}))


# -- ExtractNewRecordState --------------------------------------------------------------------


@pytest.mark.parametrize("op", ["c", "r", "u"])
@pytest.mark.parametrize("schema", [True, False])
def test_unwrap_takes_the_after_state(op: str, schema: bool) -> None:
    c = one("unwrap")
    before = B if op == "u" else None
    out = applied(c, change(op, before, A, schema=schema))
    assert out.value == A
    assert out.value_schema == (ROW if schema else None)
    assert out.key == {"id": 1} and out.topic == "db.public.orders"


def test_unwrap_keeps_what_an_event_of_hubs_says_of_its_placeholders() -> None:
    """The row state has no source version: an event of hub's with no placeholder named
    (no `UNAVAILABLE_HEADER`) says so in an empty one, for the sink to take a value equal to
    a placeholder for what it is; one naming its placeholders keeps its header; another's
    (Debezium's, an earlier hub's) gets none (its sink takes such values for placeholders)."""
    c = one("unwrap")
    hub = {**SRC, "version": "2.7.0" + HUB_VERSION_MARK}

    def unwrapped(source: Any, headers: Any = (), op: str = "u") -> Any:
        record = replace(change(op, B, A), headers=headers)
        return applied(c, replace(record, value={**record.value, "source": source})).headers

    for op in ("c", "r", "u"):
        assert unwrapped(hub, op=op) == ((UNAVAILABLE_HEADER, b"[]"),)
    named = (("x", b"1"), (UNAVAILABLE_HEADER, b'["name"]'))
    assert unwrapped(hub, named) == named
    for version in ("2.7.0.hub", "2.7.0.Final", None):
        assert unwrapped({**SRC, "version": version}) == ()
    assert unwrapped(None) == ()


def test_unwrap_defaults_drop_deletes_and_tombstones() -> None:
    c = one("io.debezium.transforms.ExtractNewRecordState")
    assert c.apply(change("d", before=A)) is None
    assert c.apply(SourceRecord("db.public.orders", None, key={"id": 1})) is None
    assert c.apply(change("t")) is None  # truncate: neither before nor after


def test_unwrap_keeps_tombstones_and_deletes_as_nulls() -> None:
    c = one("ExtractNewRecordState", drop_tombstones=False, delete_handling_mode="none")
    out = applied(c, change("d", before=A))
    assert out.value is None and out.value_schema == ROW and out.key == {"id": 1}
    tombstone = SourceRecord("db.public.orders", None, key={"id": 1})
    assert c.apply(tombstone) is tombstone


def test_unwrap_rewrite_marks_deletes() -> None:
    c = one("unwrap", delete_handling_mode="rewrite")
    deleted = applied(c, change("d", before=A))
    assert deleted.value == {**A, "__deleted": "true"}
    marker = {"field": "__deleted", "type": "string", "optional": True}
    assert deleted.value_schema == row_schema(marker)
    updated = applied(c, change("u", A, B))
    assert updated.value == {**B, "__deleted": "false"}
    assert updated.value_schema == row_schema(marker)
    schemaless = applied(c, change("d", before=A, schema=False))
    assert schemaless.value == {**A, "__deleted": "true"} and schemaless.value_schema is None
    assert c.apply(change("d", before=None)) is None  # no state at all: dropped like a truncate


@pytest.mark.parametrize(
    ("mode", "delete", "tombstone_kept"),
    [
        ("drop", "dropped", False),
        ("tombstone", "null", False),
        ("rewrite", "rewritten", False),
        ("rewrite-with-tombstone", "rewritten", True),
        ("DELETE-TO-TOMBSTONE", "tombstone", False),
    ],
)
def test_unwrap_delete_tombstone_handling_mode(
    mode: str, delete: str, tombstone_kept: bool
) -> None:
    c = one("unwrap", delete_tombstone_handling_mode=mode)
    out = c.apply(change("d", before=A))
    if delete == "dropped":
        assert out is None
    elif delete == "rewritten":
        assert out is not None and out.value == {**A, "__deleted": "true"}
    else:
        assert out is not None and out.value is None
        assert out.value_schema == (ROW if delete == "null" else None)
    tombstone = SourceRecord("db.public.orders", None)
    assert (c.apply(tombstone) is tombstone) is tombstone_kept
    created = applied(c, change("c", after=A))
    assert created.value == ({**A, "__deleted": "false"} if "rewrite" in mode else A)


def test_unwrap_add_fields_with_schema() -> None:
    c = one("unwrap", add_fields="op,table,source.ts_ms,lsn,ts_ms,id,nope,source.nope")
    out = applied(c, change("u", A, B))
    assert out.value == {
        **B,
        "__op": "u",
        "__table": "orders",
        "__source_ts_ms": SRC["ts_ms"],
        "__lsn": SRC["lsn"],
        "__ts_ms": 1700000000500,
        "__id": None,  # transaction.id: the transaction block is null during a snapshot
    }
    assert out.value_schema == row_schema(
        {"field": "__op", "type": "string", "optional": True},
        {"field": "__table", "type": "string", "optional": True},
        {"field": "__source_ts_ms", "type": "int64", "optional": True},
        {"field": "__lsn", "type": "int64", "optional": True},
        {"field": "__ts_ms", "type": "int64", "optional": True},
        {"field": "__id", "type": "string", "optional": True},
    )


def test_unwrap_add_fields_prefix_renames_and_schemaless() -> None:
    c = one(
        "unwrap",
        add_fields="op:operation,source.ts_ms:event_ts,snapshot,transaction.id,nope",
        add_fields_prefix="cdc_",
        delete_handling_mode="rewrite",
    )
    rec = SourceRecord(
        "db.public.orders",
        event("d", before=A, transaction={"id": "tx1", "total_order": 1}),
    )
    out = applied(c, rec)
    assert out.value == {
        **A,
        "__deleted": "true",
        "cdc_operation": "d",
        "cdc_event_ts": SRC["ts_ms"],
        "cdc_snapshot": "false",
        "cdc_transaction_id": "tx1",
    }
    snapshot_field = applied(one("unwrap", add_fields="snapshot"), change("r", after=A))
    schema_field = snapshot_field.value_schema["fields"][-1]
    assert schema_field == {"field": "__snapshot", "type": "string", "optional": True}  # no default


def test_unwrap_add_headers() -> None:
    c = one(
        "unwrap",
        add_headers="op,source.ts_ms,db,lsn",
        add_headers_prefix="dbz.",
        drop_tombstones="false",
    )
    out = applied(c, change("c", after=A))
    assert out.headers == (
        ("dbz.op", b"c"),
        ("dbz.source_ts_ms", str(SRC["ts_ms"]).encode()),
        ("dbz.db", b"db"),
        ("dbz.lsn", b"123456"),
    )
    assert out.value == A
    tombstone = applied(c, SourceRecord("db.public.orders", None, headers=(("h", b"1"),)))
    assert tombstone.headers == (("h", b"1"), ("dbz.op", b"d"))
    schemaless = applied(c, change("c", after=A, schema=False))
    assert schemaless.headers == out.headers


def test_unwrap_header_values_as_the_simple_header_converter_writes_them() -> None:
    c = one("unwrap", add_headers="flag,meta,gone,source.nope")
    source = {**SRC, "flag": True, "meta": {"k": [1, 2]}, "gone": None}
    out = applied(c, SourceRecord("t", {**event("c", after=A), "source": source}))
    assert out.headers == (("__flag", b"true"), ("__meta", b'{"k":[1,2]}'), ("__gone", None))


def test_unwrap_add_fields_needs_a_struct_state() -> None:
    c = one("unwrap", add_fields="op")
    with pytest.raises(TransformError, match="add.fields needs a struct row state, found str"):
        c.apply(SourceRecord("t", event("c", after="text")))
    assert applied(one("unwrap"), SourceRecord("t", event("c", after="text"))).value == "text"


def test_deprecated_properties_beside_their_replacements_are_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # (a review's: refused, where Kafka Connect and Debezium read the new property and leave
    # the old one, so a config that ran there did not start here)
    c = one("unwrap", delete_tombstone_handling_mode="rewrite", drop_tombstones="false",
            delete_handling_mode="drop")  # fmt: skip
    assert applied(c, change("d", before=A)).value == {**A, "__deleted": "true"}
    assert "drop.tombstones = 'false': ignored, as " in caplog.text
    assert "delete.handling.mode = 'drop': ignored" in caplog.text
    blank = one("unwrap", delete_tombstone_handling_mode="", delete_handling_mode="rewrite")
    assert applied(blank, change("d", before=A)).value == {**A, "__deleted": "true"}
    r = one("ReplaceField$Value", exclude="id", blacklist="name")
    assert applied(r, sink(dict(A))).value == {"name": "a"}
    assert "blacklist = 'name': ignored, the deprecated name of" in caplog.text


def test_unwrap_route_by_field() -> None:
    c = one("unwrap", route_by_field="name", delete_handling_mode="rewrite")
    assert applied(c, change("c", after=A)).topic == "a"
    assert applied(c, change("d", before=B)).topic == "b"
    assert applied(c, change("c", after={"id": 2, "name": None})).topic == "db.public.orders"
    # (a review's: a column of numbers routed to topics "1", "2"..., a misspelt one left the
    # topic as it was, with no word; Debezium's getString fails on both)
    with pytest.raises(TransformError, match="column 'id' holds int values, not text"):
        one("unwrap", route_by_field="id").apply(change("c", after=A))
    with pytest.raises(TransformError, match="the row has no column 'nmae'"):
        one("unwrap", route_by_field="nmae").apply(change("c", after=A))


def test_unwrap_passes_what_is_not_an_envelope() -> None:
    c = one("unwrap", add_fields="op")
    heartbeat = SourceRecord("__debezium-heartbeat.db", {"ts_ms": 1})
    assert c.apply(heartbeat) is heartbeat
    text = sink("plain text")
    assert c.apply(text) is text
    named = sink({"op": "c", "after": A}, value_schema={"type": "struct", "name": "x.Other"})
    assert c.apply(named) is named
    # Debezium's test is the schema's name: a row whose table has op/before/after columns
    # is a row, not a change to unwrap (it had been replaced by its after column, or dropped)
    by_fields = {**ENVELOPE, "name": "custom"}
    row = SourceRecord("t", event("c", after=A), value_schema=by_fields)
    assert c.apply(row) is row
    for audit in (
        {"id": 1, "op": "INSERT", "before": None, "after": '{"qty": 5}'},
        {
            "id": 2,
            "op": "u",
            "before": "{}",
            "after": None,
            "source": "app",
        },  # not only envelope fields
        {"op": "d", "before": A, "after": None},  # no source
    ):
        r = sink(audit)
        assert c.apply(r) is r, audit
    # schemaless envelopes as the sources write them are still unwrapped
    assert applied(c, sink(event("c", after=A))).value == {**A, "__op": "c"}


def test_unwrap_works_on_sink_records() -> None:
    c = one("unwrap", add_fields="op", delete_handling_mode="rewrite", drop_tombstones=False)
    out = applied(c, sink(event("u", A, B), "db.public.orders", value_schema=ENVELOPE))
    assert out.value == {**B, "__deleted": "false", "__op": "u"}
    assert out.offset == 42 and out.partition == 3


def test_insert_field_required_without_a_value_is_an_error() -> None:
    # (a source record's partition is not known when its transforms run: null had gone out
    # under a field schema that is not optional, which Kafka's Struct.validate refuses)
    schema = {"type": "struct", "optional": False,
              "fields": [{"field": "id", "type": "int32", "optional": False}]}  # fmt: skip
    c = chain(transforms="i", transforms_i_type="InsertField$Value",
              transforms_i_partition_field="kafka_partition!")  # fmt: skip
    with pytest.raises(TransformError, match="field kafka_partition is required"):
        c.apply(SourceRecord("db.t", {"id": 1}, value_schema=schema))
    optional = chain(transforms="i", transforms_i_type="InsertField$Value",
                     transforms_i_partition_field="kafka_partition")  # fmt: skip
    out = optional.apply(SourceRecord("db.t", {"id": 1}, value_schema=schema))
    assert out is not None and out.value == {"id": 1, "kafka_partition": None}


def test_mask_field_refuses_a_replacement_for_a_date_or_time() -> None:
    # (Kafka refuses it for a java.util.Date, Connect's Date, Time and Timestamp; hub wrote
    # 20240101 as a number of days)
    schema = {"type": "struct", "optional": False, "fields": [
        {"field": "born", "type": "int32", "optional": True, "version": 1,
         "name": "org.apache.kafka.connect.data.Date"},
        {"field": "at", "type": "int64", "optional": True,
         "name": "io.debezium.time.MicroTimestamp"},
        {"field": "zoned", "type": "string", "optional": True,
         "name": "io.debezium.time.ZonedTimestamp"},
    ]}  # fmt: skip
    for field, refused in (("born", True), ("at", False), ("zoned", False)):
        c = chain(transforms="m", transforms_m_type="MaskField$Value",
                  transforms_m_fields=field, transforms_m_replacement="20240101")  # fmt: skip
        r = sink({"born": 19000, "at": 1, "zoned": "2024-01-01T00:00:00Z"}, value_schema=schema)
        if refused:
            with pytest.raises(TransformError, match="with a replacement"):
                c.apply(r)
        else:  # (Debezium's types are a long and a string to Kafka: masked as such)
            out = c.apply(r)
            assert (
                out is not None and out.value[field] == {"at": 20240101, "zoned": "20240101"}[field]
            )
    unmasked = chain(transforms="m", transforms_m_type="MaskField$Value",
                     transforms_m_fields="born")  # fmt: skip
    out = unmasked.apply(sink({"born": 19000, "at": 1, "zoned": ""}, value_schema=schema))
    assert out is not None and out.value["born"] == 0  # (without a replacement: the epoch)


def test_mask_field_masks_a_nan_or_infinite_float_as_zero() -> None:
    # (the JSON converter gives a NaN or an infinity back as the text "NaN", "Infinity":
    # masked by its Python type it became "" (or the text "7"), and every sink refused the
    # record; Kafka's MaskField masks the Double as 0.0, or the replacement as a double)
    from hub.runtime.converters import JsonConverter

    # (the JSON converter's type names, which every schema hub makes carries: the check was
    # for Connect's FLOAT64 / FLOAT32, and a real record's NaN still became "")
    schema = {"type": "struct", "optional": False, "fields": [
        {"field": "x", "type": "double", "optional": True},
        {"field": "y", "type": "float", "optional": True},
        {"field": "z", "type": "float64", "optional": True}]}  # fmt: skip
    conv = JsonConverter()
    nan, inf = float("nan"), float("-inf")
    value, vs = conv.to_value(conv.from_value({"x": nan, "y": inf, "z": nan}, schema))
    assert value == {"x": "NaN", "y": "-Infinity", "z": "NaN"}  # (as the sink sees them)
    out = applied(one("MaskField$Value", fields="x,y,z"), sink(value, value_schema=vs))
    assert out.value == {"x": 0.0, "y": 0.0, "z": 0.0}
    out = applied(
        one("MaskField$Value", fields="x,y,z", replacement="7"), sink(value, value_schema=vs)
    )
    assert out.value == {"x": 7.0, "y": 7.0, "z": 7.0}
