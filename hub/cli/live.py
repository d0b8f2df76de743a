"""The live view of ``hub run`` on a terminal: per connector its state, records, rate, lag and
last error; during a snapshot, per table a bar with rows done of estimated and an ETA.

`LiveView.render` builds the view from a worker's status (a pure function of what it is given
and of the previous sample, which gives the snapshot rates); ``hub run`` redraws it every
second with rich's ``Live``. Off a terminal, ``hub run`` prints plain status lines instead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

_STATE_STYLE = {"RUNNING": "green", "FAILED": "bold red", "PAUSED": "yellow", "STOPPED": "dim"}
DONE = "snapshot_rows_done:"
ESTIMATED = "snapshot_rows_estimated:"


def _eta(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"


def _count(n: float) -> str:
    return f"{n:,.0f}"


class LiveView:
    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[float, float]] = {}  # (conn, table) -> (t, rows)
        self._rates: dict[tuple[str, str], float] = {}

    def render(
        self, status: Mapping[str, Sequence[Any]], types: Mapping[str, str],
        now: float | None = None, failed: Mapping[str, str] | None = None,
    ) -> RenderableType:  # fmt: skip
        """``status``: `Worker.status()` (connector -> task statuses); ``types``: connector ->
        "source"/"sink"; ``failed``: `Worker.connector_errors()` (connectors that failed to
        start, with no task)."""
        failed = failed or {}
        now = time.monotonic() if now is None else now
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col, justify in (("connector", "left"), ("type", "left"), ("state", "left"),
                             ("records", "right"), ("rate/s", "right"), ("lag", "right"),
                             ("last error", "left")):  # fmt: skip
            table.add_column(col, justify=justify, no_wrap=col != "last error")  # type: ignore[arg-type]
        bars: list[RenderableType] = []
        for name, tasks in status.items():
            states = {t.state for t in tasks} or {"UNASSIGNED"}
            state = next((s for s in ("FAILED", "RUNNING", "PAUSED") if s in states), min(states))
            if name in failed:
                state = "FAILED"
            lags = [t.lag for t in tasks if t.lag is not None]
            metrics: dict[str, float] = {}
            for t in tasks:
                metrics.update(t.metrics)
            if metrics.get("snapshot_running"):
                state = f"{state} (snapshot)"
            lag = _count(sum(lags)) if lags else ""
            behind = metrics.get("milliseconds_behind_source")
            if behind is not None and types.get(name) == "source":
                lag = f"{behind / 1000:.1f} s"
            error = failed.get(name) or next(
                (t.error for t in tasks if t.state == "FAILED" and t.error), ""
            )
            table.add_row(
                name, types.get(name, ""),
                Text(state, style=_STATE_STYLE.get(state.split()[0], "")),
                _count(sum(t.records for t in tasks)),
                _count(sum(t.records_per_second for t in tasks)), lag,
                Text(error[:160], style="red"),
            )  # fmt: skip
            bars += self._snapshot(name, metrics, now)
        return Group(table, *bars) if bars else table

    def _snapshot(self, name: str, metrics: Mapping[str, float], now: float) -> list[Any]:
        out: list[Any] = []
        for key, done in metrics.items():
            if not key.startswith(DONE):
                continue
            qualified = key[len(DONE) :]
            estimated = max(metrics.get(ESTIMATED + qualified, 0.0), done)
            last = self._last.get((name, qualified))
            if last is not None and now > last[0] and done > last[1]:
                rate = (done - last[1]) / (now - last[0])
                old = self._rates.get((name, qualified))
                self._rates[(name, qualified)] = rate if old is None else 0.5 * old + 0.5 * rate
            self._last[(name, qualified)] = (now, done)
            rate = self._rates.get((name, qualified), 0.0)
            if done >= estimated and estimated:
                eta = "done"
            elif rate > 0:
                eta = f"ETA {_eta((estimated - done) / rate)}"
            else:
                eta = ""
            row = Table.grid(padding=(0, 1))
            row.add_column(width=30, no_wrap=True)
            row.add_column(width=30)
            row.add_column(no_wrap=True)
            row.add_row(
                f"  {qualified}", ProgressBar(total=estimated or 1, completed=done, width=30),
                f"{_count(done)} / ~{_count(estimated)} rows  {eta}",
            )  # fmt: skip
            out.append(row)
        return out
