"""Attacks on a broker's game-client port, with production's limits (issue 16): a connection that
floods pings while reading its answers is cut off, one address holds at most so many connections,
and an error packet echoes a bounded prefix of what it refuses. Beside each attack a logged-in
player keeps being served, and its session stays where it was.
"""

from __future__ import annotations

import gevent
import pytest

from hn_broker import BrokerConfig
from hn_client.testing import RawClient
from hn_idl.client.ttypes import ClientError, Packet, PacketKind
from hn_runtime.testing import time_factor
from hn_runtime.wire import encode, spec_of

from _attacker import connect, fresh_address, session_state
from _platform import Platform

pytestmark = pytest.mark.security

LIMITS = BrokerConfig().limits
PER_ADDRESS = BrokerConfig().max_connections_per_address


def still_served(platform: Platform, guest: RawClient) -> None:
    guest.ping()
    assert guest.pushes == []
    assert (
        session_state(platform.tier).broker_of(str(guest.account.account_id))
        == platform.brokers[0].instance.instance_id
    )


def test_a_ping_flood_that_reads_its_answers_is_cut_off(platform: Platform, guest: RawClient) -> None:
    """The attack: 954k pings in 8 s, 96 MB of RATE_LIMITED answers, the broker at 112% of a core."""
    flooder = connect(platform)
    with gevent.Timeout(30 * time_factor()):
        answers, sent = flooder.flood_pings(rounds=1000)  # a million pings at most: cut off long before
    refusals = [p for p in answers if p.kind == PacketKind.ERROR]
    assert [p.error_code for p in refusals] == [ClientError.RATE_LIMITED] * LIMITS.max_rate_strikes
    assert "slow down" in (refusals[0].error_message or "") and "disconnected" in (refusals[-1].error_message or "")
    # The burst, then half a burst after each pause, plus what trickles in at the rate meanwhile.
    pongs = len(answers) - len(refusals)
    assert pongs <= LIMITS.burst * (1 + LIMITS.max_rate_strikes), pongs
    assert sent < 1000, "cut off long before the flood ended"
    still_served(platform, guest)


def test_one_address_holds_at_most_its_share_of_connections(platform: Platform, guest: RawClient) -> None:
    """The attack: 2,000 connections from one address, all accepted."""
    address = fresh_address()
    held = [connect(platform, address) for _ in range(PER_ADDRESS)]
    try:
        for client in held[:: max(1, PER_ADDRESS // 16)]:
            client.ping()
        newcomer = connect(platform, address)
        error = newcomer.read()
        assert error is not None and error.error_code == ClientError.TOO_MANY_CONNECTIONS, error
        assert newcomer.closed()
        held[-1].ping()  # the ones it holds are kept
        elsewhere = connect(platform)  # another address is not held back
        elsewhere.ping()
        elsewhere.close()
        still_served(platform, guest)
    finally:
        for client in held:
            client.close()


def test_an_error_packet_echoes_a_bounded_prefix_of_what_it_refuses(platform: Platform, guest: RawClient) -> None:
    """The attack: an unknown 60 KB message type came back whole (60 KB in, 60 KB out)."""
    client = connect(platform)
    huge = "t" * 60_000
    request = client.packet(huge)
    client.send(request)
    answer = client.read()
    assert answer is not None and answer.error_code == ClientError.UNKNOWN_MESSAGE, answer
    assert answer.type == huge[:64] and len(answer.error_message or "") < 200
    assert len(encode(answer, spec_of(Packet))) < 400 < len(request)
    client.ping()
    client.close()
    still_served(platform, guest)
