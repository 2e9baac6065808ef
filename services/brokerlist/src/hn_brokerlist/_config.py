"""brokerlist's configuration, from HN_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["BrokerlistConfig"]


@dataclass(frozen=True)
class BrokerlistConfig:
    #: a built web page (clients/web's dist/) to serve under /play/; "" serves none
    page_dir: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BrokerlistConfig:
        env = os.environ if env is None else env
        return cls(page_dir=env.get("HN_BROKERLIST_PAGE_DIR", ""))
