from __future__ import annotations

import os

from pydantic import Field, field_validator

from hub.runtime.api import ConnectorConfig


class FileSinkConfig(ConnectorConfig):
    file: str = Field("", description="file to append to; stdout when empty")

    @field_validator("file")
    @classmethod
    def _not_a_directory(cls, v: str) -> str:
        # (it failed at run time only, "[Errno 21] Is a directory", retried for ever)
        if v and os.path.isdir(v):
            raise ValueError(f"{v} is a directory: name a file in it")
        return v
