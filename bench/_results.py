"""Figures a benchmark hands to ``bench/run``: one row per measured path, with the reference
measured in the same run. ``--json FILE`` (added by `add_json_arg`) makes the benchmark write
its rows there; ``bench/run`` collects them into one table and one results file."""

from __future__ import annotations

import argparse
import json
from typing import Any

ROWS: list[dict[str, Any]] = []


def add_json_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON rows here")


def record(
    path: str, reference: str, hub_rate: float, ref_rate: float, unit: str,
    target: float | None = None, floor: float | None = None, **extra: Any,
) -> None:  # fmt: skip
    """One row: ``path`` measured at ``hub_rate`` against ``reference`` at ``ref_rate`` (same
    unit, higher is better); ``target`` is the ratio to reach, ``floor`` a rate to reach too."""
    ratio = hub_rate / ref_rate if ref_rate else 0.0
    ok = None if target is None else ratio >= target and (floor is None or hub_rate >= floor)
    ROWS.append({
        "path": path, "reference": reference, "hub": round(hub_rate, 1),
        "reference_rate": round(ref_rate, 1), "unit": unit, "ratio": round(ratio, 3),
        "target": target, "floor": floor, "ok": ok, **extra,
    })  # fmt: skip


def dump(path: str | None) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(ROWS, f, indent=1)
