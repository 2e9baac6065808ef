"""What names, passwords, device ids and tokens may look like."""

from __future__ import annotations

import re

from hn_idl.sso.ttypes import SsoError, SsoErrorCode

__all__ = ["check_name", "check_password", "check_device", "check_token"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,23}$")
_DEVICE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
#: "<account id>.<64 hex>"; a bare 64 hex digits is a token issued before tokens named their account
_TOKEN = re.compile(r"^(?:[1-9][0-9]{0,18}\.)?[0-9a-f]{64}$")


def _invalid(message: str) -> SsoError:
    return SsoError(code=SsoErrorCode.INVALID_INPUT, message=message)


def check_name(name: str | None) -> str:
    if not name or not _NAME.match(name):
        raise _invalid("a name is 3-24 characters: letters, digits, '_', '.', '-', starting with a letter or digit")
    if name.lower().startswith("guest-"):
        raise _invalid("names starting with 'guest-' are reserved for guest accounts")
    return name


def check_password(password: str | None) -> str:
    if password is None or not 8 <= len(password) <= 128:
        raise _invalid("a password is 8-128 characters")
    return password


def check_device(device_id: str | None) -> str:
    if not device_id or not _DEVICE.match(device_id):
        raise _invalid("a device id is 8-128 characters: letters, digits, '.', '_', ':', '-'")
    return device_id


def check_token(token: str | None) -> str:
    if not token or not _TOKEN.match(token):
        raise SsoError(code=SsoErrorCode.INVALID_TOKEN, message="malformed token")
    return token
