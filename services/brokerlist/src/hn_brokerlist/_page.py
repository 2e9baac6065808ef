"""The web page brokerlist serves under /play/: the files of one built folder, read once at start.

A request is answered from that in-memory table by its exact relative path, so no request reaches
the file system: `..`, encoded slashes, absolute paths and symlinks lead nowhere. Loading refuses
a folder with anything but page files (a known extension, no dotfiles, no symlinks, a size cap),
so a misconfigured folder fails the start instead of being served.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["CONTENT_TYPES", "MAX_PAGE_BYTES", "PAGE_PREFIX", "Page", "PageError", "StaticFile"]

#: where the page lives on brokerlist's HTTP port
PAGE_PREFIX = "/play/"
#: what a built page may hold, and the type each is served as
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}
#: a bundled page is well under a megabyte; a folder far larger is the wrong folder
MAX_PAGE_BYTES = 16 * 1024 * 1024
_INDEX = "index.html"


class PageError(ValueError):
    """The page folder holds something that is not a built page."""


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


class Page:
    """The page's files by their path under PAGE_PREFIX ("index.html", "play.js")."""

    def __init__(self, files: Mapping[str, StaticFile]) -> None:
        if _INDEX not in files:
            raise PageError(f"the page has no {_INDEX}")
        self._files = dict(files)

    @classmethod
    def load(cls, folder: str) -> Page:
        if not os.path.isdir(folder):
            raise PageError(f"no page folder at {folder}")
        files: dict[str, StaticFile] = {}
        total = 0
        for parent, dirs, names in os.walk(folder, followlinks=False):
            for name in [*dirs, *names]:
                path = os.path.join(parent, name)
                if name.startswith("."):
                    raise PageError(f"{path}: hidden files are not page files")
                if os.path.islink(path):
                    raise PageError(f"{path}: a symlink (the page is served from plain files only)")
            for name in names:
                path = os.path.join(parent, name)
                content_type = CONTENT_TYPES.get(os.path.splitext(name)[1].lower())
                if content_type is None:
                    raise PageError(f"{path}: not a page file ({', '.join(sorted(CONTENT_TYPES))})")
                with open(path, "rb") as file:
                    body = file.read()
                total += len(body)
                if total > MAX_PAGE_BYTES:
                    raise PageError(f"{folder}: more than {MAX_PAGE_BYTES} bytes: not a built page")
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                relative = os.path.relpath(path, folder).replace(os.sep, "/")
                files[relative] = StaticFile(body, content_type, etag)
        return cls(files)

    def file(self, path: str) -> StaticFile | None:
        """The file a request path names (PAGE_PREFIX itself: index.html), or None."""
        if not path.startswith(PAGE_PREFIX):
            return None
        return self._files.get(path[len(PAGE_PREFIX) :] or _INDEX)
