"""How views from several yellows merge: the newest news about each instance wins."""

from __future__ import annotations

from hn_idl.yellow.ttypes import InstanceInfo
from hn_yellow_client._directory import merge


def info(beat: int, state: str = "up", load: float = 0.0) -> InstanceInfo:
    return InstanceInfo("echo", "echo-1", {"rep": "tcp://h:1"}, "1", load, state, beat)


def test_the_higher_beat_wins_whichever_yellow_reported_it() -> None:
    (merged,) = merge([[info(5, "up", 0.1)], [info(7, "draining", 0.2)]])
    assert (merged.state, merged.load) == ("draining", 0.2)
    (merged,) = merge([[info(9, "up")], [info(7, "draining")]])
    assert merged.state == "up"


def test_on_a_tie_the_graver_state_wins() -> None:
    # One yellow already declared the silent instance down; the other has not swept yet.
    (merged,) = merge([[info(4, "up")], [info(4, "down")]])
    assert merged.state == "down"


def test_instances_known_to_one_yellow_only_are_kept() -> None:
    other = InstanceInfo("echo", "echo-2", {"rep": "tcp://h:2"}, "1", 0.0, "up", 1)
    assert [i.instance_id for i in merge([[info(1)], [other]])] == ["echo-1", "echo-2"]
