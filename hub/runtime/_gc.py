"""Python's cyclic garbage collector, tuned for a worker moving records.

Decoding and building records allocates container objects (dicts, lists, records) by the
hundred thousand a second, nearly none of them in reference cycles. With CPython's default
thresholds (700, 10, 10) the collector runs a young-generation pass every 700 allocations and
now and then a full pass over every object the process holds (its modules, plugins, drivers):
on the benchmark's VM about 30 % of a sink runner's JSON decoding of Debezium envelopes
(10.6 µs a record against 7.1 µs with the collector off).

`tune` (once per process: ``hub run`` and ``hub serve`` call it before their worker starts;
an application embedding a Worker decides for itself) moves every object there is into the
permanent generation (``gc.freeze``: start-up objects are never scanned again; no collection
first, it would cost start-up time for the few cycles start-up leaves), and raises the
thresholds so a young pass runs every 50 000 allocations. Cycles made later are still
collected; ``HUB_GC_TUNE=0`` leaves Python's defaults alone.
"""

from __future__ import annotations

import gc
import os

THRESHOLDS = (50_000, 20, 10)  # a full pass every 10 M allocations (a few seconds busy)
_done = False


def tune() -> None:
    global _done
    if _done or os.environ.get("HUB_GC_TUNE") == "0":
        return
    _done = True
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
