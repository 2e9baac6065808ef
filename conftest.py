"""Every test process is a gevent process, as every service process is: patch first.

Then the fixture plugins (as nameko registers its own): each one whose module is in this test's
sandbox, i.e. whose target the test's BUILD depends on (`hn_tests(fixtures=[...])`, see
build-support/macros.py). First-party code has no installed entry points under Pants, so this
is where they are declared. The names are strings on purpose: every test depends on this file,
and Pants infers no dependency from a string.
"""

from gevent import monkey

monkey.patch_all()

import importlib.util  # noqa: E402

_FIXTURE_PLUGINS = ("hn_datatier.testing",)


def _in_sandbox(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # not even its parent package is here
        return False


pytest_plugins = [name for name in _FIXTURE_PLUGINS if _in_sandbox(name)]
