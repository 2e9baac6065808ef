"""The match service: handlers for the methods of `idl/match.thrift`."""

from __future__ import annotations

from hn_idl.match import Match  # pants: no-infer-dep (generated service module)
from hn_match import __version__
from hn_runtime import Service


class MatchService(Service):
    name = "match"
    idl = Match
    version = __version__
