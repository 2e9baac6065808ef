"""The sso service: handlers for the methods of `idl/sso.thrift`."""

from __future__ import annotations

from hn_idl.sso import Sso  # pants: no-infer-dep (generated service module)
from hn_runtime import Service
from hn_sso import __version__


class SsoService(Service):
    name = "sso"
    idl = Sso
    version = __version__
