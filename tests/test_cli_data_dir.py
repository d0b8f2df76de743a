"""Data directory hazards, through the real `hub` command: hub never deletes files it did
not write, names a broken topic.json, and sets aside a stray segment file instead of
adopting it (issue 18 #17)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.test_cli import assert_error, consume_json, hub, ok

pytestmark = pytest.mark.integration

SEG0 = "00000000000000000000.log"
STRAY = "00000000000000099999.log"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_create_refuses_a_directory_that_is_not_a_topic(data: Path) -> None:
    ok(data, "topics", "create", "seed")
    (data / "orders").mkdir()
    (data / "orders" / "notes.txt").write_text("mine")
    r = hub(data, "topics", "create", "orders")
    assert_error(r, r.code, f"{data / 'orders'} already exists and is not a hub topic")
    assert r.code != 0
    assert (data / "orders" / "notes.txt").read_text() == "mine"
    assert "orders" not in ok(data, "topics", "list").lines
    (data / "half").mkdir()  # what a create that crashed before its topic.json leaves
    ok(data, "topics", "create", "half")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ('{"name": "t", "partitions": "two"}', "\"partitions\" is 'two'"),
        ('{"name": "other", "partitions": 1}', "\"name\" is 'other' but the directory is not"),
        ("[1, 2]", "is not a JSON object"),
    ],
)
def test_a_bad_topic_json_is_named_in_one_line(data: Path, content: str, problem: str) -> None:
    ok(data, "topics", "create", "t")
    meta = data / "t" / "topic.json"
    meta.write_text(content)
    for args in (["topics", "list"], ["topics", "describe", "t"], ["topics", "create", "u"]):
        r = hub(data, *args)
        assert r.code != 0
        assert_error(r, r.code, str(meta), problem)


@pytest.mark.parametrize("kind", ["copy", "empty"])
def test_a_stray_segment_is_set_aside_not_adopted(data: Path, kind: str) -> None:
    ok(data, "topics", "create", "t", "--config", "segment.bytes=1024")
    for i in range(4):  # a few segments
        ok(data, "produce", "t", stdin=b"".join(b"record-%d-%d-%s\n" % (i, j, b"x" * 60)
                                            for j in range(10)))  # fmt: skip
    part = data / "t" / "0"
    segments = sorted(n for n in os.listdir(part) if n.endswith(".log"))
    assert len(segments) > 2
    if kind == "copy":
        shutil.copy(part / SEG0, part / STRAY)
    else:
        (part / STRAY).touch()
    r = ok(data, "topics", "create", "other")  # the writer opens the partition
    assert f"set aside {part / STRAY}" in r.err
    assert os.path.exists(part / (STRAY + ".quarantined"))
    assert not os.path.exists(part / STRAY)
    info = json.loads(ok(data, "topics", "describe", "t", "--format", "json").out)
    assert info["partitions"][0]["end_offset"] == 40
    assert len(consume_json(data, "t", "--from-beginning")) == 40
    ok(data, "produce", "t", stdin=b"after\n")
    assert consume_json(data, "t", "--offset", "40", "-p", "0")[0]["value"] == "after"
