from __future__ import annotations

from pydantic import Field

from hub.runtime.api import ConnectorConfig


class FileSourceConfig(ConnectorConfig):
    file: str = Field("", description="file to read; stdin when empty")
    topic: str = Field(description="topic to write the lines to")
    batch_size: int = Field(2000, alias="batch.size", ge=1, description="most lines per poll")
