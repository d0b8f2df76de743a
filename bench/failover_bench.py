"""Distributed workers' failover: how long after a worker is killed with SIGKILL its tasks run
on the other workers, against the session timeout that bounds the detection (the reference).

    python bench/failover_bench.py                        # a Tansu broker of its own
    python bench/failover_bench.py --session-ms 10000 --rounds 5

Three `hub serve` workers of one cluster (`group.id`) run datagen with 6 tasks. Each round
waits until every worker runs 2 of them, kills one, times until every task is RUNNING on a
live worker as every live worker's REST API says (the status topic), then starts a new
worker. The figure is the median round; ratio = session timeout /
takeover (1.0 would be a takeover exactly at the timeout; it also takes the group's
rebalance, the task's start and a status publish, about a second each).

On Tansu (the default broker here) keep --session-ms at 3000 or less: with 4 500 ms or more
its lease groups never hand a lease given up to another member (README, docs/distributed.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _results  # noqa: E402

TASKS = 6


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--session-ms", type=int, default=2000, help="the workers' session.timeout.ms")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bootstrap", help="a Kafka cluster (default: a Tansu broker started here)")
    _results.add_json_arg(ap)
    args = ap.parse_args()
    from tests.fixtures.workers import Workers

    with ExitStack() as stack:
        base = Path(tempfile.mkdtemp(prefix="hub-bench-failover-"))
        bootstrap = args.bootstrap
        if bootstrap is None:
            from tests.fixtures.kafka import running_tansu

            bootstrap = stack.enter_context(running_tansu(base))
        cluster = Workers(bootstrap, base, session_ms=args.session_ms)
        stack.callback(cluster.reap)
        for _ in range(3):
            cluster.start()
        cluster.create(cluster.live()[0], "gen", {
            "connector.class": "datagen", "topic": f"failover-{uuid.uuid4().hex[:8]}",
            "rate": 50, "tasks.max": TASKS, "value.converter.schemas.enable": "false",
        })  # fmt: skip
        took: list[float] = []
        for _ in range(args.rounds):
            # (settled first: every worker running its share, none moving)
            deadline = time.monotonic() + 120
            while True:
                owners = [cluster.running_on("gen", t) for t in range(TASKS)]
                if max(owners.count(w) for w in set(owners)) <= -(-TASKS // 3):
                    break
                assert time.monotonic() < deadline, f"the tasks never spread: {owners}"
                time.sleep(1)
            victim = max(set(owners), key=owners.count)
            cluster.kill(victim)
            t0 = time.monotonic()
            moved = [cluster.running_on("gen", t) for t in range(TASKS)]
            took.append(time.monotonic() - t0)
            assert victim not in moved
            print(f"  killed a worker running {owners.count(victim)} of {TASKS} tasks: all "
                  f"running elsewhere after {took[-1]:.1f} s")  # fmt: skip
            cluster.start()
        cluster.stop_all()
    median = statistics.median(took)
    session = args.session_ms / 1000
    print(f"takeover after kill -9: median {median:.1f} s (rounds "
          f"{', '.join(f'{t:.1f}' for t in took)}), session.timeout.ms {args.session_ms}: "
          f"{session / median:.2f}x")  # fmt: skip
    _results.record("distributed failover (tasks of a killed worker RUNNING elsewhere)",
                    "session.timeout.ms (a setting, not measured)", median, session, "s",
                    lower_is_better=True, rounds_s=[round(t, 2) for t in took])  # fmt: skip
    _results.dump(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
