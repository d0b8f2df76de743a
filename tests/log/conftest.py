from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.log import Log


@pytest.fixture
def data_dir(tmp_path: Path) -> str:
    return str(tmp_path / "data")


@pytest.fixture
def log(data_dir: str) -> Iterator[Log]:
    lg = Log(data_dir, background=False)
    yield lg
    lg.close()
