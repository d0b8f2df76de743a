"""``GET /metrics``: the worker in Prometheus' text format (0.0.4), read at each scrape.

Series (labels in braces)::

    hub_connector_state{connector,type,state}          1 for the current state, else 0
    hub_task_state{connector,task,type,state}          1 for the current state, else 0
    hub_task_records_total{connector,task,type}        polled (sources) / consumed (sinks)
    hub_task_records_per_second{connector,task,type}   over the last ~10 s
    hub_task_errors_total{connector,task,type}         failed records tolerated (errors.tolerance)
    hub_task_failures_total{connector,task,type}       times the task failed and was restarted
    hub_task_last_batch_size{connector,task,type}      records in the last non-empty batch
    hub_task_last_batch_seconds{connector,task,type}   sinks: how long the last batch took to write
    hub_task_lag{connector,task,type}                  sinks: records behind the log end
    hub_log_partition_start_offset{topic,partition}
    hub_log_partition_end_offset{topic,partition}
    hub_log_partition_size_bytes{topic,partition}
    hub_log_partition_segments{topic,partition}
    hub_scheduler_job_last_duration_seconds{name}
    hub_scheduler_job_runs_total{name}
    hub_scheduler_job_failures_total{name}

A series without a value (a source's lag, a task that has seen no batch) is left out. Counters
restart from 0 when a task is restarted. Reading takes no worker lock.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from hub.errors import HubError
from hub.runtime.worker import FAILED, PAUSED, RUNNING, STOPPED, Worker

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
CONNECTOR_STATES = (RUNNING, PAUSED, STOPPED, FAILED)
TASK_STATES = ("UNASSIGNED", RUNNING, PAUSED, STOPPED, FAILED)
TASK_LABELS = ["connector", "task", "type"]
PARTITION_LABELS = ["topic", "partition"]


class WorkerCollector(Collector):
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        yield from self._connectors()
        yield from self._partitions()
        yield from self._jobs()

    def _connectors(self) -> Iterator[Metric]:
        def gauge(name: str, doc: str, labels: list[str] = TASK_LABELS) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=labels)

        def counter(name: str, doc: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=TASK_LABELS)

        conn_state = gauge(
            "hub_connector_state", "1 for the connector's state", ["connector", "type", "state"]
        )
        task_state = gauge("hub_task_state", "1 for the task's state", [*TASK_LABELS, "state"])
        records = counter("hub_task_records", "records polled (sources) or consumed (sinks)")
        rate = gauge("hub_task_records_per_second", "records per second over the last ~10 s")
        errors = counter("hub_task_errors", "failed records tolerated (errors.tolerance=all)")
        failures = counter("hub_task_failures", "times the task failed and was restarted")
        batch = gauge("hub_task_last_batch_size", "records in the task's last non-empty batch")
        lag = gauge("hub_task_lag", "records between the committed offsets and the log end")
        apply = gauge("hub_task_last_batch_seconds", "a sink's time to write its last batch")
        own = gauge(
            "hub_task_metric", "a connector's own gauge (e.g. the PostgreSQL source's "
            "replication lag); name and an optional detail such as a table",
            [*TASK_LABELS, "name", "detail"],
        )  # fmt: skip
        for rt in list(self.worker.connectors.values()):
            for s in CONNECTOR_STATES:
                conn_state.add_metric([rt.name, rt.type, s], 1.0 if rt.state == s else 0.0)
            for st in self.worker.task_statuses(rt):
                labels = [rt.name, str(st.id), rt.type]
                for s in TASK_STATES:
                    task_state.add_metric([*labels, s], 1.0 if st.state == s else 0.0)
                records.add_metric(labels, st.records)
                rate.add_metric(labels, st.records_per_second)
                errors.add_metric(labels, st.errors)
                failures.add_metric(labels, st.failures)
                if st.last_batch_size is not None:
                    batch.add_metric(labels, st.last_batch_size)
                if st.lag is not None:
                    lag.add_metric(labels, st.lag)
                if st.last_apply_ms is not None:
                    apply.add_metric(labels, st.last_apply_ms / 1000)
                for key, value in st.metrics.items():
                    name, _, detail = key.partition(":")
                    own.add_metric([*labels, name, detail], float(value))
        yield from (conn_state, task_state, records, rate, errors, failures, batch, lag, apply,
                    own)  # fmt: skip

    def _partitions(self) -> Iterator[Metric]:
        def gauge(name: str, doc: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=PARTITION_LABELS)

        start = gauge("hub_log_partition_start_offset", "the first offset still in the log")
        end = gauge("hub_log_partition_end_offset", "the offset the next record will get")
        size = gauge("hub_log_partition_size_bytes", "bytes in the partition's segments")
        segments = gauge("hub_log_partition_segments", "segments in the partition")
        log = self.worker.log
        if log is None:  # (partition sizes and segments: the embedded log's)
            yield from (start, end, size, segments)
            return
        for name in log.topics(include_internal=True):
            try:
                partitions = log.topic(name).partitions
                infos = [p.info() for p in partitions]
            except HubError:  # deleted meanwhile
                continue
            for info in infos:
                labels = [name, str(info.partition)]
                start.add_metric(labels, info.start_offset)
                end.add_metric(labels, info.end_offset)
                if info.size_bytes is not None and info.segments is not None:
                    size.add_metric(labels, info.size_bytes)
                    segments.add_metric(labels, info.segments)
        yield from (start, end, size, segments)

    def _jobs(self) -> Iterator[Metric]:
        duration = GaugeMetricFamily(
            "hub_scheduler_job_last_duration_seconds", "how long the job's last run took",
            labels=["name"],
        )  # fmt: skip
        runs = CounterMetricFamily("hub_scheduler_job_runs", "runs of the job", labels=["name"])
        failures = CounterMetricFamily(
            "hub_scheduler_job_failures", "runs of the job that raised", labels=["name"]
        )
        for job in self.worker.jobs():
            if job.last_duration_s is not None:
                duration.add_metric([job.name], job.last_duration_s)
            runs.add_metric([job.name], job.runs)
            failures.add_metric([job.name], job.failures)
        yield from (duration, runs, failures)


def registry(worker: Worker) -> CollectorRegistry:
    """A registry holding only this worker's series (not the process-wide default one)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(WorkerCollector(worker))
    return reg


def render(reg: CollectorRegistry) -> bytes:
    return generate_latest(reg)
