"""The captured tables' set a source keeps among its offsets (`connectors.source.cdc.
captured`), past its bound: stored as unknown, and no start compares against it."""

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
    assert rec.source_offset == {"tables": None}
    first.update(["d.a", "d.b", "d.c1"])
    assert first.take() == []  # (unchanged: nothing written again)
    caplog.set_level(logging.WARNING)
    again = captured.CapturedTables("c", part, {"tables": None})
    assert again.start(["d.a", "d.b", "d.c1", "d.new"], streams_on=True) == []
    assert "captured from now on" not in caplog.text
    assert again.take() == []  # (still past it: stored as it is)
    below = captured.CapturedTables("c", part, {"tables": None})
    below.start(["d.a"], streams_on=True)  # (back under it: a set again)
    (rec,) = below.take()
    assert rec.source_offset["tables"] is not None
