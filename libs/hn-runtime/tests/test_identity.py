"""Service identity: a CURVE authority names the service each key acts as; servers apply its rules.

Real sockets: servers on loopback with CURVE and an authority file, clients presenting the keys
the authority names (or keys it does not), one process unless said.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_runtime import ServiceUnavailable, Session, Unauthenticated, get_service
from hn_runtime.curve import Authority, AuthorityDocument, CurveConfig, CurveKeys, LocalIdentities, write_authority
from hn_runtime.curve import main as curve_cli
from hn_runtime.testing import RunningService, capture_logs, running, spawn_service, wait_for
from hn_runtime.testing.echo import EchoService
from hn_runtime.wire import decode, encode, load_idl

from _runtime_helpers import metric, scaled

GRANTS = {"session": ["broker"], "push": ["broker", "match"]}
WHOAMI = load_idl(Echo).methods["whoami"]


class IdentityEcho(EchoService):
    """Echo that says what it learnt of its caller; `bump` and `record` need the push grant."""

    required_grants = {"bump": "push", "record": "push"}

    def on_whoami(self, session: Session, request: Any) -> str:
        return f"{session.id}|{session.client}|{session.client_rtt_us}|{session.peer_service}"


@pytest.fixture
def identities(tmp_path: Path) -> LocalIdentities:
    return LocalIdentities(str(tmp_path / "curve"), ("echo", "broker", "match", "sso"), grants=GRANTS)


@contextlib.contextmanager
def identity_echo(identities: LocalIdentities, **curve: Any) -> Iterator[RunningService]:
    config = CurveConfig(identities.keys("echo"), authority=identities.path, **curve)
    with running(IdentityEcho(), curve=config) as svc:
        yield svc


def whoami(svc: RunningService, keys: CurveKeys, **stamped: Any) -> str:
    """`whoami` as a broker forwards a client's call: session id, client address and round trip stamped."""
    body = encode(WHOAMI.args_cls(), WHOAMI.args_spec)
    forwarded = svc.proxy(curve_keys=keys).forward(WHOAMI, body, **stamped)
    return str(decode(forwarded.body, WHOAMI.result_spec).success)


def unauthorized(caller: str, method: str = "bump") -> float:
    return metric("hn_unauthorized_calls_total", service="echo", method=method, caller=caller)


# -- who the caller is -------------------------------------------------------------------------


def test_each_request_carries_the_service_its_key_acts_as(identities: LocalIdentities) -> None:
    anonymous = CurveKeys.generate()  # let in by the allow-list alone: no identity
    with identity_echo(identities, allowed=frozenset({anonymous.public})) as svc:
        assert svc.server.knows_callers
        assert whoami(svc, identities.keys("broker")).endswith("|broker")
        assert whoami(svc, identities.keys("match")).endswith("|match")
        assert whoami(svc, anonymous).endswith("|None")


def test_a_key_the_authority_does_not_name_gets_no_connection(identities: LocalIdentities) -> None:
    with identity_echo(identities) as svc:
        with pytest.raises(ServiceUnavailable, match="refused this client's CURVE key"):
            svc.proxy(curve_keys=CurveKeys.generate(), timeout=scaled(5)).echo(payload=b"let me in")
        plaintext = get_service(Echo, endpoints=[svc.endpoints["rep"]], timeout=scaled(2))
        with pytest.raises(ServiceUnavailable):
            plaintext.echo(payload=b"let me in")


# -- whose session ------------------------------------------------------------------------------


def test_what_a_broker_stamps_is_kept_only_from_the_session_grant(identities: LocalIdentities) -> None:
    with identity_echo(identities) as svc:
        stamped = {"session_id": "42", "client": "203.0.113.7:5555", "client_rtt_us": 800}
        assert whoami(svc, identities.keys("broker"), **stamped) == "42|203.0.113.7:5555|800|broker"
        # match may push, but it does not speak for players: it is not told who it is.
        assert whoami(svc, identities.keys("match"), **stamped) == "None|None|None|match"
        assert whoami(svc, identities.keys("sso"), **stamped) == "None|None|None|sso"


def test_without_an_authority_identities_are_unknown_and_sessions_kept() -> None:
    """CURVE with a plain allow-list (or CURVE off) knows no identities: every caller is trusted."""
    server, friend = CurveKeys.generate(), CurveKeys.generate()
    with running(IdentityEcho(), curve=CurveConfig(server, allowed=frozenset({friend.public}))) as svc:
        assert not svc.server.knows_callers
        assert whoami(svc, friend, session_id="42") == "42|None|None|None"
        assert svc.proxy(curve_keys=friend).bump() >= 1
    with running(IdentityEcho()) as plain:
        assert whoami(plain, CurveKeys.generate(), session_id="42") == "42|None|None|None"


# -- grants -------------------------------------------------------------------------------------


def test_a_method_needing_a_grant_refuses_other_callers_clearly(identities: LocalIdentities) -> None:
    with identity_echo(identities) as svc:
        before = unauthorized("sso")
        with capture_logs() as logs:
            with pytest.raises(Unauthenticated, match="granted 'push' in the CURVE authority; this caller is sso"):
                svc.proxy(curve_keys=identities.keys("sso")).bump()
        assert unauthorized("sso") == before + 1
        refusal = next(e for e in logs if e["event"] == "request refused")
        assert refusal["code"] == "unauthenticated" and refusal["method"] == "bump"
        assert svc.service.bumps == 0, "the handler never ran"
        assert svc.proxy(curve_keys=identities.keys("match")).bump() == 1
        assert svc.proxy(curve_keys=identities.keys("sso")).echo(payload=b"free") == b"free", "other methods are open"


