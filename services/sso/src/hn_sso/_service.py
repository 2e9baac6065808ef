"""The sso service: handlers for `idl/sso.thrift`, wiring accounts, passwords, sessions, limits."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from redis.exceptions import RedisError

from hn_datatier import DependencyGuard, PgPool, apply_migrations, load_migrations, redis_from_url
from hn_idl.sso import Sso  # pants: no-infer-dep (generated service module)
from hn_idl.sso.ttypes import Account, Login, SsoError, SsoErrorCode
from hn_runtime import InternalError, Service, Session, Unauthenticated
from hn_sso._accounts import Accounts, NameTaken
from hn_sso._inputs import check_device, check_name, check_password, check_token
from hn_sso._limits import FailedLogins
from hn_sso._passwords import PROFILES, Passwords
from hn_sso._sessions import Sessions

__all__ = ["SsoService", "SsoConfig"]

LOGINS = Counter("hn_sso_logins_total", "Login attempts by kind and outcome.", ["kind", "outcome"])


@dataclass(frozen=True)
class SsoConfig:
    """HN_PG_DSN, HN_REDIS_URL, and HN_SSO_* tuning (hash profile, token TTL, limits)."""

    pg_dsn: str
    redis_url: str
    hash_profile: str = "production"
    token_ttl_s: int = 24 * 3600
    failed_logins_per_account: int = 5
    failed_logins_per_address: int = 50
    failed_login_window_s: int = 15 * 60
    pg_pool_size: int = 8

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SsoConfig:
        env = dict(os.environ if env is None else env)
        if "HN_PG_DSN" not in env or "HN_REDIS_URL" not in env:
            raise RuntimeError("sso needs HN_PG_DSN (Pgpool) and HN_REDIS_URL (Twemproxy)")
        return cls(
            pg_dsn=env["HN_PG_DSN"],
            redis_url=env["HN_REDIS_URL"],
            hash_profile=env.get("HN_SSO_HASH_PROFILE", "production"),
            token_ttl_s=int(env.get("HN_SSO_TOKEN_TTL_S", 24 * 3600)),
            failed_logins_per_account=int(env.get("HN_SSO_FAILED_LOGINS_PER_ACCOUNT", 5)),
            failed_logins_per_address=int(env.get("HN_SSO_FAILED_LOGINS_PER_ADDRESS", 50)),
            failed_login_window_s=int(env.get("HN_SSO_FAILED_LOGIN_WINDOW_S", 15 * 60)),
        )


def _wrong_credentials() -> SsoError:
    return SsoError(code=SsoErrorCode.WRONG_CREDENTIALS, message="wrong name or password")


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
        redis = redis_from_url(self.config.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.sessions = Sessions(redis, ttl_s=self.config.token_ttl_s)
        self._guarded = DependencyGuard(
            "sso",
            lambda dep: SsoError(code=SsoErrorCode.INTERNAL, message=f"{dep} unavailable, try again"),
            log=self.log,
        )
        self.limits = FailedLogins(
            redis,
            per_account=self.config.failed_logins_per_account,
            per_address=self.config.failed_logins_per_address,
            window_s=self.config.failed_login_window_s,
        )

    def on_start(self) -> None:
        applied = apply_migrations(self._pool, "sso", load_migrations("hn_sso"))
        if applied:
            self.log.info("migrations applied", versions=applied)

    def on_stop(self) -> None:
        self._pool.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _login(self, session: Session, account: Account, kind: str) -> Login:
        token = self.sessions.issue(account)
        LOGINS.labels(kind, "ok").inc()
        self.log.info("logged in", account_id=account.account_id, kind=kind)
        session.open_session(account.account_id, account.display_name)
        return Login(token=token, account=account, expires_in_s=self.sessions.ttl_s)

    # -- IDL methods -------------------------------------------------------------------------

    def on_register(self, session: Session, request: Any) -> Login:
        name = check_name(request.user)
        password = check_password(request.passwd)
        device_id = check_device(request.device_id) if request.device_id is not None else None
        password_hash = self.passwords.hash(password)

        def register() -> Login:
            try:
                account = self.accounts.create(name, password_hash, device_id)
            except NameTaken:
                LOGINS.labels("register", "name_taken").inc()
                raise SsoError(code=SsoErrorCode.NAME_TAKEN, message=f"the name {name!r} is taken") from None
            return self._login(session, account, "register")

        return self._guarded(register)

    def on_login(self, session: Session, request: Any) -> Login:
        name = request.user or ""
        password = request.passwd or ""
        if not name or not password or len(name) > 64 or len(password) > 128:
            raise _wrong_credentials()
        # The broker passes "ip:port"; a client reconnecting gets a new port, not a new address.
        address = session.client.rsplit(":", 1)[0] if session.client else None

        def login() -> Login:
            wait = self.limits.attempt(name, address)
            if wait:
                LOGINS.labels("password", "rate_limited").inc()
                raise SsoError(code=SsoErrorCode.RATE_LIMITED, message="too many login attempts", retry_after_s=wait)
            try:
                stored = self.accounts.by_name(name)
                # A missing account costs a full verify too: timing must not tell names apart.
                matches = self.passwords.verify(stored.password_hash if stored else None, password)
            except Exception:
                # The attempt was never judged (a database outage): it must not count, or an
                # outage would lock players out for the whole window once it is over.
                with contextlib.suppress(RedisError):
                    self.limits.refund(name, address)
                raise
            if not matches or stored is None:
                LOGINS.labels("password", "wrong_credentials").inc()
                raise _wrong_credentials()
            if stored.password_hash and self.passwords.needs_rehash(stored.password_hash):
                self.accounts.set_password_hash(stored.account.account_id, self.passwords.hash(password))
                self.log.info("password hash upgraded", account_id=stored.account.account_id)
            self.limits.succeeded(name, address)
            self.accounts.logged_in(stored.account.account_id)
            return self._login(session, stored.account, "password")

        return self._guarded(login)

    def on_guest_login(self, session: Session, request: Any) -> Login:
        device_id = check_device(request.device_id)

        def guest_login() -> Login:
            stored = self.accounts.by_device(device_id)
            account = stored.account if stored is not None else self.accounts.create_guest(device_id)
            return self._login(session, account, "guest" if account.guest else "device")

        return self._guarded(guest_login)

    def on_logout(self, session: Session, request: Any) -> None:
        token = check_token(request.token)
        self._guarded(lambda: self.sessions.revoke(token))
        session.end_session()

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
