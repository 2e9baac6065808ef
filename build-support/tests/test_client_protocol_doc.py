"""docs/client-protocol.md and the code cannot drift apart.

Every figure the page states as `` `Name.field` = value `` (in its prose) or as a row of its
figures table is the code's default: `Name` is a config class or a constants module this test
knows (below), read from the code itself. The table covers every per-connection limit, the idle
timeout and the mailbox. The page's error table lists every ClientError with its number, and its
pushes table every push the IDLs declare.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hn_broker import BrokerConfig, ClientLimits
from hn_client import BrokerConnection
from hn_edge import SessionState
from hn_idl.broker import constants as broker_constants
from hn_idl.client import constants as client_constants
from hn_idl.client.ttypes import ClientError
from hn_idl.match import constants as match_constants
from hn_match import Timing
from hn_sso import SsoConfig

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "client-protocol.md"

_ROW = re.compile(r"^\| `(?P<name>\w+\.\w+)` \| (?P<value>[^|]+?) \|", re.M)
_INLINE = re.compile(r"`(?P<name>\w+\.\w+)` = (?P<value>\"[^\"]*\"|\d+(?:\.\d+)?)")
_CODE_ROW = re.compile(r"^\| (?P<number>\d+) \| `(?P<name>[A-Z_]+)` \|", re.M)
_PUSH_ROW = re.compile(r"^\| `(?P<name>[a-z]\w*\.[A-Z][a-z]\w*)` \|", re.M)


def _module_constants(relative: str) -> dict[str, Any]:
    """A module's top-level `NAME = literal` assignments, read without importing it (a private
    module of another package: its values, not its names)."""
    found: dict[str, Any] = {}
    for node in ast.parse((REPO / relative).read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            found.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    return found


def _defaults(function: Callable[..., Any]) -> dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items() if p.default is not p.empty}


#: the names the page may use, each with what the code says
SOURCES: dict[str, Callable[[], Any]] = {
    "client": lambda: vars(client_constants),
    "broker": lambda: vars(broker_constants),
    "brokerlist": lambda: _module_constants("services/brokerlist/src/hn_brokerlist/_service.py"),
    "packets": lambda: _module_constants("services/broker/src/hn_broker/_packets.py"),
    "ClientLimits": lambda: dataclasses.asdict(ClientLimits()),
    "BrokerConfig": lambda: {k: v for k, v in vars(BrokerConfig()).items() if k != "limits"},
    "SessionState": lambda: _defaults(SessionState),
    "SsoConfig": lambda: dataclasses.asdict(SsoConfig(pg_dsn="", redis_url="")),
    "BrokerConnection": lambda: _defaults(BrokerConnection),
    "Timing": lambda: dataclasses.asdict(Timing()),
}

#: what the table must state, at least
REQUIRED = {
    *(f"ClientLimits.{f.name}" for f in dataclasses.fields(ClientLimits)),
    "BrokerConfig.idle_timeout_s",
    "BrokerConfig.call_timeout_s",
    "BrokerConfig.max_connections_per_address",
    "BrokerConfig.capacity",
    "BrokerConfig.fence_after_s",
    "BrokerConfig.fence_hold_s",
    "SessionState.mailbox_ttl_s",
    "SessionState.mailbox_max",
    "packets.MAX_TRACE_ID",
    "client.PACKET_VERSION",
    "broker.PROTOCOL_VERSION",
}

TEXT = DOC.read_text()


def figures_table() -> str:
    start = TEXT.index("<!-- figures:")
    return TEXT[start : TEXT.index("<!-- end of figures -->", start)]


def stated() -> list[tuple[str, str]]:
    """Every (name, value) the page states, table rows and prose alike."""
    rows = [(m["name"], m["value"].strip()) for m in _ROW.finditer(figures_table())]
    inline = [(m["name"], m["value"]) for m in _INLINE.finditer(TEXT)]
    return rows + inline


def code_value(name: str) -> Any:
    owner, _, field = name.partition(".")
    assert owner in SOURCES, f"the page names {name}: no code this test knows as {owner!r}"
    values = SOURCES[owner]()
    assert field in values, f"the page names {name}: {owner} has no {field!r}"
    return values[field]


def same(written: str, value: Any) -> bool:
    if written.startswith('"'):
        return written == f'"{value}"'
    return isinstance(value, (int, float)) and not isinstance(value, bool) and float(written) == float(value)


def test_the_page_states_figures_in_its_table_and_its_prose() -> None:
    table = {name for name, _ in _ROW.findall(figures_table())}
    assert REQUIRED <= table, f"the figures table leaves out {sorted(REQUIRED - table)}"
    assert len(stated()) > len(table), "the prose states figures too"


@pytest.mark.parametrize(("name", "written"), stated(), ids=[f"{n}={v}" for n, v in stated()])
def test_each_figure_is_the_codes_default(name: str, written: str) -> None:
    value = code_value(name)
    assert same(written, value), f"docs/client-protocol.md says {name} = {written}, the code {value!r}"


def test_the_error_table_lists_every_client_error_by_its_number() -> None:
    listed = {int(m["number"]): m["name"] for m in _CODE_ROW.finditer(TEXT)}
    assert listed == ClientError._VALUES_TO_NAMES


def test_the_push_table_lists_every_declared_push() -> None:
    listed = {m["name"] for m in _PUSH_ROW.finditer(TEXT)}
    assert listed == {*client_constants.PUSHES, *match_constants.PUSHES}
