"""The SDK is a game client's: importing it loads the codec, never the server's ZeroMQ or Prometheus."""

from __future__ import annotations

import subprocess
import sys

from hn_process import child_env


def test_importing_the_sdk_loads_no_server_module():
    code = (
        "import sys, hn_client; "
        "assert 'zmq' not in sys.modules and 'prometheus_client' not in sys.modules, "
        "sorted(m for m in ('zmq', 'prometheus_client', 'hn_runtime') if m in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
