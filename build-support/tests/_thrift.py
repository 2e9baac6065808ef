"""The IDLs a game client compiles, and the Thrift compiler run on them (the tests' one way in).

`thrift` is Debian's thrift-compiler (0.17), which scripts/install-system-packages.sh installs.
Its `json` generator writes the whole IDL as JSON, doc comments included: the contract tests read
IDLs through it rather than parse Thrift themselves.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

# The repository (the sandbox root under Pants, which holds these files: //:client-idl).
REPO = Path(__file__).resolve().parents[2]
#: where `include "hn_runtime.thrift"` is found
INCLUDE = REPO / "libs" / "hn-runtime" / "idl"
#: every IDL a game client uses (a service's IDL includes the runtime's)
CLIENT_IDLS = [INCLUDE / "hn_runtime.thrift", *sorted(REPO.glob("services/*/idl/*.thrift"))]


def compiler() -> str:
    found = shutil.which("thrift")
    assert found, "no `thrift` on PATH: scripts/install-system-packages.sh installs thrift-compiler"
    return found


def generate(idl: Path, generator: str, out: Path) -> subprocess.CompletedProcess[str]:
    """`thrift --gen <generator>` on `idl`, its output in `out`."""
    return subprocess.run(
        [compiler(), "-I", str(INCLUDE), "--gen", generator, "-out", str(out), str(idl)],
        capture_output=True,
        text=True,
        check=False,
    )


def parsed(idl: Path) -> dict[str, Any]:
    """The IDL as the compiler reads it (its json generator's document)."""
    with tempfile.TemporaryDirectory() as out:
        done = generate(idl, "json", Path(out))
        assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
        (document,) = Path(out).glob("*.json")
        return json.loads(document.read_text())  # type: ignore[no-any-return]


def relative(path: Path) -> str:
    return str(path.relative_to(REPO))
