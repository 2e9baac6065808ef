"""README's "Writing a service" runs as written: its blocks become a package started as a process,
which registers in a real yellow, and the README's caller block calls it through discovery."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from hn_process import child_env
from hn_runtime.discovery import set_default_directory
from hn_runtime.testing import running, time_factor, wait_for
from hn_yellow import YellowService
from hn_yellow_client import YellowDiscovery

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def example_blocks() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Writing a service") :]
    section = section[: section.index("\n## ", 1)]
    return _BLOCK.findall(section)


def test_the_readme_names_the_files_it_shows() -> None:
    blocks = example_blocks()
    assert [b.splitlines()[0] for b in blocks[:2]] == ["# hn_greeter/_service.py", "# hn_greeter/__main__.py"]
    assert len(blocks) == 3, "the service, its entry point, a caller"


def test_the_readme_service_serves_and_its_caller_calls_it(tmp_path: Path) -> None:
    service, entry_point, caller = example_blocks()
    package = tmp_path / "hn_greeter"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_service.py").write_text(service)
    (package / "__main__.py").write_text(entry_point)
    with running(YellowService()) as yellow:
        address = yellow.endpoints["rep"]
        env = child_env({"HN_YELLOW": address, "HN_BIND_HOST": "127.0.0.1", "HN_LOG_LEVEL": "warning"})
        env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
        process = subprocess.Popen([sys.executable, "-m", "hn_greeter"], env=env)
        discovery = YellowDiscovery([address])
        set_default_directory(discovery.directory)
        try:
            wait_for(
                lambda: [i for i in discovery.directory.instances("greeter") if i.state == "up"],
                timeout=30,
                message="the README's service registered in yellow",
            )
            exec(compile(caller, "README.md (caller)", "exec"), {})  # it asserts the greeting
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30 * time_factor()) == 0, "drained and exited 0 on SIGTERM"
        finally:
            set_default_directory(None)
            discovery.directory.close()
            if process.poll() is None:
                process.kill()
                process.wait()
