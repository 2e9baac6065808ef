"""sso's methods and their error paths, through the real Pgpool and Twemproxy."""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import Any

import gevent
import psycopg2
import pytest

from hn_datatier import redis_from_url
from hn_datatier.local import DataTier
from hn_idl.sso.ttypes import SsoError, SsoErrorCode
from hn_runtime import InternalError, Session
from hn_runtime.testing import RunningService, call_handler, capture_logs, running, wait_for
from hn_sso import SsoService

from _sso_support import call, fresh, fresh_address, outcome, sso_config


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
    # The guest's own session upgrades it (a broker stamps the session id on the envelope).
    upgraded = call(client, "register", session_id=str(guest.account.account_id), user=name, passwd="password1",
                    device_id=device)  # fmt: skip
    assert upgraded.account.account_id == guest.account.account_id and not upgraded.account.guest
    assert code_of(lambda: client.validate(token=guest.token)) == SsoErrorCode.INVALID_TOKEN, "a new token"
    assert client.login(user=name, passwd="password1").account.account_id == guest.account.account_id
    assert not client.guest_login(device_id=device).account.guest
    assert code_of(lambda: client.guest_login(device_id="short")) == SsoErrorCode.INVALID_INPUT


def test_a_device_id_alone_upgrades_no_one(sso: RunningService) -> None:
    """The attack: registering with a victim guest's device id took the victim's account over."""
    client = sso.proxy()
    victim_device = f"device-{fresh('victim')}"
    victim = client.guest_login(device_id=victim_device).account
    attacker = client.register(user=fresh("attacker"), passwd="password1").account
    for session_id in (None, str(attacker.account_id)):
        with pytest.raises(SsoError) as refused:
            call(client, "register", session_id=session_id, user=fresh("taken"), passwd="attacker pw",
                 device_id=victim_device)  # fmt: skip
        assert refused.value.code == SsoErrorCode.NOT_YOUR_DEVICE, session_id
    again = client.guest_login(device_id=victim_device).account
    assert again == victim and again.guest, "the victim's guest account is untouched"

    # A registered account's device is not re-pointed to a new account either.
    owned_device = f"device-{fresh('owned')}"
    owner = client.register(user=fresh("owner"), passwd="password1", device_id=owned_device).account
    assert (
        code_of(lambda: client.register(user=fresh("thief"), passwd="password1", device_id=owned_device))
        == SsoErrorCode.NOT_YOUR_DEVICE
    )
    assert client.guest_login(device_id=owned_device).account == owner


@pytest.mark.parametrize(
    "method, args",
    [("login", {"user": "nul\x00name", "passwd": "password1"}),
     ("login", {"user": "fine_name", "passwd": "pass\x00word1"}),
     ("login", {"user": "tab\tname", "passwd": "password1"}),
     ("register", {"user": "fine_name", "passwd": "pass\x00word1"}),
     ("register", {"user": "new\nline", "passwd": "password1"}),
     ("register", {"user": f"trailing{os.getpid()}\n", "passwd": "password1"}),
     ("register", {"user": "fine_name", "passwd": "bell\x07password"}),
     ("guest_login", {"device_id": "device\x00-0123456789"}),
     ("guest_login", {"device_id": "device-0123456789\n"})],
)  # fmt: skip
def test_control_characters_are_invalid_input_never_internal(
    sso: RunningService, method: str, args: dict[str, str]
) -> None:
    """The attack: a NUL in a login name reached PostgreSQL, which refused it: INTERNAL and a traceback."""
    with capture_logs() as logs:
        with pytest.raises(SsoError) as refused:
            call(sso.proxy(), method, **args)
    assert refused.value.code == SsoErrorCode.INVALID_INPUT and refused.value.message
    assert not [e for e in logs if e.get("log_level") == "error"], logs


