"""Every example in configs/ loads and validates as it ships (the README points users at them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_connector_file
from hub.runtime.validation import validate

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_config_validates(path: Path) -> None:
    specs = load_connector_file(str(path))
    assert specs
    for spec in specs:
        valid = validate(spec)
        assert not valid.warnings, valid.warnings  # an example uses no unsupported property


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_an_example_that_says_truncates_are_kept_emits_them(path: Path) -> None:
    # (four said the sink stayed equal "including truncates", and the MySQL ones "kept equal
    # to the source", while their source kept Debezium's default skipped.operations=t: a
    # truncated table stayed whole in the sink)
    text = " ".join(" ".join(line.lstrip("#").split()) for line in path.read_text().splitlines())
    if "truncates" not in text and "equal to the source" not in text:
        return
    for spec in load_connector_file(str(path)):
        valid = validate(spec)
        if valid.cls.type == "source":
            skipped = getattr(valid.config, "skipped_operations", None)
            assert skipped is not None and "t" not in str(skipped).split(","), path.name
