"""run_tool: a tool's whole output, or a failure that carries it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hn_process import ToolFailed, run_tool


def test_the_output_of_both_streams_comes_back(tmp_path: Path) -> None:
    out = run_tool(["sh", "-c", "pwd; echo to-out; echo to-err >&2"], cwd=tmp_path, timeout=30)
    assert out.splitlines() == [str(tmp_path), "to-out", "to-err"]


def test_a_failure_says_the_status_and_the_output(tmp_path: Path) -> None:
    with pytest.raises(ToolFailed, match="exited with 3:\nsaid this") as failed:
        run_tool(["sh", "-c", "echo said this; exit 3"], cwd=tmp_path, timeout=30)
    assert failed.value.returncode == 3


def test_the_tool_gets_no_python_import_path(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "/sandbox", "KEPT": "yes"}
    out = run_tool(["sh", "-c", 'echo "${PYTHONPATH:-none} ${KEPT}"'], cwd=tmp_path, timeout=30, env=env)
    assert out.strip() == "none yes"
