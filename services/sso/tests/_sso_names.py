"""Fresh names per test: the tier lives for a whole test file."""

import itertools
import os

_n = itertools.count()


def fresh(prefix: str = "user") -> str:
    return f"{prefix}{os.getpid() % 1000}x{next(_n)}"
