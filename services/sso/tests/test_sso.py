"""sso's methods and their error paths, through the real Pgpool and Twemproxy."""

from __future__ import annotations

import contextlib
import secrets

import gevent
import psycopg2
import pytest

from hn_datatier import redis_from_url
from hn_datatier.local import DataTier
from hn_idl.sso.ttypes import SsoError, SsoErrorCode
from hn_runtime import InternalError, Session
from hn_runtime.testing import RunningService, call_handler, capture_logs, running, wait_for
from hn_sso import SsoService

from _sso_support import fresh, sso_config


def code_of(call: object) -> int:
    with pytest.raises(SsoError) as raised:
        call()  # type: ignore[operator]
    return raised.value.code  # type: ignore[no-any-return]


def test_register_login_validate_get_account(sso: RunningService) -> None:
    client = sso.proxy()
    name = fresh("Harry")
    registered = client.register(user=name, passwd="my_dirty_secret")
    assert (
        registered.token.startswith(f"{registered.account.account_id}.") and len(registered.token.split(".")[1]) == 64
    )
    assert registered.account.display_name == name and not registered.account.guest
    # Names are case-insensitive for login, as for uniqueness.
    logged_in = client.login(user=name.lower(), passwd="my_dirty_secret")
    assert logged_in.account == registered.account
    assert client.validate(token=logged_in.token) == registered.account
    # get_account reads from any node: a brand-new account shows once replication caught up.
    account_id = registered.account.account_id

    def replicated() -> object:
        with contextlib.suppress(SsoError, InternalError):
            return client.get_account(account_id=account_id)
        return None

    assert wait_for(replicated, message="the account on the replica") == registered.account


def test_wrong_password_and_unknown_user_get_the_same_answer(sso: RunningService) -> None:
    client = sso.proxy()
    name = fresh()
    client.register(user=name, passwd="right password")
    answers = []
    for user in (name, fresh("nobody")):
        with pytest.raises(SsoError) as raised:
            client.login(user=user, passwd="wrong password")
        answers.append((raised.value.code, raised.value.message))
    assert answers[0] == answers[1] == (SsoErrorCode.WRONG_CREDENTIALS, "wrong name or password")


def test_names_are_unique_regardless_of_case(sso: RunningService) -> None:
    client = sso.proxy()
    name = fresh("Case")
    client.register(user=name, passwd="password1")
    assert code_of(lambda: client.register(user=name.upper(), passwd="password2")) == SsoErrorCode.NAME_TAKEN


@pytest.mark.parametrize(
    "user, passwd",
    [("ab", "long enough"), ("has space", "long enough"), ("-dash", "long enough"), ("x" * 25, "long enough"),
     ("guest-me", "long enough"), ("fine_name", "short"), ("fine_name", "x" * 129)],
)  # fmt: skip
def test_invalid_input_is_refused_with_a_reason(sso: RunningService, user: str, passwd: str) -> None:
    with pytest.raises(SsoError) as raised:
        sso.proxy().register(user=user, passwd=passwd)
    assert raised.value.code == SsoErrorCode.INVALID_INPUT and raised.value.message


def test_tokens_logout_and_one_session_per_account(sso: RunningService) -> None:
    client = sso.proxy()
    name = fresh()
    first = client.register(user=name, passwd="password1").token
    second = client.login(user=name, passwd="password1").token
    assert code_of(lambda: client.validate(token=first)) == SsoErrorCode.INVALID_TOKEN, "a new login replaces the old"
    client.logout(token=second)
    assert code_of(lambda: client.validate(token=second)) == SsoErrorCode.INVALID_TOKEN
    assert code_of(lambda: client.validate(token="not-hex")) == SsoErrorCode.INVALID_TOKEN
    client.logout(token=second)  # idempotent


def test_a_token_names_its_account_but_only_the_issued_token_validates(
    sso: RunningService, data_tier: DataTier
) -> None:
    client = sso.proxy()
    mine, theirs = (client.register(user=fresh(), passwd="password1") for _ in range(2))
    secret = mine.token.partition(".")[2]
    # Another account's id in front of my token's random part: no such token was ever issued.
    forged = f"{theirs.account.account_id}.{secret}"
    assert code_of(lambda: client.validate(token=forged)) == SsoErrorCode.INVALID_TOKEN
    assert code_of(lambda: client.validate(token=secret)) == SsoErrorCode.INVALID_TOKEN, "the bare random part"
    assert client.validate(token=mine.token) == mine.account


def test_a_token_issued_before_tokens_named_their_account_still_validates(
    sso: RunningService, data_tier: DataTier
) -> None:
    """Sessions open across a deploy: a bare-hex token (the earlier format) keeps validating."""
    client = sso.proxy()
    account = client.register(user=fresh(), passwd="password1").account
    old = secrets.token_hex(32)
    redis = redis_from_url(data_tier.env["HN_REDIS_URL"])
    redis.set(f"sso:tok:{old}", f"{account.account_id}|0|{account.created_ms}|{account.display_name}", ex=60)
    redis.set(f"sso:acct:{account.account_id}:tok", old, ex=60)
    assert client.validate(token=old) == account
    client.logout(token=old)
    assert code_of(lambda: client.validate(token=old)) == SsoErrorCode.INVALID_TOKEN


