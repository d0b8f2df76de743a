"""docker/: no container engine runs on the machines this is developed on, so the files are
checked here for what can be checked without one: they parse, everything they copy or mount
exists, the command they run is one hub accepts, and the config they run validates with the
environment they give it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from hub.config import load_connector_file
from hub.runtime.validation import validate

ROOT = Path(__file__).parent.parent
DOCKER = ROOT / "docker"


def _instructions() -> list[tuple[str, str]]:
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_copies_what_exists_and_runs_hub_as_non_root() -> None:
    steps = _instructions()
    copies = [rest for word, rest in steps if word == "COPY" and "--from" not in rest]
    assert copies
    for rest in copies:
        for src in rest.split()[:-1]:
            assert (ROOT / src).exists(), src
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert json.loads(dict(steps)["ENTRYPOINT"]) == ["hub"]
    health = json.loads(dict(steps)["HEALTHCHECK"].split("CMD", 1)[1])
    assert health[:2] == ["python", "-c"]
    compile(health[2], "healthcheck", "exec")  # the probe is valid Python
    assert "8083" in health[2]
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text()
    for src in ("hub", "connectors", "pyproject.toml", "setup.py"):
        assert re.search(rf"^!{re.escape(src)}", ignore, re.M), src


def test_compose_runs_a_config_that_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    hub = compose["services"]["hub"]
    assert (DOCKER / hub["build"]["context"] / hub["build"]["dockerfile"]).exists()
    mounts = dict(v.split(":")[:2] for v in hub["volumes"] if v.startswith("."))
    assert (DOCKER / next(iter(mounts))).is_dir()
    command = hub["command"]
    from hub.cli.connect import serve

    ctx = serve.make_context("serve", list(command[1:]))  # hub accepts the arguments
    configs = ctx.params["configs"]
    assert len(configs) == 2
    for name, value in hub["environment"].items():
        monkeypatch.setenv(name, str(value))
    for config in configs:
        local = ROOT / "configs" / Path(config).name
        assert config.startswith("/etc/hub/") and local.exists()
        for spec in load_connector_file(str(local)):
            validate(spec)
    assert "wal_level=logical" in compose["services"]["postgres"]["command"]
    mariadb = " ".join(compose["services"]["mariadb"]["command"])
    for flag in ("--binlog-format=ROW", "--binlog-row-image=FULL", "--binlog-row-metadata=FULL"):
        assert flag in mariadb
    assert hub["environment"]["MYSQL_HOST"] == "mariadb"
    assert hub["environment"]["HUB_MYSQL_WAREHOUSE"] != hub["environment"]["HUB_WAREHOUSE"]
    assert hub["environment"]["PGHOST"] == "postgres"
    assert all(p.startswith("127.0.0.1:") for p in hub["ports"])  # not on every interface
