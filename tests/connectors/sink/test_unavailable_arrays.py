"""The source's placeholder for an unchanged TOASTed array (Debezium's form, per item type)
is recognised by the sinks after the JSON converter, for every array type the source emits."""

from __future__ import annotations

import pytest

from connectors.sink.engine.unavailable import Unavailable
from connectors.source.postgres.events import _placeholder
from connectors.source.postgres.types import ARRAY_ELEMENTS, TypeMapper
from hub.runtime.converters import JsonConverter

TEXT = "__debezium_unavailable_value"
JSON = JsonConverter(schemas_enable=True)
MAPPER = TypeMapper()


@pytest.mark.parametrize("array_oid", sorted(ARRAY_ELEMENTS))
def test_array_placeholder_is_recognised(array_oid: int) -> None:
    schema = {**MAPPER.schema(array_oid, -1), "field": "a"}
    value = _placeholder(schema, TEXT)
    assert value != [None], "a lone null would overwrite the array"
    struct = {"type": "struct", "fields": [schema], "optional": False}
    got, _ = JSON.to_value(JSON.from_value({"a": value}, struct))
    assert Unavailable(TEXT).is_placeholder(got["a"]), (schema["items"], got["a"])


def test_int_array_placeholder_is_debeziums() -> None:
    schema = MAPPER.schema(1007, -1)  # int[]
    assert _placeholder(schema, TEXT) == list(TEXT.encode())