def test_guest_login_and_upgrade_keep_the_account(sso: RunningService) -> None:
    client = sso.proxy()
    device = f"device-{fresh()}"
    guest = client.guest_login(device_id=device)
    assert guest.account.guest and guest.account.display_name.startswith("guest-")
    assert client.guest_login(device_id=device).account.account_id == guest.account.account_id
    name = fresh("Upgraded")
    upgraded = client.register(user=name, passwd="password1", device_id=device)
    assert upgraded.account.account_id == guest.account.account_id and not upgraded.account.guest
    assert client.login(user=name, passwd="password1").account.account_id == guest.account.account_id
    assert not client.guest_login(device_id=device).account.guest
    assert code_of(lambda: client.guest_login(device_id="short")) == SsoErrorCode.INVALID_INPUT


def test_failed_logins_are_limited_per_account_and_per_address(data_tier: DataTier) -> None:
    service = SsoService(sso_config(data_tier, failed_logins_per_account=3, failed_logins_per_address=5))
    name = fresh()
    call_handler(service, "register", user=name, passwd="password1")

    def attempt(user: str, passwd: str, client: str) -> int:
        session = Session(None, "t", "login", client=client)
        with pytest.raises(SsoError) as raised:
            call_handler(service, "login", session=session, user=user, passwd=passwd)
        return raised.value.code  # type: ignore[no-any-return]

    assert [attempt(name, "wrong pass", "10.0.0.1:1") for _ in range(3)] == [SsoErrorCode.WRONG_CREDENTIALS] * 3
    with pytest.raises(SsoError) as limited:
        call_handler(
            service, "login", session=Session(None, "t", "login", client="10.0.0.2:1"), user=name, passwd="password1"
        )
    assert limited.value.code == SsoErrorCode.RATE_LIMITED and limited.value.retry_after_s > 0
    # One address failing on many accounts hits the address limit.
    codes = [attempt(fresh("other"), "wrong pass", "10.9.9.9:1") for _ in range(6)]
    assert codes[:5] == [SsoErrorCode.WRONG_CREDENTIALS] * 5 and codes[5] == SsoErrorCode.RATE_LIMITED


def test_200_concurrent_registrations_of_one_name_make_one_account(sso: RunningService, data_tier: DataTier) -> None:
    client = sso.proxy().with_options(timeout=60)
    name = fresh("Popular")
    outcomes: list[tuple[str, int]] = []

    def register(n: int) -> None:
        try:
            outcomes.append(("ok", client.register(user=name, passwd=f"password{n}").account.account_id))
        except SsoError as exc:
            outcomes.append(("error", exc.code))

    gevent.joinall([gevent.spawn(register, n) for n in range(200)], raise_error=True)
    assert len(outcomes) == 200
    assert [kind for kind, _ in outcomes].count("ok") == 1
    assert outcomes.count(("error", SsoErrorCode.NAME_TAKEN)) == 199
    with psycopg2.connect(data_tier.env["HN_PG_PRIMARY_DSN"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sso_accounts WHERE lower(display_name) = lower(%s)", (name,))
        assert cur.fetchone()[0] == 1


def test_old_hashes_are_upgraded_on_login(data_tier: DataTier) -> None:
    name = fresh()
    with running(SsoService(sso_config(data_tier, hash_profile="test"))) as weak:
        weak.proxy().register(user=name, passwd="password1")
    with running(SsoService(sso_config(data_tier, hash_profile="production"))) as strong:
        strong.proxy().login(user=name, passwd="password1")
    with psycopg2.connect(data_tier.env["HN_PG_PRIMARY_DSN"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT password_hash FROM sso_accounts WHERE display_name = %s", (name,))
        assert cur.fetchone()[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_credentials_and_tokens_never_reach_the_logs(sso: RunningService) -> None:
    client = sso.proxy()
    name, secret = fresh(), "a-very-secret-password"
    with capture_logs() as logs:
        token = client.register(user=name, passwd=secret).token
        client.validate(token=token)
        with pytest.raises(SsoError):
            client.login(user=name, passwd="another-secret-guess")
        client.logout(token=token)
    text = repr(logs)
    assert logs and secret not in text and token not in text and "another-secret-guess" not in text


def test_three_instances_share_sessions(data_tier: DataTier) -> None:
    config = sso_config(data_tier)
    with running(SsoService(config)) as a, running(SsoService(config)) as b, running(SsoService(config)) as c:
        token = a.proxy().register(user=fresh(), passwd="password1").token
        assert b.proxy().validate(token=token) == c.proxy().validate(token=token)
        c.proxy().logout(token=token)
        for svc in (a, b):
            assert code_of(lambda svc=svc: svc.proxy().validate(token=token)) == SsoErrorCode.INVALID_TOKEN
