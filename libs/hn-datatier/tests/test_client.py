"""The client side is all a service gets: importing it loads, and reaches, nothing of the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hn_datatier.testing import imports_beyond_the_client
from hn_process import child_env


def test_the_client_reaches_neither_the_launcher_nor_the_agent_nor_the_fixtures() -> None:
    # Statically, as Pants reads imports to decide what a PEX carries.
    assert imports_beyond_the_client("hn_datatier") == []


def test_importing_the_client_loads_only_the_client() -> None:
    # In a fresh interpreter: what `import hn_datatier` runs (a gevent entry point may do it
    # before patching, so no redis, psycopg2 or prometheus_client either).
    code = "import sys, json, hn_datatier; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    ours = [m for m in loaded if m.startswith("hn_datatier.")]
    assert ours == [
        "hn_datatier._batch",
        "hn_datatier._client",
        "hn_datatier._guard",
        "hn_datatier._migrate",
        "hn_datatier._pg",
        "hn_datatier._probe",
    ]
    assert not {"redis", "psycopg2", "prometheus_client"} & set(loaded)


def test_a_reach_beyond_the_client_is_found_wherever_the_import_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "hn_fake_service"
    package.mkdir()
    (package / "__init__.py").write_text("from hn_fake_service import _service\n")
    (package / "_service.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from hn_datatier import PgPool\n"
        "if TYPE_CHECKING:\n"
        "    import hn_datatier.agent.__main__\n"
        "def start():\n"
        "    from hn_datatier.local import DataTier\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    chains = imports_beyond_the_client("hn_fake_service")
    assert "hn_fake_service -> hn_fake_service._service -> hn_datatier.agent" in chains
    assert "hn_fake_service -> hn_fake_service._service -> hn_datatier.agent.__main__" in chains
    assert "hn_fake_service -> hn_fake_service._service -> hn_datatier.local" in chains
    assert not any(chain.endswith("-> hn_datatier") for chain in chains)
