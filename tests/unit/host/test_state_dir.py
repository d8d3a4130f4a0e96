"""A monitor whose ``monitoring.state_dir`` cannot be created exits 2 naming the setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamapp.host import StateDirError, ensure_state_dir
from tests.unit.host.test_refusal import _lines, _run


def test_ensure_state_dir_names_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StateDirError, match="STREAMAPP_MONITORING__STATE_DIR") as info:
        ensure_state_dir(blocker / "state")
    assert "monitoring.state_dir" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("processes", ["1", "2"])
def test_monitor_with_an_unusable_state_dir_exits_2_with_one_line(
    tmp_path: Path, processes: str
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = _run(["monitor", "--processes", processes], tmp_path, STREAMAPP_LOG__FORMAT="json",
                STREAMAPP_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1",
                STREAMAPP_MONITORING__STATE_DIR=str(blocker / "state"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = _lines(proc)
    record = json.loads(line)
    assert "STREAMAPP_MONITORING__STATE_DIR" in record["msg"]
    assert str(blocker / "state") in record["msg"]
