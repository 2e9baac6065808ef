"""What names, passwords, device ids, tokens and session ids may look like.

Every string a client sends is checked here before it reaches PostgreSQL, Redis or a log line:
control characters (NUL included, which PostgreSQL refuses in text) are never part of one.
Patterns are matched whole (`fullmatch`): `$` alone would let a trailing newline through.
"""

from __future__ import annotations

import re

from hn_idl.sso.ttypes import SsoError, SsoErrorCode

__all__ = [
    "MAX_LOGIN_NAME",
    "check_device",
    "check_login",
    "check_name",
    "check_password",
    "check_token",
    "session_account",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,23}")
_DEVICE = re.compile(r"[A-Za-z0-9._:-]{8,128}")
#: "<account id>.<64 hex>"; a bare 64 hex digits is a token issued before tokens named their account
_TOKEN = re.compile(r"(?:[1-9][0-9]{0,18}\.)?[0-9a-f]{64}")
#: C0 controls, DEL and the C1 controls: no name, password or device id holds one
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: a login name longer than this names no account (names are 3-24 characters)
MAX_LOGIN_NAME = 64
_MAX_PASSWORD = 128
_MAX_ACCOUNT_ID = 2**63 - 1


def _invalid(message: str) -> SsoError:
    return SsoError(code=SsoErrorCode.INVALID_INPUT, message=message)


def check_name(name: str | None) -> str:
    if not name or not _NAME.fullmatch(name):
        raise _invalid("a name is 3-24 characters: letters, digits, '_', '.', '-', starting with a letter or digit")
    if name.lower().startswith("guest-"):
        raise _invalid("names starting with 'guest-' are reserved for guest accounts")
    return name


def check_password(password: str | None) -> str:
    if password is None or not 8 <= len(password) <= _MAX_PASSWORD:
        raise _invalid(f"a password is 8-{_MAX_PASSWORD} characters")
    if _CONTROL.search(password):
        raise _invalid("a password holds no control characters")
    return password


def check_login(name: str, password: str) -> None:
    """What a login (or a password check) may be given: INVALID_INPUT for control characters,
    which no name or password holds. Any other shape passes: a name that cannot exist gets the
    same WRONG_CREDENTIALS as a wrong password, after the same work."""
    if _CONTROL.search(name) or _CONTROL.search(password):
        raise _invalid("names and passwords hold no control characters")


def check_device(device_id: str | None) -> str:
    if not device_id or not _DEVICE.fullmatch(device_id):
        raise _invalid("a device id is 8-128 characters: letters, digits, '.', '_', ':', '-'")
    return device_id


def check_token(token: str | None) -> str:
    if not token or not _TOKEN.fullmatch(token):
        raise SsoError(code=SsoErrorCode.INVALID_TOKEN, message="malformed token")
    return token


def session_account(session_id: str | None) -> int | None:
    """The account id of a broker's session id (its decimal form), None without a valid one."""
    if not session_id or not session_id.isascii() or not session_id.isdigit() or len(session_id) > 19:
        return None
    account_id = int(session_id)
    return account_id if 0 < account_id <= _MAX_ACCOUNT_ID else None
