"""hn-client: the HighNoon game-client SDK for Python (bots, end-to-end tests, examples)."""

from hn_client._client import BrokerRejected, ConnectionLost, GameClient, SessionEnded, broker_order, fetch_brokers
from hn_client._connection import BrokerConnection
from hn_client._duel import Duelist, DuelOutcome, DuelTimeout

__version__ = "0.1.0"
__all__ = [
    "BrokerConnection",
    "BrokerRejected",
    "ConnectionLost",
    "DuelOutcome",
    "DuelTimeout",
    "Duelist",
    "GameClient",
    "SessionEnded",
    "broker_order",
    "fetch_brokers",
]
