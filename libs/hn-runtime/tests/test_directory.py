"""The watcher registry both directories use (StaticDirectory here, yellow's in hn-yellow-client)."""

from __future__ import annotations

from collections.abc import Sequence

from hn_runtime.discovery import Instance, StaticDirectory, WatcherRegistry

ONE = Instance("echo", "echo-1", {"rep": "tcp://h:1"})
TWO = Instance("echo", "echo-2", {"rep": "tcp://h:2"})


def test_a_watcher_hears_the_current_view_then_every_change_until_it_stops():
    directory = StaticDirectory({"echo": [ONE]})
    heard: list[list[str]] = []
    stop = directory.watch("echo", lambda instances: heard.append([i.instance_id for i in instances]))
    directory.set("echo", [ONE, TWO])
    directory.set("other", [TWO])
    stop()
    directory.set("echo", [])
    assert heard == [["echo-1"], ["echo-1", "echo-2"]]


def test_each_watcher_gets_a_list_of_its_own():
    registry = WatcherRegistry(lambda service: [ONE])
    lists: list[Sequence[Instance]] = []
    for _ in range(2):
        registry.watch("echo", lists.append)
    registry.notify("echo", [TWO])
    assert [list(x) for x in lists] == [[ONE], [ONE], [TWO], [TWO]]
    assert lists[2] is not lists[3]


def test_a_watcher_may_stop_watching_from_its_callback():
    registry = WatcherRegistry(lambda service: [])
    heard: list[str] = []
    stops = {}

    def first(instances: Sequence[Instance]) -> None:
        heard.append("first")
        if instances:
            stops["first"]()

    stops["first"] = registry.watch("echo", first)
    registry.watch("echo", lambda instances: heard.append("second"))
    registry.notify("echo", [ONE])
    registry.notify("echo", [ONE])
    assert heard == ["first", "second", "first", "second", "second"]
