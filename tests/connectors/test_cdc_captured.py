"""The captured tables' set a source keeps among its offsets (`connectors.source.cdc.
captured`), past its bound: stored as unknown, and no start compares against it; and the
column lists kept with it, whose change names the columns captured from now on."""

from __future__ import annotations

import logging

import pytest

import connectors.source.cdc.captured as captured


def test_past_the_bound_the_set_is_stored_as_unknown_and_nothing_is_told(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # (a set frozen at the bound had a table made while streaming told of at every start)
    monkeypatch.setattr(captured, "MAX_TABLES", 2)
    part = {"server": "app"}
    first = captured.CapturedTables("c", part, None)
    first.start(["d.a", "d.b"], streams_on=False)
    (rec,) = first.take()
    assert rec.source_partition == {"server": "app", "captured": "tables"}
    assert len(rec.source_offset["tables"]) == 2
    first.update(["d.a", "d.b", "d.c1"])  # (a table made while streaming: past the bound)
    (rec,) = first.take()
    assert rec.source_offset == {"tables": None, "columns": ["", ""]}
    first.update(["d.a", "d.b", "d.c1"])
    assert first.take() == []  # (unchanged: nothing written again)
    caplog.set_level(logging.WARNING)
    again = captured.CapturedTables("c", part, {"tables": None, "columns": ["", ""]})
    assert again.start(["d.a", "d.b", "d.c1", "d.new"], streams_on=True) == []
    assert "captured from now on" not in caplog.text
    assert again.take() == []  # (still past it: stored as it is)
    below = captured.CapturedTables("c", part, {"tables": None})
    below.start(["d.a"], streams_on=True)  # (back under it: a set again)
    (rec,) = below.take()
    assert rec.source_offset["tables"] is not None


def test_columns_the_changed_column_lists_keep_now_are_told_of_at_a_start_that_streams_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # (a column taken out of column.exclude.list got values as rows changed, the rows the
    # sinks held keeping null in it, without a word)
    part = {"server": "app"}
    columns = {"d.a": ["v", "secret", "note"], "d.b": ["w"], "d.new": ["x"]}.__getitem__
    first = captured.CapturedTables("c", part, None)
    first.start(["d.a", "d.b"], streams_on=False, column_lists=("", r"d\.a\.(secret|note)"))
    (rec,) = first.take()
    stored = rec.source_offset
    assert stored["columns"] == ["", r"d\.a\.(secret|note)"]
    caplog.set_level(logging.WARNING)
    told = "captured from now on (column.include.list or column.exclude.list changed"
    same = captured.CapturedTables("c", part, stored)  # unchanged: nothing said or written
    same.start(["d.a", "d.b"], streams_on=True, column_lists=("", r"d\.a\.(secret|note)"),
               columns=columns)  # fmt: skip
    assert told not in caplog.text and same.take() == []
    snap = captured.CapturedTables("c", part, stored)  # a snapshot reads every column again
    snap.start(["d.a", "d.b"], streams_on=False, column_lists=("", r"d\.a\.secret"),
               columns=columns)  # fmt: skip
    assert told not in caplog.text
    again = captured.CapturedTables("c", part, stored)
    again.start(["d.a", "d.b", "d.new"], streams_on=True, column_lists=("", r"d\.a\.secret"),
                columns=columns)  # fmt: skip
    lines = [r.getMessage() for r in caplog.records if told in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("c: column(s) d.a.note captured"), lines
    assert "execute-snapshot" in lines[0]
    (rec,) = again.take()
    assert rec.source_offset["columns"] == ["", r"d\.a\.secret"]  # (told once)
    caplog.clear()
    narrower = captured.CapturedTables("c", part, rec.source_offset)  # fewer columns: no word
    narrower.start(["d.a", "d.b", "d.new"], streams_on=True,
                   column_lists=(r"d\.a\.v,d\.b\..*", ""), columns=columns)  # fmt: skip
    assert told not in caplog.text
