"""The broker service: handlers for the methods of `idl/broker.thrift`."""

from __future__ import annotations

from hn_broker import __version__
from hn_idl.broker import Broker  # pants: no-infer-dep (generated service module)
from hn_runtime import Service


class BrokerService(Service):
    name = "broker"
    idl = Broker
    version = __version__
