"""hub.log: an embedded, Kafka-like partitioned log.

    from hub.log import Log, TopicPartition

    with Log("data") as log:
        log.create_topic("orders", partitions=8, config={"retention.ms": "86400000"})
        producer = log.producer()
        producer.send("orders", b'{"id": 1}', key=b"1")
        producer.flush()                      # durable (fsync) and visible to readers
        consumer = log.consumer(group_id="billing", auto_offset_reset="earliest")
        consumer.subscribe(["orders"])
        for record in consumer.poll(timeout=1.0):
            ...
        consumer.commit()

On disk: Kafka's record batch format v2, segments with offset and time indexes
(see hub.log.files for the layout).
"""

from hub.log.codec import ACCELERATED
from hub.log.config import TopicConfig
from hub.log.consumer import Consumer, NoOffsetError
from hub.log.errors import (
    CommitNotMadeError,
    CorruptRecordError,
    InvalidTopicError,
    KeylessRecordError,
    LogError,
    LogLockedError,
    LogStorageError,
    OffsetOutOfRangeError,
    ProducerFencedError,
    ReadOnlyLogError,
    RebalanceInProgressError,
    RecordTooLargeError,
    TopicExistsError,
    UnknownPartitionError,
    UnknownTopicError,
)
from hub.log.group import GroupInfo, OffsetAndMetadata, PartitionLag
from hub.log.log import Log
from hub.log.packed import Packed
from hub.log.partition import PartitionClosedError
from hub.log.partitioner import default_partition, murmur2, to_positive
from hub.log.producer import Producer
from hub.log.record import AppendInfo, PartitionInfo, Record, TopicInfo, TopicPartition

__all__ = [
    "Packed",
    "ACCELERATED",
    "AppendInfo",
    "Consumer",
    "CorruptRecordError",
    "GroupInfo",
    "InvalidTopicError",
    "Log",
    "LogError",
    "LogLockedError",
    "LogStorageError",
    "NoOffsetError",
    "OffsetAndMetadata",
    "OffsetOutOfRangeError",
    "ProducerFencedError",
    "PartitionInfo",
    "PartitionClosedError",
    "PartitionLag",
    "Producer",
    "ReadOnlyLogError",
    "CommitNotMadeError",
    "RebalanceInProgressError",
    "Record",
    "KeylessRecordError",
    "RecordTooLargeError",
    "TopicConfig",
    "TopicExistsError",
    "TopicInfo",
    "TopicPartition",
    "UnknownPartitionError",
    "UnknownTopicError",
    "default_partition",
    "murmur2",
    "to_positive",
]
