"""Encoded source records: a task told ``json_encoding`` may hand the runtime the converters'
bytes itself; the runtime writes them as they are, and says None whenever a transform or a
non-JSON converter sits in between (the task must then return values)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.runtime.api import (
    ConnectorConfig,
    SourceConnector,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
)
from hub.runtime.converters import JsonConverter
from hub.runtime.worker import ConnectorSpec, Worker

SCHEMA = {"type": "struct", "optional": False, "fields": [
    {"type": "int64", "optional": False, "field": "n"}]}  # fmt: skip
SEEN: dict[str, Any] = {}


class Config(ConnectorConfig):
    pass


class Task(SourceTask):
    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        self.encoding = SEEN[config["name"]] = context.json_encoding
        self.done = False

    def poll(self) -> Sequence[SourceRecord]:
        if self.done:
            time.sleep(0.05)
            return []
        self.done = True
        out = []
        for n in range(3):
            value, key = {"n": n}, {"n": n}
            if self.encoding is None:
                out.append(SourceRecord("t", value, key, {"p": 1}, {"o": n},
                                        key_schema=SCHEMA, value_schema=SCHEMA))  # fmt: skip
                continue
            ks, vs = self.encoding
            kb = JsonConverter(ks).from_value(key, SCHEMA)
            vb = b"encoded:" + JsonConverter(vs).from_value(value, SCHEMA)  # not a converter's
            out.append(SourceRecord("t", vb, kb, {"p": 1}, {"o": n}, encoded=True))
        return out

    def stop(self) -> None:
        pass


class Source(SourceConnector):
    name = "encoded-test"
    config_model = Config
    task_class = Task


def _run(tmp_path: Path, name: str, **config: Any) -> list[tuple[bytes | None, bytes | None]]:
    worker = Worker(str(tmp_path / "data"))
    spec = {"connector.class": f"{__name__}:Source", "name": name, **config}
    worker.add(ConnectorSpec(name, spec, "test"))
    try:
        deadline = time.monotonic() + 15
        while True:
            if worker.log.has_topic("t"):
                recs, _ = worker.log.partition("t", 0).records(0)
                if len(recs) >= 3:
                    return [(r.key, r.value) for r in recs]
            assert time.monotonic() < deadline, "no records"
            time.sleep(0.05)
    finally:
        worker.stop()


def test_json_converters_without_transforms_take_encoded_bytes_as_they_are(
    tmp_path: Path,
) -> None:
    got = _run(tmp_path, "plain")
    assert SEEN["plain"] == (True, True)
    assert got[1] == (
        b'{"schema":' + orjson.dumps(SCHEMA) + b',"payload":{"n":1}}',
        b'encoded:{"schema":' + orjson.dumps(SCHEMA) + b',"payload":{"n":1}}',
    )


def test_schemas_enable_settings_reach_the_task(tmp_path: Path) -> None:
    got = _run(tmp_path, "bare", **{"key.converter.schemas.enable": False})
    assert SEEN["bare"] == (False, True)
    assert got[0][0] == b'{"n":0}'


@pytest.mark.parametrize(
    "config",
    [
        {"value.converter": "string"},
        {"transforms": "route", "transforms.route.type": "RegexRouter",
         "transforms.route.regex": "x", "transforms.route.replacement": "y"},
    ],
    ids=["string-converter", "transform"],
)  # fmt: skip
def test_a_transform_or_another_converter_asks_for_values(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    got = _run(tmp_path, "values", **config)
    assert SEEN["values"] is None
    assert not any(v is not None and v.startswith(b"encoded:") for _, v in got)