def test_pushed_work_needing_a_grant_is_dropped_and_counted(identities: LocalIdentities) -> None:
    with identity_echo(identities) as svc:
        before = unauthorized("sso", "record")
        svc.proxy("PUSH", curve_keys=identities.keys("sso")).record(n=1)
        wait_for(lambda: unauthorized("sso", "record") == before + 1, message="the refused push counted")
        svc.proxy("PUSH", curve_keys=identities.keys("broker")).record(n=2)
        wait_for(lambda: svc.service.recorded == [2], message="the granted push recorded, the other never")


def test_a_key_added_to_the_authority_gets_its_identity_without_a_restart(identities: LocalIdentities) -> None:
    with identity_echo(identities) as svc:
        newcomer = CurveKeys.generate()
        with pytest.raises(ServiceUnavailable):
            svc.proxy(curve_keys=newcomer, timeout=scaled(3)).echo(payload=b"x")
        document = json.loads(Path(identities.path).read_text())
        document["services"]["match"].append(newcomer.public)
        write_authority(identities.path, document["services"], document["grants"])

        def newcomer_is_match() -> bool:
            with contextlib.suppress(ServiceUnavailable):
                return whoami(svc, newcomer).endswith("|match")
            return False

        # A refused client tries again by itself (0.5 s, doubling): no restart on either side.
        wait_for(newcomer_is_match, timeout=30, interval=0.2, message="the newly named key to get in as match")


# -- the authority file -------------------------------------------------------------------------


def test_the_authority_file_is_checked_when_read(tmp_path: Path) -> None:
    key = CurveKeys.generate().public
    cases = [
        ("[]", "must be an object"),
        ('{"services": {}, "extra": 1}', "unknown fields: extra"),
        ('{"services": {"Bad Name": []}}', "is not a service name"),
        ('{"services": {"sso": ["short"]}}', "40-character"),
        (json.dumps({"services": {"sso": [key], "match": [key]}}), "listed for both sso and match"),
        (json.dumps({"services": {"sso": [key]}, "grants": {"push": "sso"}}), "grants.push must be a list"),
        ("not json", "is not JSON"),
    ]
    for text, message in cases:
        with pytest.raises(ValueError, match=message):
            AuthorityDocument.parse(text)
    path = tmp_path / "authority.json"
    path.write_text(json.dumps({"services": {"sso": [key]}, "grants": {"push": ["sso"]}}))
    authority = Authority(str(path))
    assert authority.service_of(key) == "sso" and authority.granted("sso", "push")
    assert not authority.granted("sso", "session") and not authority.granted(None, "push")
    path.write_text("{ broken")
    assert authority.service_of(key) == "sso", "a bad rewrite keeps the last good reading"


def test_curve_configuration_with_an_authority_from_the_environment(identities: LocalIdentities) -> None:
    config = CurveConfig.from_env(identities.env("echo"))
    assert config is not None and config.keys == identities.keys("echo") and config.authority == identities.path
    with pytest.raises(ValueError, match="no key pair"):
        CurveConfig.from_env({"HN_CURVE_AUTHORITY": identities.path})
    with pytest.raises(FileNotFoundError):
        CurveConfig(identities.keys("echo"), authority="/nonexistent/authority.json")


def test_the_cli_reads_an_authority_and_secret_key_files(
    identities: LocalIdentities, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert curve_cli(["check", identities.path]) == 0
    out = capsys.readouterr().out
    assert f"broker           {identities.keys('broker').public}" in out and "grant session: broker" in out
    assert curve_cli(["secret", identities.key_file("sso")]) == 0
    secret = capsys.readouterr().out.strip()
    raw = tmp_path / "raw.key"
    raw.write_text(secret + "\n")  # as a deploy writes it from a secret store
    assert CurveKeys.load(str(raw)) == identities.keys("sso")


def test_a_service_process_applies_the_authority_it_is_configured_with(identities: LocalIdentities) -> None:
    with spawn_service("hn_runtime.testing.echo", service="echo", env=identities.env("echo")) as proc:
        assert proc.curve_public_key == identities.keys("echo").public
        echo = get_service(
            Echo,
            endpoints=[proc.endpoints["rep"]],
            curve_server_key=proc.curve_public_key,
            curve_keys=identities.keys("match"),
        )
        assert echo.with_options(session_id="42").whoami().startswith("|"), "match's session id dropped"
        broker = get_service(
            Echo,
            endpoints=[proc.endpoints["rep"]],
            curve_server_key=proc.curve_public_key,
            curve_keys=identities.keys("broker"),
        )
        assert broker.with_options(session_id="42").whoami().startswith("42|")


# -- the host's libsodium -------------------------------------------------------------------------


@pytest.mark.parametrize("prefer", ["1", "0"])
def test_curve_uses_the_hosts_libsodium_unless_told_not_to(prefer: str) -> None:
    import ctypes.util

    if ctypes.util.find_library("sodium") is None:
        pytest.skip("no libsodium on this host (scripts/install-system-packages.sh installs libsodium23)")
    probe = (
        "import hn_runtime, zmq; zmq.curve_keypair()\n"
        "maps = open('/proc/self/maps').read()\n"
        "print(hn_runtime._sodium.SYSTEM_LIBSODIUM or '-', any('/libsodium.so' in l for l in maps.splitlines()))\n"
    )
    env = {**os.environ, "HN_SYSTEM_LIBSODIUM": prefer}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    soname, loaded = out.split()
    if prefer == "1":
        assert soname.startswith("libsodium.so.") and loaded == "True"
    else:
        assert soname == "-" and loaded == "False"