def test_change_password_keeps_the_session_under_a_new_token(sso: RunningService) -> None:
    client = sso.proxy()
    name = fresh("changer")
    login = client.register(user=name, passwd="old password")
    session_id = str(login.account.account_id)

    def change(old: str, new: str, sid: str | None = session_id) -> Any:
        return call(client, "change_password", session_id=sid, client=fresh_address(), old_passwd=old,
                    new_passwd=new)  # fmt: skip

    assert code_of(lambda: change("not the password", "new password")) == SsoErrorCode.WRONG_CREDENTIALS
    assert code_of(lambda: change("old password", "short")) == SsoErrorCode.INVALID_INPUT
    assert code_of(lambda: change("old password", "new password", None)) == SsoErrorCode.INVALID_TOKEN
    assert code_of(lambda: change("old password", "new password", "not-an-id")) == SsoErrorCode.INVALID_TOKEN
    changed = change("old password", "new password")
    assert changed.account == login.account and changed.token != login.token
    assert client.validate(token=changed.token) == login.account
    assert code_of(lambda: client.validate(token=login.token)) == SsoErrorCode.INVALID_TOKEN, "the old token is dead"
    assert code_of(lambda: client.login(user=name, passwd="old password")) == SsoErrorCode.WRONG_CREDENTIALS
    assert client.login(user=name, passwd="new password").account == login.account
    # A guest has no password to change: it registers instead.
    guest = client.guest_login(device_id=f"device-{fresh()}").account
    assert (
        code_of(lambda: change("any password", "new password", str(guest.account_id))) == SsoErrorCode.WRONG_CREDENTIALS
    )


def test_accounts_made_from_one_address_are_limited(data_tier: DataTier) -> None:
    """The attack: 300 guest accounts and 60 registrations from one address in about 2 s."""
    service = SsoService(sso_config(data_tier, account_creations_per_address=5))
    with running(service) as sso:
        client = sso.proxy()
        address, elsewhere = fresh_address(), fresh_address()
        devices = [f"device-{fresh()}" for _ in range(4)]
        for device in devices:
            call(client, "guest_login", client=address, device_id=device)
        call(client, "register", client=address, user=fresh("maker"), passwd="password1")
        with pytest.raises(SsoError) as limited:
            call(client, "guest_login", client=address, device_id=f"device-{fresh()}")
        assert limited.value.code == SsoErrorCode.RATE_LIMITED and 0 < limited.value.retry_after_s <= 3600
        assert outcome(client, "register", client=address, user=fresh("maker"), passwd="pw123456") == (
            SsoErrorCode.RATE_LIMITED
        )
        # Logging in to accounts that exist is not making accounts; another address makes its own.
        assert call(client, "guest_login", client=address, device_id=devices[0]).account.guest
        assert outcome(client, "guest_login", client=elsewhere, device_id=f"device-{fresh()}") == "ok"
        # A guest upgrading itself from its own session makes no account: it is not limited.
        guest = call(client, "guest_login", client=address, device_id=devices[1]).account
        upgraded = call(client, "register", client=address, session_id=str(guest.account_id), user=fresh("up"),
                        passwd="password1", device_id=devices[1])  # fmt: skip
        assert upgraded.account.account_id == guest.account_id


def test_failed_logins_slow_down_one_address_and_not_the_owner(data_tier: DataTier) -> None:
    service = SsoService(sso_config(data_tier, failed_logins_per_account_address=3, login_delay_base_s=30))
    name = fresh()
    call_handler(service, "register", user=name, passwd="password1")
    attacker, owner = fresh_address(), fresh_address()

    def attempt(passwd: str, client: str) -> Any:
        session = Session(None, "t", "login", client=client)
        try:
            return call_handler(service, "login", session=session, user=name, passwd=passwd).account.account_id
        except SsoError as exc:
            return exc.code, exc.retry_after_s

    wrong = (SsoErrorCode.WRONG_CREDENTIALS, None)
    assert [attempt("wrong pass", attacker) for _ in range(4)] == [wrong] * 4, "3 free, the 4th sets a wait"
    code, wait = attempt("password1", attacker)
    assert code == SsoErrorCode.RATE_LIMITED and 0 < wait <= 30, "even the right password waits there"
    assert isinstance(attempt("password1", owner), int), "the owner, from elsewhere, gets in"


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
