"""The edge's shared state in Redis (through Twemproxy: single-key commands only).

    hn:sess:<sid>:broker   -> the broker instance holding the session's connection   (TTL)
    hn:sess:<sid>:bind     -> hash: message family -> instance holding that state,    (TTL)
                              "<family>#fate" -> the state's fate (see settle)
    hn:sess:<sid>:mailbox  -> list of encoded client Packets waiting for a reconnect (TTL)
    hn:fate:<fate>         -> how a bound state ended: "decided" or "lost"            (TTL)

Every broker routes alike because they read the same keys; a session's keys share the
{sid}-free prefix only by convention: nothing here needs two keys at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DECIDED", "LOST", "Binding", "SessionState"]

#: the instance holding a bound state settled its end itself (a result is being recorded)
DECIDED = "decided"
#: an edge gave the bound state up with its instance (its clients were told SessionLost)
LOST = "lost"
_FATE = "#fate"
#: `unbind` with its check in Redis: one key (Twemproxy proxies EVAL of scripts whose keys hash alike)
_UNBIND_IF_MINE = (
    "if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then"
    " return redis.call('hdel', KEYS[1], ARGV[1], ARGV[1] .. ARGV[3]) end return 0"
)


@dataclass(frozen=True)
class Binding:
    """A session's state for one message family lives on `instance_id`.

    `fate` names the state (e.g. one duel) for `SessionState.settle`: when its instance looks
    dead the edge and the instance may both try to end it, and exactly one of them must.
    """

    instance_id: str
    fate: str = ""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SessionState:
    def __init__(
        self, redis: Any, *, session_ttl_s: int = 3600, mailbox_ttl_s: int = 60, mailbox_max: int = 200
    ) -> None:
        self.redis = redis
        self.session_ttl_s = session_ttl_s
        self.mailbox_ttl_s = mailbox_ttl_s
        self.mailbox_max = mailbox_max

    # -- which broker holds a session --------------------------------------------------------

    def attach(self, session_id: str, broker: str) -> None:
        self.redis.set(f"hn:sess:{session_id}:broker", broker, ex=self.session_ttl_s)

    def take_over(self, session_id: str, broker: str) -> str | None:
        """`attach`, answering the broker that held the session until now (None: none did).

        A login or resume that opens the session on `broker` calls it: the broker it names,
        when another, still holds an older connection of the session to end.
        """
        key = f"hn:sess:{session_id}:broker"
        pipe = self.redis.pipeline(transaction=False)  # one round trip; Twemproxy has no MULTI
        pipe.getset(key, broker)
        pipe.expire(key, self.session_ttl_s)
        previous, _ = pipe.execute()
        return None if previous is None else _text(previous)

    def detach(self, session_id: str, broker: str) -> None:
        """Forget the session's broker, unless another broker took the session meanwhile."""
        key = f"hn:sess:{session_id}:broker"
        current = self.redis.get(key)
        if current is not None and _text(current) == broker:
            self.redis.delete(key)

    def broker_of(self, session_id: str) -> str | None:
        return self.broker_from(self.redis.get(f"hn:sess:{session_id}:broker"))

    @staticmethod
    def queue_broker_of(pipe: Any, session_id: str) -> None:
        """`broker_of` on the caller's pipeline; its reply read by `broker_from`."""
        pipe.get(f"hn:sess:{session_id}:broker")

    @staticmethod
    def broker_from(reply: Any) -> str | None:
        return None if reply is None else _text(reply)

    @staticmethod
    def queue_brokers_of(pipe: Any, session_ids: list[str]) -> None:
        """`brokers_of` on the caller's pipeline as one MGET (one reply: a list, for
        `brokers_from`); each command in a pipeline costs redis-py as much to pack and parse as a
        round trip's worth of a small one."""
        pipe.mget([f"hn:sess:{sid}:broker" for sid in session_ids])

    @staticmethod
    def brokers_from(reply: Any) -> list[str | None]:
        return [None if v is None else _text(v) for v in reply]

    def brokers_of(self, session_ids: list[str], *, chunk: int = 500) -> list[str | None]:
        """`broker_of` for many sessions, in MGETs (Twemproxy splits them over the shards)."""
        found: list[str | None] = []
        for start in range(0, len(session_ids), chunk):
            keys = [f"hn:sess:{sid}:broker" for sid in session_ids[start : start + chunk]]
            found.extend(None if v is None else _text(v) for v in self.redis.mget(keys))
        return found

    # -- dynamic routing ---------------------------------------------------------------------

    def bind(self, session_id: str, family: str, binding: Binding) -> None:
        pipe = self.redis.pipeline(transaction=False)  # one round trip; Twemproxy has no MULTI
        self.queue_bind(pipe, session_id, family, binding)
        pipe.execute()

    def queue_bind(self, pipe: Any, session_id: str, family: str, binding: Binding) -> None:
        """`bind`'s commands on the caller's pipeline (two replies)."""
        key = f"hn:sess:{session_id}:bind"
        # The fate in a field of its own: a broker that predates fates reads the family's field
        # as before and skips "<family>#fate" as a family no service routes.
        pipe.hset(key, mapping={family: binding.instance_id, f"{family}{_FATE}": binding.fate})
        pipe.expire(key, self.session_ttl_s)

    def unbind(self, session_id: str, family: str, instance_id: str | None = None) -> None:
        """Drop the binding (only if it still names `instance_id`, when given)."""
        key = f"hn:sess:{session_id}:bind"
        if instance_id is not None:
            current = self.redis.hget(key, family)
            if current is None or _text(current) != instance_id:
                return
        self.redis.hdel(key, family, f"{family}{_FATE}")

    @staticmethod
    def queue_unbind(pipe: Any, session_id: str, family: str, instance_id: str) -> None:
        """`unbind(session_id, family, instance_id)` on the caller's pipeline, as one script: the
        check and the delete in one step (one reply)."""
        pipe.eval(_UNBIND_IF_MINE, 1, f"hn:sess:{session_id}:bind", family, instance_id, _FATE)

    def bindings(self, session_id: str) -> dict[str, Binding]:
        fields = {_text(k): _text(v) for k, v in self.redis.hgetall(f"hn:sess:{session_id}:bind").items()}
        return {
            family: Binding(instance_id, fields.get(f"{family}{_FATE}", ""))
            for family, instance_id in fields.items()
            if not family.endswith(_FATE)
        }

    def fate_of(self, fate: str) -> str | None:
        """How the bound state `fate` ended (DECIDED or LOST), or None while it has not."""
        value = self.redis.get(f"hn:fate:{fate}")
        return None if value is None else _text(value)

    def settle(self, fate: str, outcome: str) -> str:
        """End the bound state `fate` with `outcome` (DECIDED or LOST) unless it has ended
        already; the outcome that stands is returned. One SET NX: the first caller wins, on any
        broker or instance, through Twemproxy."""
        key = f"hn:fate:{fate}"
        for _ in range(3):
            if self.redis.set(key, outcome, nx=True, ex=self.session_ttl_s):
                return outcome
            current = self.redis.get(key)
            if current is not None:
                return _text(current)
            # expired between the two commands: try again
        raise RuntimeError(f"could not settle {fate}")

    # -- pushes for a session that is away ---------------------------------------------------

    def stash(self, session_id: str, packet: bytes) -> None:
        """Keep a push for `mailbox_ttl_s` seconds (the newest `mailbox_max`) for a reconnect."""
        key = f"hn:sess:{session_id}:mailbox"
        self.redis.rpush(key, packet)
        self.redis.ltrim(key, -self.mailbox_max, -1)
        self.redis.expire(key, self.mailbox_ttl_s)

    def take_mailbox(self, session_id: str) -> list[bytes]:
        """The waiting pushes, oldest first, removed as they are taken (LPOP: safe against a
        concurrent stash)."""
        key = f"hn:sess:{session_id}:mailbox"
        packets: list[bytes] = []
        while len(packets) < self.mailbox_max:
            packet = self.redis.lpop(key)
            if packet is None:
                break
            packets.append(packet)
        return packets
