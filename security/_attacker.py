"""What the security tier's attacker uses against a running platform, and how the tier proves that
nothing changed.

The attacker stands on the network: it opens TCP connections to brokers from addresses of its own
(any of 127.0.0.0/8 reaches a loopback broker, which then sees a client of that address, so an
attacker and its victim are told apart by address as they would be on the internet), talks to the
ZeroMQ ports with a key pair of its own, a service's key pair, or none, and dials the data tier.
What it may have changed is read back directly from PostgreSQL (the primary, as the superuser) and Redis
(the services' password), as an operator would, never through the service under attack.
"""

from __future__ import annotations

import itertools
import os
import socket
import urllib.parse
from dataclasses import dataclass
from typing import Any

import psycopg2

from hn_client.testing import RawClient, fresh_name
from hn_datatier import redis_from_url
from hn_datatier.local import DataTier
from hn_edge import SessionState
from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import Packet, PacketKind
from hn_idl.sso.ttypes import SsoError
from hn_runtime import get_service
from hn_runtime.curve import CurveKeys
from hn_runtime.wire import encode, load_idl, spec_of

from _platform import Platform

__all__ = [
    "Account",
    "account",
    "accounts_named",
    "as_service",
    "connect",
    "deliver_body",
    "descendants",
    "devices_named",
    "fresh_address",
    "listening_sockets",
    "redis_command",
    "registered",
    "rows",
    "session_state",
    "token_of",
]

DELIVER = load_idl("broker").methods["deliver"]
_addresses = itertools.count()


def fresh_address() -> str:
    """A loopback address no other client of this test process connects from (127.<block>.x.y, one
    block per process: test files run side by side may share a data tier's host, never an address)."""
    n = next(_addresses)
    return f"127.{os.getpid() % 200 + 20}.{1 + n // 254 % 254}.{1 + n % 254}"


def connect(platform: Platform, source: str | None = None, *, broker: int = 0) -> RawClient:
    """A raw connection to one of the platform's brokers, from `source` (a fresh address if None)."""
    return RawClient(platform.brokers[broker].endpoints["client"], source=source or fresh_address())


def registered(platform: Platform, source: str | None = None, passwd: str = "password1") -> tuple[RawClient, str]:
    """A player who registered and is logged in over a raw connection: (the connection, the name)."""
    client = connect(platform, source)
    name = fresh_name("sec")
    login = client.call("sso.register", user=name, passwd=passwd)
    assert not isinstance(login, (SsoError, Packet)), login
    client.account, client.token = login.account, login.token
    return client, name


def as_service(platform: Platform, service: str, keys: CurveKeys, kind: str = "REP", **options: Any) -> Any:
    """A client of `service`, found through yellow, presenting `keys` (a service's, or a stranger's)."""
    return get_service(service, kind, directory=platform.discovery.directory, curve_keys=keys, **options)


def deliver_body(session_id: str, event: Any) -> bytes:
    """The body of a `broker.deliver` pushing `event` (a struct of an IDL) to `session_id`'s client."""
    packet = Packet(
        version=PACKET_VERSION,
        kind=PacketKind.PUSH,
        type=f"match.{type(event).__name__}",
        seq=0,
        body=encode(event, spec_of(type(event))),
    )
    return encode(DELIVER.args_cls(session_id=session_id, packet=encode(packet, spec_of(Packet))), DELIVER.args_spec)


def redis_command(port: int, *commands: tuple[str, ...]) -> list[bytes]:
    """Each command sent to a Redis-speaking port as RESP, as any TCP client could, on one
    connection: the first line of each reply (an error is "-..."; a value is its first line)."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, sock.makefile("rb") as answers:
        for command in commands:
            parts = [part.encode() for part in command]
            sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
            replies.append(answers.readline().rstrip(b"\r\n"))
    return replies


# -- reading what the attack may have changed ------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """An account as PostgreSQL holds it, and the devices that log in to it."""

    account_id: int
    display_name: str
    password_hash: str | None
    guest: bool
    devices: frozenset[str]


def rows(tier: DataTier, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """The rows of `sql` on the platform's database, as its superuser."""
    database = urllib.parse.urlsplit(tier.env["HN_PG_DSN"]).path.lstrip("/")
    # The primary itself: through Pgpool a read may go to the replica, a moment behind.
    with (
        psycopg2.connect(tier.pg_direct_dsn(tier.pg_primary, admin=True), dbname=database) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(sql, args)
        return list(cur.fetchall())


def account(tier: DataTier, account_id: int) -> Account:
    ((name, password_hash, guest),) = rows(
        tier, "SELECT display_name, password_hash, guest FROM sso_accounts WHERE account_id = %s", account_id
    )
    devices = rows(tier, "SELECT device_id FROM sso_devices WHERE account_id = %s", account_id)
    return Account(account_id, name, password_hash, guest, frozenset(d for (d,) in devices))


def accounts_named(tier: DataTier, pattern: str) -> int:
    """How many accounts have a display name LIKE `pattern` (case-insensitive, as names are unique)."""
    ((count,),) = rows(tier, "SELECT count(*) FROM sso_accounts WHERE display_name ILIKE %s", pattern)
    return int(count)


def devices_named(tier: DataTier, pattern: str) -> int:
    """How many devices (each made a guest account, or was bound to one) have an id LIKE `pattern`."""
    ((count,),) = rows(tier, "SELECT count(*) FROM sso_devices WHERE device_id LIKE %s", pattern)
    return int(count)


def token_of(tier: DataTier, account_id: int) -> str | None:
    """The account's current session token, read from Redis with the services' password."""
    value = redis_from_url(tier.env["HN_REDIS_URL"]).get(f"sso:acct:{account_id}:tok")
    return None if value is None else value.decode() if isinstance(value, bytes) else str(value)


def session_state(tier: DataTier) -> SessionState:
    """The edge's shared records (who holds a session, its bindings, its mailbox)."""
    return SessionState(redis_from_url(tier.env["HN_REDIS_URL"]))


# -- what listens ---------------------------------------------------------------------------------


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:  # a short-lived child, gone
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _address(hex_address: str, family: int) -> str:
    raw = bytes.fromhex(hex_address)
    if family == socket.AF_INET:
        return socket.inet_ntop(family, raw[::-1])
    # /proc/net/tcp6 writes the address as four host-order 32-bit words.
    return socket.inet_ntop(family, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it."""
    found = [pid]
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:  # gone meanwhile
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as children:
                for child in children.read().split():
                    found.extend(descendants(int(child)))
        except OSError:  # gone meanwhile
            continue
    return found


def listening_sockets(pids: list[int]) -> set[tuple[str, int]]:
    """The (address, port) of every TCP socket in LISTEN that one of `pids` holds."""
    inodes = set().union(*(_socket_inodes(pid) for pid in pids))
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and inode in inodes:  # TCP_LISTEN
                    hex_address, hex_port = local.split(":")
                    found.add((_address(hex_address, family), int(hex_port, 16)))
    return found
