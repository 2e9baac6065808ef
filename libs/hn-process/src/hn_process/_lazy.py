"""Package names loaded on first use: a service package's `__init__` stays light, so that its
entry point (`python -m hn_sso`, the PEX's `main`) patches gevent before the runtime is imported."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` (PEP 562) for `package`: name -> the module that defines it.

    Keep the same imports under `if TYPE_CHECKING:` in the package, for type checkers and for
    Pants' dependency inference (which reads them).
    """
    table = dict(homes)

    def __getattr__(name: str) -> object:
        home = table.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home), name)

    return __getattr__
