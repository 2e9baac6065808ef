"""Every sso method, called with arbitrary arguments, against the real sso on the real data tier.

A client may send anything (the broker passes bodies through undecoded and stamps only the
session id and the client's address), so every argument is drawn from anything a Thrift string
or integer can hold: control characters and NUL, any Unicode, empty, long; plus values shaped
like real ones (names, device ids, tokens, ids of accounts that exist) so that the deeper paths
run too. The session id and client address a broker would stamp are drawn as well. Each answer
must be a result, a declared SsoError with a known code other than INTERNAL, or (for `resume`,
which declares none) UNAUTHENTICATED: never INTERNAL, never a crash.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hn_datatier.local import DataTier
from hn_idl.sso.ttypes import SsoError, SsoErrorCode
from hn_runtime import RemoteError, Unauthenticated
from hn_runtime.testing import RunningService, running
from hn_sso import SsoService

from _sso_support import call, fresh, sso_config

_KNOWN = set(SsoErrorCode._VALUES_TO_NAMES) - {SsoErrorCode.INTERNAL}
_I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_EXAMPLES = 120
#: what each method answered, over the whole file (printed at the end)
_SEEN: Counter[str] = Counter()


class Known:
    """Real values the strategies draw from: accounts that exist, their tokens and devices."""

    names: list[str] = []
    tokens: list[str] = []
    devices: list[str] = []
    ids: list[int] = []
    passwords: list[str] = []


@pytest.fixture(scope="module")
def sso(data_tier: DataTier) -> Iterator[RunningService]:
    # Limits as in production, but a cap short enough that guesses keep being judged.
    with running(SsoService(sso_config(data_tier, login_delay_max_s=2))) as svc:
        client = svc.proxy()
        for n in range(3):
            device = f"device-{fresh('fuzz')}"
            guest = client.guest_login(device_id=device)
            named = client.register(user=fresh("Fuzz"), passwd=f"password{n}")
            Known.passwords.append(f"password{n}")
            Known.names.append(named.account.display_name)
            Known.tokens += [guest.token, named.token]
            Known.devices.append(device)
            Known.ids += [guest.account.account_id, named.account.account_id]
        yield svc
        print(f"\nanswers: {dict(sorted(_SEEN.items()))}")


def _text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=300),
        st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=40),  # ASCII, controls, C1
        st.sampled_from(["", " ", "\x00", "a\x00b", "\n", "guest-x", "x" * 129, "é" * 30]),
    )


def _password() -> st.SearchStrategy[str]:
    printable = st.characters(min_codepoint=0x20, blacklist_categories=("Cc", "Cs"))
    return st.one_of(_text(), st.text(alphabet=printable, min_size=8, max_size=40),
                     st.sampled_from(Known.passwords or ["password0"]))  # fmt: skip


def _name() -> st.SearchStrategy[str]:
    return st.one_of(_text(), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,23}", fullmatch=True),
                     st.sampled_from(Known.names or ["nobody"]))  # fmt: skip


def _device() -> st.SearchStrategy[str]:
    return st.one_of(_text(), st.from_regex(r"[A-Za-z0-9._:-]{8,40}", fullmatch=True),
                     st.sampled_from(Known.devices or ["device-none"]))  # fmt: skip


def _token() -> st.SearchStrategy[str]:
    return st.one_of(
        _text(),
        st.from_regex(r"(?:[1-9][0-9]{0,18}\.)?[0-9a-f]{64}", fullmatch=True),
        st.sampled_from(Known.tokens or ["0" * 64]),
        st.builds(lambda i, t: f"{i}.{t.partition('.')[2]}", _I64, st.sampled_from(Known.tokens or ["1." + "0" * 64])),
    )


def _session_id() -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), _text(), _I64.map(str), st.sampled_from(Known.ids or [1]).map(str))


def _client() -> st.SearchStrategy[str | None]:
    ip = st.one_of(st.ip_addresses().map(str), _text())
    return st.one_of(st.none(), st.builds(lambda host, port: f"{host}:{port}", ip, st.integers(0, 65535)), _text())


def _fuzz(sso: RunningService, method: str, envelope: dict[str, Any], **args: Any) -> None:
    try:
        call(sso.proxy().with_options(timeout=30), method, **envelope, **args)
    except SsoError as exc:
        assert exc.code in _KNOWN, f"{method}{args}: {exc.code} {exc.message!r}"
        _SEEN[f"{method}: {SsoErrorCode._VALUES_TO_NAMES[exc.code]}"] += 1
        return
    except Unauthenticated:
        assert method == "resume", f"{method}{args}: UNAUTHENTICATED is resume's refusal only"
        _SEEN[f"{method}: UNAUTHENTICATED"] += 1
        return
    except RemoteError as exc:
        raise AssertionError(f"{method}{args} with {envelope}: {type(exc).__name__}: {exc.message}") from None
    _SEEN[f"{method}: ok"] += 1


_RUN = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
_ENVELOPE = st.fixed_dictionaries({"session_id": _session_id(), "client": _client()})


def _each(method: str, **strategies: Callable[[], st.SearchStrategy[Any]] | st.SearchStrategy[Any]) -> Any:
    """A hypothesis test of `method` with these argument strategies (built when it runs, once the
    fixture has made the known values)."""

    @_RUN
    @given(data=st.data())
    def test(sso: RunningService, data: st.DataObject) -> None:
        envelope = data.draw(_ENVELOPE)
        args = {
            name: data.draw(strategy() if callable(strategy) else strategy, label=name)
            for name, strategy in strategies.items()
        }
        _fuzz(sso, method, envelope, **args)

    return test


test_create_account = _each(
    "create_account", user=_name, passwd=_password, device_id=lambda: st.one_of(st.none(), _device())
)
test_login = _each("login", user=_name, passwd=_password)
test_guest_login = _each("guest_login", device_id=_device)
test_logout = _each("logout", token=_token)
test_validate = _each("validate", token=_token)
test_resume = _each("resume", token=_token)
test_get_account = _each("get_account", account_id=lambda: st.one_of(_I64, st.sampled_from(Known.ids or [1])))
test_change_password = _each("change_password", old_passwd=_password, new_passwd=_password)
test_health = _each("health")
