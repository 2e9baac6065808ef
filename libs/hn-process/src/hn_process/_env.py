"""The environment of a child Python."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

__all__ = ["child_env"]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child Python that imports what this one imports (a test
    sandbox, a PEX, a venv), with `extra` on top.

    The import path is made absolute, so a child started in another working directory (the data
    tier's agent runs in its scratch folder) finds the same modules.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)
    env.update(extra or {})
    return env
