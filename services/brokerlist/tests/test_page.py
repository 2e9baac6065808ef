"""The web page brokerlist serves under /play/: its built files, with their types, and nothing else."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hn_brokerlist import BrokerlistConfig, BrokerlistService, Page, PageError
from hn_runtime.discovery import StaticDirectory
from hn_runtime.testing import RunningService, running

SECRET = b"brokerlist must never serve this"


def _get(svc: RunningService, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET `path` as given, byte for byte (no client-side normalising of dots or escapes)."""
    host, port = svc.endpoints["http"].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _built_page(root: Path) -> Path:
    """A page folder beside files that are not the page's (which must stay out of reach)."""
    page = root / "site" / "dist"
    (page / "img").mkdir(parents=True)
    (page / "index.html").write_bytes(b"<!doctype html><title>High Noon</title>")
    (page / "play.js").write_bytes(b"console.log('draw');")
    (page / "play.css").write_bytes(b"body{}")
    (page / "img" / "logo.svg").write_bytes(b"<svg/>")
    (root / "site" / "secret.js").write_bytes(SECRET)
    (root / "secret.txt").write_bytes(SECRET)
    return page


@pytest.fixture
def served(tmp_path: Path) -> Iterator[RunningService]:
    service = BrokerlistService(BrokerlistConfig(page_dir=str(_built_page(tmp_path))), directory=StaticDirectory({}))
    with running(service) as svc:
        yield svc


def test_the_page_is_served_with_its_content_types(served: RunningService) -> None:
    for path, content_type, body in [
        ("/play/", "text/html; charset=utf-8", b"<!doctype html><title>High Noon</title>"),
        ("/play/index.html", "text/html; charset=utf-8", b"<!doctype html><title>High Noon</title>"),
        ("/play/play.js", "text/javascript; charset=utf-8", b"console.log('draw');"),
        ("/play/play.css", "text/css; charset=utf-8", b"body{}"),
        ("/play/img/logo.svg", "image/svg+xml", b"<svg/>"),
    ]:
        status, headers, got = _get(served, path)
        assert (status, headers["Content-Type"], got) == (200, content_type, body), path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert _get(served, path, {"If-None-Match": headers["ETag"]})[0] == 304
    status, headers, _ = _get(served, "/play")
    assert (status, headers["Location"]) == (301, "/play/")
    # brokerlist's own documents are unchanged beside it
    assert _get(served, "/v2/brokers")[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/play/../secret.txt",
        "/play/../../secret.txt",
        "/play/../site/secret.js",
        "/play/%2e%2e/secret.js",
        "/play/%2E%2E%2Fsecret.js",
        "/play/..%2fsecret.js",
        "/play/..%5csecret.js",
        "/play/img/../../secret.js",
        "/play//etc/passwd",
        "/play/%2fetc%2fpasswd",
        "/play/./index.html/../../secret.js",
        "/play/.%2e/.%2e/secret.txt",
        "/play/%00",
        "/play/img",
        "/play/img/",
        "/play/nothing.js",
        "/secret.txt",
        "/play/../../../../../../../../etc/passwd",
    ],
)
def test_no_path_leaves_the_page(served: RunningService, path: str) -> None:
    status, _, body = _get(served, path)
    assert status == 404, path
    assert SECRET not in body and b"root:" not in body


def test_without_a_page_folder_there_is_no_page() -> None:
    with running(BrokerlistService(BrokerlistConfig(), directory=StaticDirectory({}))) as svc:
        assert _get(svc, "/play/")[0] == 404


@pytest.mark.parametrize(
    "extra, problem",
    [
        ("notes.txt", "not a page file"),
        (".env", "hidden"),
        ("link.js", "symlink"),
    ],
)
def test_a_folder_with_more_than_a_page_refuses_to_load(tmp_path: Path, extra: str, problem: str) -> None:
    page = _built_page(tmp_path)
    if extra == "link.js":
        os.symlink(tmp_path / "secret.txt", page / extra)
    else:
        (page / extra).write_text("x")
    with pytest.raises(PageError, match=problem):
        Page.load(str(page))
    with pytest.raises(PageError, match="no index.html"):
        Page({})
    with pytest.raises(PageError, match="no page folder"):
        Page.load(str(tmp_path / "missing"))


def test_the_page_folder_comes_from_the_environment() -> None:
    assert BrokerlistConfig.from_env({"HN_BROKERLIST_PAGE_DIR": "/srv/page"}).page_dir == "/srv/page"
    assert BrokerlistConfig.from_env({}).page_dir == ""
