"""The sso service: handlers for `idl/sso.thrift`, wiring accounts, passwords, sessions, limits."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from redis.exceptions import RedisError

from hn_datatier import DependencyGuard, PgPool, apply_migrations, load_migrations, redis_from_url
from hn_edge import Edge
from hn_idl.sso import Sso  # pants: no-infer-dep (generated service module)
from hn_idl.sso.ttypes import Account, Login, SsoError, SsoErrorCode
from hn_runtime import InternalError, Service, Session, Unauthenticated
from hn_sso._accounts import Accounts, NameTaken, NotYourDevice, StoredAccount
from hn_sso._inputs import (
    MAX_LOGIN_NAME,
    check_device,
    check_login,
    check_name,
    check_password,
    check_token,
    session_account,
)
from hn_sso._limits import CreationLimit, LoginThrottle, address_of
from hn_sso._passwords import PROFILES, Passwords
from hn_sso._sessions import Sessions

__all__ = ["SsoService", "SsoConfig"]

LOGINS = Counter("hn_sso_logins_total", "Login attempts by kind and outcome.", ["kind", "outcome"])
_MAX_PASSWORD = 128


@dataclass(frozen=True)
class SsoConfig:
    """HN_PG_DSN, HN_REDIS_URL, and HN_SSO_* tuning (hash profile, token TTL, limits).

    Failed logins (see `_limits.LoginThrottle`): each counter lets `failed_logins_per_*`
    failures through freely, then every further failure doubles the wait for the next attempt,
    from `login_delay_base_s` up to `login_delay_max_s`; a counter is forgotten
    `failed_login_window_s` after its last failure. `per_account` counts failures on one
    account from addresses it never logged in from (`known_address_ttl_s` remembers those).
    Account creation: `account_creations_per_address` per `account_creation_window_s`.
    """

    pg_dsn: str
    redis_url: str
    hash_profile: str = "production"
    token_ttl_s: int = 24 * 3600
    failed_logins_per_account: int = 20
    failed_logins_per_address: int = 50
    failed_login_window_s: int = 15 * 60
    pg_pool_size: int = 8
    failed_logins_per_account_address: int = 3
    login_delay_base_s: float = 1.0
    login_delay_max_s: float = 120.0
    known_address_ttl_s: int = 30 * 24 * 3600
    account_creations_per_address: int = 20
    account_creation_window_s: int = 3600

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SsoConfig:
        env = dict(os.environ if env is None else env)
        if "HN_PG_DSN" not in env or "HN_REDIS_URL" not in env:
            raise RuntimeError("sso needs HN_PG_DSN (Pgpool) and HN_REDIS_URL (Twemproxy)")
        defaults = cls(pg_dsn="", redis_url="")

        def get(name: str, default: object) -> str:
            return env.get(f"HN_SSO_{name}", str(default))

        return cls(
            pg_dsn=env["HN_PG_DSN"],
            redis_url=env["HN_REDIS_URL"],
            hash_profile=get("HASH_PROFILE", defaults.hash_profile),
            token_ttl_s=int(get("TOKEN_TTL_S", defaults.token_ttl_s)),
            failed_logins_per_account=int(get("FAILED_LOGINS_PER_ACCOUNT", defaults.failed_logins_per_account)),
            failed_logins_per_address=int(get("FAILED_LOGINS_PER_ADDRESS", defaults.failed_logins_per_address)),
            failed_login_window_s=int(get("FAILED_LOGIN_WINDOW_S", defaults.failed_login_window_s)),
            failed_logins_per_account_address=int(
                get("FAILED_LOGINS_PER_ACCOUNT_ADDRESS", defaults.failed_logins_per_account_address)
            ),
            login_delay_base_s=float(get("LOGIN_DELAY_BASE_S", defaults.login_delay_base_s)),
            login_delay_max_s=float(get("LOGIN_DELAY_MAX_S", defaults.login_delay_max_s)),
            known_address_ttl_s=int(get("KNOWN_ADDRESS_TTL_S", defaults.known_address_ttl_s)),
            account_creations_per_address=int(
                get("ACCOUNT_CREATIONS_PER_ADDRESS", defaults.account_creations_per_address)
            ),
            account_creation_window_s=int(get("ACCOUNT_CREATION_WINDOW_S", defaults.account_creation_window_s)),
        )

    def login_throttle(self, redis: Any) -> LoginThrottle:
        """The failed-login throttle these settings describe, on `redis`."""
        return LoginThrottle(
            redis,
            per_account_address=self.failed_logins_per_account_address,
            per_account=self.failed_logins_per_account,
            per_address=self.failed_logins_per_address,
            memory_s=self.failed_login_window_s,
            base_delay_s=self.login_delay_base_s,
            max_delay_s=self.login_delay_max_s,
            known_for_s=self.known_address_ttl_s,
        )


def _wrong_credentials() -> SsoError:
    return SsoError(code=SsoErrorCode.WRONG_CREDENTIALS, message="wrong name or password")


def _rate_limited(message: str, wait_s: int) -> SsoError:
    return SsoError(code=SsoErrorCode.RATE_LIMITED, message=message, retry_after_s=wait_s)


class SsoService(Service):
    name = "sso"
    idl = Sso

    def __init__(self, config: SsoConfig | None = None) -> None:
        super().__init__()
        self.config = config or SsoConfig.from_env()
        if self.config.hash_profile not in PROFILES:
            raise RuntimeError(f"HN_SSO_HASH_PROFILE must be one of {sorted(PROFILES)}")
        self.passwords = Passwords(PROFILES[self.config.hash_profile])
        self._pool = PgPool(self.config.pg_dsn, size=self.config.pg_pool_size)
        self.accounts = Accounts(self._pool)
        self._redis = redis_from_url(self.config.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.sessions = Sessions(self._redis, ttl_s=self.config.token_ttl_s)
        self._guarded = DependencyGuard(
            "sso",
            lambda dep: SsoError(code=SsoErrorCode.INTERNAL, message=f"{dep} unavailable, try again"),
            log=self.log,
        )
        self.throttle = self.config.login_throttle(self._redis)
        self.creations = CreationLimit(
            self._redis,
            per_address=self.config.account_creations_per_address,
            window_s=self.config.account_creation_window_s,
        )
        #: tells brokers to close the connections of sessions that ended (made at start)
        self.edge: Edge | None = None

    def on_start(self) -> None:
        assert self.server is not None
        applied = apply_migrations(self._pool, "sso", load_migrations("hn_sso"))
        if applied:
            self.log.info("migrations applied", versions=applied)
        self.edge = Edge(self._redis, instance_id=self.server.instance)

    def on_stop(self) -> None:
        self._pool.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _login(self, session: Session, account: Account, kind: str) -> Login:
        token = self.sessions.issue(account)
        LOGINS.labels(kind, "ok").inc()
        self.log.info("logged in", account_id=account.account_id, kind=kind)
        session.open_session(account.account_id, account.display_name)
        return Login(token=token, account=account, expires_in_s=self.sessions.ttl_s)

    def _verified(
        self, name: str, password: str, address: str | None, kind: str, find: Callable[[], StoredAccount | None]
    ) -> StoredAccount:
        """The account `find()` answers, if `password` is its password: throttled per account
        and address (RATE_LIMITED), the same work and answer for a wrong password and a missing
        account (WRONG_CREDENTIALS)."""
        attempt = self.throttle.attempt(name, address)
        if attempt.wait_s:
            LOGINS.labels(kind, "rate_limited").inc()
            raise _rate_limited("too many failed attempts: wait before the next", attempt.wait_s)
        try:
            stored = find()
            # A missing account costs a full verify too: timing must not tell names apart.
            matches = self.passwords.verify(stored.password_hash if stored else None, password)
        except Exception:
            # The attempt was never judged (a database outage): it must not count, or an outage
            # would slow every player down once it is over.
            with contextlib.suppress(RedisError):
                self.throttle.refund(attempt)
            raise
        if not matches or stored is None:
            LOGINS.labels(kind, "wrong_credentials").inc()
            raise _wrong_credentials()
        self.throttle.succeeded(attempt)
        return stored

    def _count_creation(self, address: str | None, kind: str) -> None:
        wait = self.creations.attempt(address)
        if wait:
            LOGINS.labels(kind, "rate_limited").inc()
            raise _rate_limited("too many accounts made from this address: try again later", wait)

    def _end_elsewhere(self, session_id: str, reason: str, spare_peer: str | None) -> None:
        """The session is over: its connection on whichever broker holds it is told and closed,
        except the connection of this very call (`spare_peer`), which the reply reaches."""
        if self.edge is None:
            return
        try:
            self.edge.end_session(session_id, reason, spare_peer=spare_peer or "")
        except RedisError as exc:  # the token is dead all the same: a resume is refused
            self.log.warning("could not find the session's broker", session_id=session_id, error=str(exc))

    # -- IDL methods -------------------------------------------------------------------------

    def on_create_account(self, session: Session, request: Any) -> Login:
        name = check_name(request.user)
        password = check_password(request.passwd)
        # "" is the IDL's default (no device), as is an absent field from an older client.
        device_id = check_device(request.device_id) if request.device_id else None
        address = address_of(session.client)
        # Account creation is counted per address before the hash is made (the slow part). A
        # register with a device id from a session may be that guest upgrading itself, which
        # makes no account: it is counted only if it makes one after all, just before the insert.
        upgrading = session_account(session.id) if device_id else None
        counted = upgrading is None
        if counted:
            self._guarded(lambda: self._count_creation(address, "register"))
        password_hash = self.passwords.hash(password)

        def creating() -> None:
            nonlocal counted
            if not counted:
                self._count_creation(address, "register")
                counted = True

        def register() -> Login:
            try:
                account, new = self.accounts.create(
                    name, password_hash, device_id, session_account=upgrading, creating=creating
                )
            except NameTaken:
                LOGINS.labels("register", "name_taken").inc()
                raise SsoError(code=SsoErrorCode.NAME_TAKEN, message=f"the name {name!r} is taken") from None
            except NotYourDevice as exc:
                LOGINS.labels("register", "not_your_device").inc()
                why = (
                    "this device's guest account is upgraded only from its own session: guest_login first"
                    if exc.guest
                    else "this device belongs to a registered account: register without it"
                )
                raise SsoError(code=SsoErrorCode.NOT_YOUR_DEVICE, message=why) from None
            except SsoError:
                raise
            except Exception:
                if counted:
                    with contextlib.suppress(RedisError):
                        self.creations.refund(address)
                raise
            return self._login(session, account, "register" if new else "upgrade")

        return self._guarded(register)

    def on_login(self, session: Session, request: Any) -> Login:
        name = request.user or ""
        password = request.passwd or ""
        check_login(name, password)
        if not name or not password or len(name) > MAX_LOGIN_NAME or len(password) > _MAX_PASSWORD:
            raise _wrong_credentials()
        # The broker passes "ip:port"; a client reconnecting gets a new port, not a new address.
        address = address_of(session.client)

        def login() -> Login:
            stored = self._verified(name, password, address, "password", lambda: self.accounts.by_name(name))
            if stored.password_hash and self.passwords.needs_rehash(stored.password_hash):
                self.accounts.set_password_hash(stored.account.account_id, self.passwords.hash(password))
                self.log.info("password hash upgraded", account_id=stored.account.account_id)
            self.accounts.logged_in(stored.account.account_id)
            return self._login(session, stored.account, "password")

        return self._guarded(login)

    def on_guest_login(self, session: Session, request: Any) -> Login:
        device_id = check_device(request.device_id)
        address = address_of(session.client)

        def guest_login() -> Login:
            stored = self.accounts.by_device(device_id)
            if stored is not None:
                account = stored.account
            else:
                self._count_creation(address, "guest")
                try:
                    account, new = self.accounts.create_guest(device_id)
                except Exception:
                    with contextlib.suppress(RedisError):
                        self.creations.refund(address)
                    raise
                if not new:  # another instance made it a moment ago
                    self.creations.refund(address)
            return self._login(session, account, "guest" if account.guest else "device")

        return self._guarded(guest_login)

    def on_logout(self, session: Session, request: Any) -> None:
        token = check_token(request.token)
        ended = self._guarded(lambda: self.sessions.revoke(token))
        session.end_session()
        if ended is not None:
            # Revoked first: the connection told to end cannot resume with the token any more.
            self._end_elsewhere(str(ended.account_id), "logged out", session.client)

    def on_change_password(self, session: Session, request: Any) -> Login:
        account_id = session_account(session.id)
        if account_id is None:
            raise SsoError(code=SsoErrorCode.INVALID_TOKEN, message="change_password needs a logged-in session")
        old = request.old_passwd or ""
        check_login("", old)
        new = check_password(request.new_passwd)
        if not old or len(old) > _MAX_PASSWORD:
            raise _wrong_credentials()
        address = address_of(session.client)

        def change_password() -> Login:
            stored = self.accounts.by_id(account_id, primary=True)
            if stored is None:
                raise SsoError(code=SsoErrorCode.INVALID_TOKEN, message="this session's account is gone")
            name = stored.account.display_name
            self._verified(name, old, address, "change_password", lambda: stored)
            self.accounts.set_password_hash(account_id, self.passwords.hash(new))
            # A new token replaces the current one: the old one validates and resumes no more.
            token = self.sessions.issue(stored.account)
            LOGINS.labels("change_password", "ok").inc()
            self.log.info("password changed", account_id=account_id)
            self._end_elsewhere(str(account_id), "the password was changed", session.client)
            return Login(token=token, account=stored.account, expires_in_s=self.sessions.ttl_s)

        return self._guarded(change_password)

    def on_validate(self, session: Session, request: Any) -> Account:
        token = check_token(request.token)
        account = self._guarded(lambda: self.sessions.account(token))
        if account is None:
            raise SsoError(code=SsoErrorCode.INVALID_TOKEN, message="unknown, expired or logged-out token")
        return account

    def on_resume(self, session: Session, request: Any) -> Account:
        try:
            account = self.on_validate(session, request)
        except SsoError as exc:
            if exc.code == SsoErrorCode.INVALID_TOKEN:
                raise Unauthenticated(exc.message) from None
            raise InternalError(exc.message) from None  # not a verdict on the token: retried
        session.open_session(account.account_id, account.display_name)
        return account

    def on_get_account(self, session: Session, request: Any) -> Account:
        # Read from any node (Pgpool balances): an account made a moment ago may not be there yet.
        stored = self._guarded(lambda: self.accounts.by_id(request.account_id))
        if stored is None:
            raise SsoError(code=SsoErrorCode.NO_SUCH_ACCOUNT, message=f"no account {request.account_id}")
        return stored.account
