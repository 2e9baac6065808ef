"""The brokerlist service: handlers for the methods of `idl/brokerlist.thrift`."""

from __future__ import annotations

from hn_brokerlist import __version__
from hn_idl.brokerlist import Brokerlist  # pants: no-infer-dep (generated service module)
from hn_runtime import Service


class BrokerlistService(Service):
    name = "brokerlist"
    idl = Brokerlist
    version = __version__
