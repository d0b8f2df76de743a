"""Everything the log writes is owner-only: records may hold secrets (connector configs in
``__connect_configs``), so other users of the machine must not read the data directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hub.log import Log, TopicPartition


def _modes(root: Path) -> dict[str, int]:
    out = {str(root): stat.S_IMODE(os.stat(root).st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            out[path] = stat.S_IMODE(os.stat(path).st_mode)
    return out


def test_files_and_directories_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: the log must not rely on the user's
    try:
        data = tmp_path / "data"
        with Log(str(data), background=False) as log:
            config = {"segment.bytes": "2000", "index.interval.bytes": "100"}
            log.create_topic("t", 2, {**config, "cleanup.policy": "compact"})
            prod = log.producer()
            for i in range(60):
                prod.send("t", b'{"password": "s3cret"}', key=b"k%d" % (i % 7))
                prod.flush()
            c = log.consumer(group_id="g", auto_offset_reset="earliest")
            c.assign([TopicPartition("t", 0)])
            c.poll(0)
            c.commit()
            log.run_maintenance(force_compaction=True)
        with Log(str(data), background=False):  # and the lock of a running writer
            modes = _modes(data)
    finally:
        os.umask(old)
    assert any(p.endswith(".index") for p in modes) and any(p.endswith(".lock") for p in modes)
    loose = {p: oct(m) for p, m in modes.items() if m != (0o700 if os.path.isdir(p) else 0o600)}
    assert not loose, loose


def test_an_existing_open_data_directory_is_closed_to_others(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    with Log(str(data), background=False):
        pass
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
