"""The yellow service: handlers for the methods of `idl/yellow.thrift`."""

from __future__ import annotations

from hn_idl.yellow import Yellow  # pants: no-infer-dep (generated service module)
from hn_runtime import Service
from hn_yellow import __version__


class YellowService(Service):
    name = "yellow"
    idl = Yellow
    version = __version__
