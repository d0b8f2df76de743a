"""errors.tolerance, the dead letter queue with context headers, and task failure."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hub.config import ConnectorSpec
from hub.log import TopicPartition
from hub.runtime.worker import Worker
from tests.helpers import wait_for
from tests.runtime.file_pipeline import file_sink, produce


def _lines(p: Path) -> list[str]:
    return p.read_text().splitlines() if p.exists() else []


def test_tolerance_all_skips_poison_to_the_dlq_with_context(tmp_path: Path) -> None:
    worker = Worker(str(tmp_path / "data"))
    try:
        produce(worker, [b'"a"', b"{not json", b'"b"', b'"c"'])
        worker.add(file_sink(tmp_path, **{
            "errors.tolerance": "all", "errors.log.enable": "true",
            "errors.deadletterqueue.topic.name": "dlq",
            "errors.deadletterqueue.context.headers.enable": "true",
        }))  # fmt: skip
        out = tmp_path / "out.txt"
        wait_for(lambda: len(_lines(out)) == 3)
        assert _lines(out) == ["a", "b", "c"]
        wait_for(lambda: worker.log.has_topic("dlq"))
        recs, _ = worker.log.partition("dlq", 0).records(0)
        assert [r.value for r in recs] == [b"{not json"]
        h = dict(recs[0].headers)
        assert h["__connect.errors.topic"] == b"in"
        assert h["__connect.errors.offset"] == b"1"
        assert h["__connect.errors.stage"] == b"VALUE_CONVERTER"
        assert h["__connect.errors.connector.name"] == b"sink"
        # (Connect's names, which tools filter on: a converter's failure is a DataException)
        assert h["__connect.errors.exception.class.name"] == (
            b"org.apache.kafka.connect.errors.DataException"
        )
        assert b"JSONDecodeError" in h["__connect.errors.exception.stacktrace"]
        assert worker.status()["sink"][0].errors == 1

        # the poison record's offset is committed: it is not retried forever
        def committed() -> int | None:
            om = worker.log.groups.committed("connect-sink", TopicPartition("in", 0))
            return None if om is None else om.offset

        wait_for(lambda: committed() == 4)
    finally:
        worker.stop()


def test_tolerance_all_sends_nothing_to_the_dlq_while_the_target_is_down(tmp_path: Path) -> None:
    # (a target down past errors.retry.timeout is no record's fault: the whole batch went to
    # the dead letter queue, its offsets committed, while the target came back a moment later)
    from tests.runtime import flaky_sink

    flaky_sink.RECEIVED.clear()
    flaky_sink.ATTEMPTS[0] = 0
    worker = Worker(str(tmp_path / "data"))
    try:
        produce(worker, [b'"r%d"' % i for i in range(20)])
        worker.add(ConnectorSpec("flaky", {
            "connector.class": "tests.runtime.flaky_sink:FlakySink", "topics": "in",
            "failures": 3, "value.converter.schemas.enable": "false",
            "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq",
        }, "test"))  # fmt: skip
        wait_for(lambda: sorted(flaky_sink.RECEIVED) == sorted(f"r{i}" for i in range(20)),
                 timeout=30, what="every record in the target")  # fmt: skip
        assert not worker.log.has_topic("dlq") or not worker.log.partition("dlq", 0).records(0)[0]
        assert worker.status()["flaky"][0].errors == 0
    finally:
        worker.stop()


def test_tolerance_none_fails_the_task_with_its_trace(tmp_path: Path) -> None:
    worker = Worker(str(tmp_path / "data"))
    try:
        produce(worker, [b'"a"', b"{not json"])
        worker.add(file_sink(tmp_path))
        wait_for(lambda: worker.status()["sink"][0].state == "FAILED")
        status = worker.status()["sink"][0]
        assert status.trace is not None and "JSONDecodeError" in status.trace
        # where the record is and what to change (it had been orjson's message alone, and
        # the task restarted every few seconds as if it might heal)
        assert "VALUE_CONVERTER failed for the record at in[0] offset 1: " in status.trace
        assert "set value.converter to what the topic holds" in status.trace
        assert "RecordFailedError" in status.trace  # (a FatalError: retried once a minute)
        assert _lines(tmp_path / "out.txt") == []  # the good record before it was not committed
        # and the group's offset did not move past the batch that failed
        assert worker.log.groups.committed("connect-sink", TopicPartition("in", 0)) is None
    finally:
        worker.stop()


def test_transforms_run_in_sources_and_sinks(tmp_path: Path) -> None:
    import json

    worker = Worker(str(tmp_path / "data"))
    try:
        worker.add(ConnectorSpec("gen", {
            "connector.class": "datagen", "topic": "datagen.events", "rate": 0,
            "max.records": 50, "value.converter.schemas.enable": "false",
            "transforms": "route,odd",
            "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.route.regex": "datagen\\.(.*)", "transforms.route.replacement": "$1",
            "transforms.odd.type": "InsertField$Value", "transforms.odd.static.field": "origin",
            "transforms.odd.static.value": "gen",
        }, "test"))  # fmt: skip
        worker.add(ConnectorSpec("out", {
            "connector.class": "FileStreamSink", "topics": "events", "file": str(tmp_path / "o"),
            "value.converter.schemas.enable": "false", "batch.max.wait.ms": 50,
            "transforms": "mask", "transforms.mask.type": "MaskField$Value",
            "transforms.mask.fields": "payload",
        }, "test"))  # fmt: skip
        wait_for(lambda: len(_lines(tmp_path / "o")) == 50)
        rows = [json.loads(line) for line in _lines(tmp_path / "o")]
        assert {r["origin"] for r in rows} == {"gen"} and {r["payload"] for r in rows} == {""}
        assert sorted(r["seq"] for r in rows) == list(range(50))
        assert not worker.log.has_topic("datagen.events")  # routed before the log
    finally:
        worker.stop()


def _flaky(tmp_path: Path, values: list[bytes], **config: Any) -> Worker:
    """A worker with topic ``in`` holding ``values`` and the FlakySink ``flaky`` reading it
    (its counters reset), configured with ``config``."""
    from tests.runtime import flaky_sink

    flaky_sink.RECEIVED.clear()
    flaky_sink.ATTEMPTS[0] = 0
    worker = Worker(str(tmp_path / "data"))
    produce(worker, values)
    worker.add(ConnectorSpec("flaky", {
        "connector.class": "tests.runtime.flaky_sink:FlakySink", "topics": "in",
        "value.converter.schemas.enable": "false", "batch.max.wait.ms": 50, **config,
    }, "test"))  # fmt: skip
    return worker


def test_transient_errors_are_retried_with_backoff(tmp_path: Path) -> None:
    from tests.runtime import flaky_sink

    retry = {"errors.retry.timeout": 10_000, "errors.retry.delay.max.ms": 200}
    worker = _flaky(tmp_path, [b'"a"', b'"b"'], failures=3, **retry)
    try:
        wait_for(lambda: flaky_sink.RECEIVED == ["a", "b"])
        assert flaky_sink.ATTEMPTS[0] == 4  # three transient failures, then success
        assert worker.status()["flaky"][0].state == "RUNNING"
    finally:
        worker.stop()


def test_transient_errors_past_the_retry_timeout_fail_the_task(tmp_path: Path) -> None:
    from tests.runtime import flaky_sink

    worker = _flaky(tmp_path, [b'"a"'], failures=1000, **{"errors.retry.timeout": 300})
    try:
        wait_for(lambda: worker.status()["flaky"][0].state == "FAILED")
        assert "target busy" in (worker.status()["flaky"][0].trace or "")
        assert flaky_sink.RECEIVED == []
    finally:
        worker.stop()


def test_a_task_retrying_for_ever_stops_at_once(tmp_path: Path) -> None:
    # (with errors.retry.timeout=-1 and the target down, the retry never looked at the stop:
    # a connector's stop, pause or config change, every other connector's, and SIGTERM all
    # waited for the target to come back)
    import threading
    import time

    from tests.runtime import flaky_sink

    retry = {"errors.retry.timeout": -1, "errors.retry.delay.max.ms": 60_000}
    worker = _flaky(tmp_path, [b'"a"'], failures=10**9, **retry)
    try:
        deadline = time.monotonic() + 20
        while flaky_sink.ATTEMPTS[0] < 6 and time.monotonic() < deadline:
            time.sleep(0.005)  # (the 6th attempt failed: its retry waits 3.2 s from now)
        began = time.monotonic()
        stopper = threading.Thread(target=worker.stop)
        stopper.start()
        stopper.join(10)
        assert not stopper.is_alive() and time.monotonic() - began < 1.0
    finally:
        worker.stop()
    assert flaky_sink.RECEIVED == []


def test_a_failing_source_task_stores_no_offsets(tmp_path: Path) -> None:
    """With errors.tolerance=none a record that fails in a transform fails the task, and
    neither it nor the records polled with it count as done (they are retried, not lost)."""
    src = tmp_path / "in.txt"
    src.write_text("a\nb\nc\n")
    worker = Worker(str(tmp_path / "data"))
    try:
        worker.add(ConnectorSpec("src", {
            "connector.class": "FileStreamSource", "file": str(src), "topic": "t",
            "transforms": "k", "transforms.k.type": "ValueToKey", "transforms.k.fields": "id",
        }, "test"))  # fmt: skip
        wait_for(lambda: worker.status()["src"][0].state == "FAILED")
        assert worker.offsets.partitions("src") == []
        assert not worker.log.has_topic("t") or worker.log.partition("t", 0).log_end_offset == 0
    finally:
        worker.stop()


def test_file_sink_cuts_back_lines_written_before_its_first_flush(tmp_path: Path) -> None:
    from connectors.sink.file import FileStreamSinkTask
    from hub.runtime import SinkRecord, SinkTaskContext

    out = tmp_path / "out.txt"
    out.write_text("the user's own line\n")
    tp = TopicPartition("t", 0)
    task = FileStreamSinkTask()
    task.start({"file": str(out)}, SinkTaskContext("s", 0))
    assert task.open({tp}) == {}
    task.put([SinkRecord("t", 0, i, 0, None, f"r{i}") for i in range(3)])
    task._out.flush()  # type: ignore[union-attr]  # the OS has the lines; then kill -9
    assert out.read_text().count("\n") == 4
    task._out.close()  # type: ignore[union-attr]  # (what the kernel does for a killed process)
    again = FileStreamSinkTask()
    again.start({"file": str(out)}, SinkTaskContext("s", 0))
    assert again.open({tp}) == {}  # nothing acknowledged: consume from the group's offset
    assert out.read_text() == "the user's own line\n"  # unacknowledged lines gone, user's kept
    again.stop()


def test_dead_letter_queue_and_error_log_never_carry_a_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.runtime import flaky_sink

    flaky_sink.RECEIVED.clear()
    flaky_sink.ATTEMPTS[0] = 0
    worker = Worker(str(tmp_path / "data"))
    try:
        produce(worker, [b'"a"'])
        with caplog.at_level("WARNING"):
            worker.add(ConnectorSpec("flaky", {
                "connector.class": "tests.runtime.flaky_sink:FlakySink", "topics": "in",
                "failures": 1000, "error": "record", "connection.password": "hunter2",
                "errors.tolerance": "all",
                "errors.log.enable": "true", "errors.deadletterqueue.topic.name": "dlq",
                "errors.deadletterqueue.context.headers.enable": "true",
                "value.converter.schemas.enable": "false", "batch.max.wait.ms": 50,
            }, "test"))  # fmt: skip
            wait_for(lambda: worker.log.has_topic("dlq")
                  and worker.log.partition("dlq", 0).high_watermark == 1)  # fmt: skip
        recs, _ = worker.log.partition("dlq", 0).records(0)
        headers = dict(recs[0].headers)
        assert b"pw=********" in headers["__connect.errors.exception.message"]
        assert all(b"hunter2" not in (v or b"") for v in headers.values())
        assert "pw=********" in caplog.text and "hunter2" not in caplog.text
    finally:
        worker.stop()


def test_a_stop_heard_while_retrying_sends_nothing_to_the_dlq(tmp_path: Path) -> None:
    # (the retry's "the task is stopping" was taken for each record's failure: every record
    # of the batch went to the dead letter queue and the group committed past them, lost to
    # a target that came back)
    worker = _flaky(tmp_path, [b'"r%d"' % i for i in range(5)], failures=10_000,
                    **{"errors.tolerance": "all", "errors.retry.timeout": -1,
                       "errors.deadletterqueue.topic.name": "dlq"})  # fmt: skip
    from tests.runtime import flaky_sink

    try:
        wait_for(lambda: flaky_sink.ATTEMPTS[0] >= 2, what="the retries")
        worker.stop_connector("flaky")
        assert not worker.log.has_topic("dlq") or not worker.log.partition("dlq", 0).records(0)[0]
        assert worker.log.groups.committed("connect-flaky", TopicPartition("in", 0)) is None
    finally:
        worker.stop()


def test_tolerance_all_leaves_a_put_that_is_not_all_or_nothing_to_fail_the_task(
    tmp_path: Path,
) -> None:
    # (a failed put was put again record by record: the records it had written before the
    # poison were written twice, the others dead-lettered as if they were bad; as in Kafka
    # Connect, errors.tolerance covers such a put only when its task says it may)
    from tests.runtime import flaky_sink

    flaky_sink.RECEIVED.clear()
    worker = Worker(str(tmp_path / "data"))
    try:
        produce(worker, [b'"a"', b'"b"', b'"poison"', b'"c"'])
        worker.add(ConnectorSpec("partial", {
            "connector.class": "tests.runtime.flaky_sink:PartialSink", "topics": "in",
            "value.converter.schemas.enable": "false", "batch.max.wait.ms": 50,
            "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq",
        }, "test"))  # fmt: skip
        wait_for(lambda: worker.status()["partial"][0].state == "FAILED", what="FAILED")
        status = worker.status()["partial"][0]
        assert status.trace is not None and "poison" in status.trace
        assert flaky_sink.RECEIVED[:2] == ["a", "b"] and "c" not in flaky_sink.RECEIVED
        assert not worker.log.has_topic("dlq") or not worker.log.partition("dlq", 0).records(0)[0]
    finally:
        worker.stop()


def test_a_task_inside_a_call_that_hangs_is_left_behind_by_a_stop(tmp_path: Path) -> None:
    # (the stop waited for it for ever, holding the worker: SIGTERM, the connector list and
    # every other connector's pause or config change hung with it; Kafka Connect leaves such
    # a task behind after task.shutdown.graceful.timeout.ms)
    import time

    from tests.runtime import flaky_sink

    flaky_sink.RECEIVED.clear()
    flaky_sink.RELEASE.clear()
    worker = Worker(str(tmp_path / "data"), task_shutdown_graceful_timeout_ms=300)
    try:
        produce(worker, [b'"a"', b'"b"'])
        worker.add(ConnectorSpec("stuck", {
            "connector.class": "tests.runtime.flaky_sink:BlockingSink", "topics": "in",
            "value.converter.schemas.enable": "false", "batch.max.wait.ms": 50,
            "offset.flush.interval.ms": 50,
        }, "test"))  # fmt: skip
        wait_for(lambda: worker.status()["stuck"][0].state == "RUNNING")
        time.sleep(0.3)  # (inside its put)
        began = time.monotonic()
        worker.stop_connector("stuck")
        assert time.monotonic() - began < 5
        assert worker.status()["stuck"] == [] or worker.status()["stuck"][0].state != "RUNNING"
        flaky_sink.RELEASE.set()  # the target answers: the task left behind commits nothing
        wait_for(lambda: flaky_sink.RECEIVED == ["a", "b"], what="the put's return")
        time.sleep(0.3)
        assert worker.log.groups.committed("connect-stuck", TopicPartition("in", 0)) is None
    finally:
        flaky_sink.RELEASE.set()
        worker.stop()


def test_a_workers_stop_gives_its_stuck_tasks_one_graceful_timeout_in_all(tmp_path: Path) -> None:
    # (each connector's tasks had waited the full timeout in turn: three connectors whose
    # targets hang took three timeouts, and a stop's time grew with the connectors)
    import time

    from tests.runtime import flaky_sink

    flaky_sink.RELEASE.clear()
    worker = Worker(str(tmp_path / "data"), task_shutdown_graceful_timeout_ms=1000)
    try:
        produce(worker, [b'"a"', b'"b"'])
        for name in ("s1", "s2", "s3"):
            worker.add(ConnectorSpec(name, {
                "connector.class": "tests.runtime.flaky_sink:BlockingSink", "topics": "in",
                "value.converter.schemas.enable": "false", "batch.max.wait.ms": 50,
            }, "test"))  # fmt: skip
        wait_for(lambda: all(worker.status()[n][0].state == "RUNNING" for n in ("s1", "s2", "s3")))
        time.sleep(0.3)  # (inside their puts)
        began = time.monotonic()
        worker.stop()
        took = time.monotonic() - began
        assert 1.0 <= took < 2.5, took
    finally:
        flaky_sink.RELEASE.set()


MASK = "org.apache.kafka.connect.transforms.MaskField$Value"


def _first_dead_letter_headers(worker: Worker) -> dict[str, bytes]:
    """The headers of the first record of the dead letter queue ``dlq``, once it is there."""
    wait_for(lambda: worker.log.has_topic("dlq")
             and worker.log.partition("dlq", 0).high_watermark == 1)  # fmt: skip
    return dict(worker.log.partition("dlq", 0).records(0)[0][0].headers)


def test_a_key_the_converter_cannot_read_is_dead_lettered_as_the_key_converters(
    tmp_path: Path,
) -> None:
    # (it was labelled VALUE_CONVERTER, and every record's class.name was hub's module, where
    # Kafka Connect names the stage and the class executing it)
    worker = Worker(str(tmp_path / "data"))
    try:
        produce(worker, [b'"a"', b'"b"'], keys=[b'"k"', b"{not json"])
        worker.add(file_sink(tmp_path, **{
            "key.converter": "json", "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": "dlq",
            "errors.deadletterqueue.context.headers.enable": "true",
        }))  # fmt: skip
        h = _first_dead_letter_headers(worker)
        assert h["__connect.errors.stage"] == b"KEY_CONVERTER"
        assert h["__connect.errors.class.name"] == b"org.apache.kafka.connect.json.JsonConverter"
    finally:
        worker.stop()


def test_a_record_a_transform_refuses_is_dead_lettered_with_the_transforms_class(
    tmp_path: Path,
) -> None:
    # (class.name named hub's whole chain, where Kafka Connect names the transform)
    worker = Worker(str(tmp_path / "data"))
    try:
        produce(worker, [b'{"x": "a"}', b'"not a struct"'])
        worker.add(file_sink(tmp_path, **{
            "transforms": "hide", "transforms.hide.type": MASK, "transforms.hide.fields": "x",
            "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": "dlq",
            "errors.deadletterqueue.context.headers.enable": "true",
        }))  # fmt: skip
        h = _first_dead_letter_headers(worker)
        assert h["__connect.errors.stage"] == b"TRANSFORMATION"
        assert h["__connect.errors.class.name"] == MASK.encode()
    finally:
        worker.stop()


def test_a_retry_waits_to_the_timeout_and_tries_once_more_there(tmp_path: Path) -> None:
    # (a review's: with errors.retry.timeout 10 s the retry gave up at 6.3 s, the next backoff
    # not fitting before the deadline, and a target back at 8 s failed the task; Connect
    # waits out what is left and tries at the deadline)
    from hub.errors import TransientError
    from hub.log import Log
    from hub.runtime.errors import ErrorReporter
    from hub.runtime.validation import CommonConfig

    common = CommonConfig.model_validate({
        "connector.class": "x", "errors.retry.timeout": 1000,
        "errors.retry.delay.max.ms": 60_000,
    })  # fmt: skip
    log = Log(str(tmp_path / "log"))
    errors = ErrorReporter("x", 0, common, log)
    began = time.monotonic()

    def target() -> str:  # (back 0.85 s on: after the backoffs 0.1 + 0.2 + 0.4, before 1.0)
        if time.monotonic() - began < 0.85:
            raise TransientError("target down")
        return "written"

    try:
        assert errors.retry("put", target) == "written"
        assert time.monotonic() - began < 1.5
        began = time.monotonic() + 60  # (never back: given up at the deadline, not before)
        with pytest.raises(TransientError):
            errors.retry("put", target)
    finally:
        log.close()


def test_a_dead_letter_past_the_queues_limit_goes_without_its_stack_trace(
    tmp_path: Path,
) -> None:
    # (a review's: a record near its topic's max.message.bytes, with the error headers,
    # exceeded the queue's: the sink failed on it at every restart, naming neither)
    from tests.runtime.file_pipeline import file_sink, produce

    worker = Worker(str(tmp_path / "data"))
    out = tmp_path / "out.txt"
    try:
        big = b"{" + b"x" * 1_048_000  # (not JSON: the converter refuses it)
        produce(worker, [b'{"a":1}', big, b'{"a":2}'])
        worker.add(file_sink(tmp_path, **{
            "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq",
            "errors.deadletterqueue.context.headers.enable": "true",
        }))  # fmt: skip
        wait_for(lambda: out.exists() and out.read_bytes().splitlines() == [b'{"a":1}', b'{"a":2}'])
        assert worker.log is not None
        (dead,) = list(worker.log.partition("dlq", 0).records(0, 10 << 20)[0])
        names = {k for k, _ in dead.headers}
        assert dead.value == big and "__connect.errors.exception.message" in names
        assert "__connect.errors.exception.stacktrace" not in names
        assert worker.status()["sink"][0].state == "RUNNING"
    finally:
        worker.stop()
