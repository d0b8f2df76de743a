from __future__ import annotations

from pydantic import Field

from hub.runtime.api import ConnectorConfig


class FileSinkConfig(ConnectorConfig):
    file: str = Field("", description="file to append to; stdout when empty")
