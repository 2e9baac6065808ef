"""`hn call` against a real sso (a process, on the real data tier): the declared error of issue 19,
`SsoError(code=6, message='no account 999999')`, is one line with its code and the trace id that
sso's own log carries."""

from __future__ import annotations

import json

from hn_datatier.local import DataTier
from hn_runtime.testing import running, spawn_service, wait_for
from hn_yellow import YellowService

from _hn_cli import hn


def test_sso_error_is_one_line_with_its_code_and_trace(data_tier: DataTier) -> None:
    with running(YellowService()) as yellow:
        assert isinstance(yellow.service, YellowService)
        registry = yellow.service.registry
        assert registry is not None, "yellow has started"
        address = yellow.endpoints["rep"]
        env = {**data_tier.env, "HN_YELLOW": address, "HN_SSO_HASH_PROFILE": "test", "HN_TRACE_SAMPLE": "1"}
        with spawn_service("hn_sso", service="sso", env=env) as sso:
            wait_for(lambda: registry.instances("sso"), message="sso registered in yellow")
            run = hn(address, "call", "sso", "get_account", '{"account_id": 999999}')
            error = run.error()
            assert run.status == 1
            assert error["what"] == "sso.get_account failed with SsoError: no account 999999"
            assert error["code"] == "6"
            wait_for(
                lambda: any(e.get("trace_id") == error["trace"] for e in sso.logs()),
                message="sso logged the call under the trace id hn printed",
            )

            run = hn(address, "call", "sso", "get_account", '{"account_id": 999999}', "--json")
            document = json.loads(run.stdout)["error"]
            assert run.status == 1 and document["code"] == 6
            assert document["fields"] == {"exception": "SsoError", "code": 6, "message": "no account 999999"}
