from __future__ import annotations

from pydantic import Field

from hub.runtime.api import ConnectorConfig


class DatagenConfig(ConnectorConfig):
    topic: str = Field(description="topic to write to")
    rate: float = Field(
        1000, ge=0, allow_inf_nan=False, description="records per second per task; 0 = unthrottled"
    )
    keys: int = Field(1000, ge=1, description="distinct keys (key-0 .. key-N-1)")
    value_size: int = Field(
        64, alias="value.size", ge=0, le=1 << 20, description="bytes of payload text (<= 1 MiB)"
    )
    max_records: int = Field(-1, alias="max.records", ge=-1, description="stop after N; -1 = never")
    seed: int = Field(0, description="seed: the same seed gives the same records")
    batch_size: int = Field(
        1000, alias="batch.size", ge=1, le=10_000_000, description="most records per poll"
    )
