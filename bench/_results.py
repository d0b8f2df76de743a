"""Figures a benchmark hands to ``bench/run``: one row per measured path, with the reference
measured in the same run. ``--json FILE`` (added by `add_json_arg`) makes the benchmark write
its rows there; ``bench/run`` collects them into one table and one results file."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

ROWS: list[dict[str, Any]] = []


def add_json_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON rows here")
    # (every benchmark passes here first: a SIGTERM, from `timeout` or a CI cancel, exits
    # through the benchmarks' `finally` blocks as Ctrl-C does, so their servers stop)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def record(
    path: str, reference: str, hub_rate: float, ref_rate: float, unit: str,
    target: float | None = None, floor: float | None = None, *,
    lower_is_better: bool = False, valid: bool = True, **extra: Any,
) -> None:  # fmt: skip
    """One row: ``path`` measured at ``hub_rate`` against ``reference`` at ``ref_rate`` (same
    unit, higher is better); ``target`` is the ratio to reach, ``floor`` a rate to reach too.
    ``lower_is_better`` (a time): the ratio is reference / hub, and a floor is a ceiling.
    ``valid`` False: the figure leaves something out (rows never seen): never ok."""
    if lower_is_better:
        ratio = ref_rate / hub_rate if hub_rate else 0.0
        meets_floor = floor is None or hub_rate <= floor
    else:
        ratio = hub_rate / ref_rate if ref_rate else 0.0
        meets_floor = floor is None or hub_rate >= floor
    ok = None if target is None else valid and ratio >= target and meets_floor
    ROWS.append({
        "path": path, "reference": reference, "hub": hub_rate, "reference_rate": ref_rate,
        "unit": unit, "ratio": ratio, "target": target, "floor": floor,
        "lower_is_better": lower_is_better, "ok": ok, **extra,
    })  # fmt: skip


def dump(path: str | None) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(ROWS, f, indent=1)
