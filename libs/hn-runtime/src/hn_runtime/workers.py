"""Reusable greenlets for work started from the gevent hub (what the server runs handlers in)."""

from hn_runtime._workers import Workers

__all__ = ["Workers"]
