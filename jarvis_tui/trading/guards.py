"""Refusals and the live-mode gate.

Every refusal is a ``TradingRefused`` whose message is one sentence a face can
print as-is.  Credentials live only in a ``Credentials`` object whose repr and
str never show them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

LIVE_CONFIRMATION = "LIVE"
KILL_CONFIRMATION = "KILL"


class TradingRefused(Exception):
    """An order or mode change the guards refused; ``str(exc)`` is the user-facing line."""

    def __init__(self, message: str, *, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    source: str = ""  # the env var names, safe to show

    def __repr__(self) -> str:
        return f"Credentials(<hidden>, from {self.source})"

    __str__ = __repr__


class RedactingLogger(logging.LoggerAdapter):
    """Handed to ccxt as its logger: ccxt's DEBUG lines include request headers (the API key)."""

    def __init__(self, logger: logging.Logger, secrets: tuple[str, ...]) -> None:
        super().__init__(logger, {})
        self._secrets = tuple(s for s in secrets if s)

    def log(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join([str(msg), *map(str, args)])
        for secret in self._secrets:
            text = text.replace(secret, "<hidden>")
        kwargs.pop("stacklevel", None)
        self.logger.log(level, text, **kwargs)  # type: ignore[arg-type]


def require_live_keys(*, live_flag: bool, api_key_env: str, secret_env: str,
                      env: Mapping[str, str] | None = None) -> Credentials:
    """The --live flag and both keys in the env vars named in config (enough to READ the live account)."""
    env = os.environ if env is None else env
    if not live_flag:
        raise TradingRefused("live trading refused: start jarvis with --live to allow it (paper trading is the "
                             "default)", code="no-live-flag")
    missing = [name for name in (api_key_env, secret_env) if not env.get(name)]
    if missing:
        raise TradingRefused(f"live trading refused: no API credentials; set the environment variable(s) "
                             f"{', '.join(missing)} (named by [trading] api_key_env / secret_env)", code="no-keys")
    return Credentials(env[api_key_env], env[secret_env], source=f"${api_key_env}, ${secret_env}")


def require_live(*, live_flag: bool, api_key_env: str, secret_env: str, confirmation: str | None,
                 env: Mapping[str, str] | None = None) -> Credentials:
    """All three: the --live flag, both keys in the env vars named in config, the typed confirmation."""
    credentials = require_live_keys(live_flag=live_flag, api_key_env=api_key_env, secret_env=secret_env, env=env)
    if (confirmation or "").strip() != LIVE_CONFIRMATION:
        raise TradingRefused(f"live trading refused: type {LIVE_CONFIRMATION} exactly to confirm real-money orders",
                             code="no-confirmation")
    return credentials


def require_kill_confirmation(confirmation: str | None) -> None:
    if (confirmation or "").strip() != KILL_CONFIRMATION:
        raise TradingRefused(f"kill switch refused: type {KILL_CONFIRMATION} to close every position and cancel "
                             "every order", code="no-confirmation")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_open_positions: int
    max_total_notional_usdt: float
    max_price_age_s: float


def check_price_fresh(symbol: str, price_ts: float | None, now: float, max_age_s: float, *,
                      action: str = "order", advice: str = "market data is stale") -> None:
    """Refuse an ``action`` priced on a quote older than ``max_age_s``; the message ends with ``advice``."""
    if price_ts is None:
        raise TradingRefused(f"{action} refused: no price for {symbol} yet (market data unavailable)",
                             code="no-price")
    age = now - price_ts
    if age > max_age_s:
        raise TradingRefused(f"{action} refused: the {symbol} price is {age:.0f}s old (limit {max_age_s:g}s); "
                             f"{advice}", code="stale-price")


def check_new_position(limits: RiskLimits, *, open_positions: int, total_notional: float,
                       new_notional: float) -> None:
    if open_positions + 1 > limits.max_open_positions:
        raise TradingRefused(f"order refused: {open_positions} positions are open and the maximum is "
                             f"{limits.max_open_positions} ([trading] max_open_positions)", code="max-positions")
    if total_notional + new_notional > limits.max_total_notional_usdt + 1e-9:
        raise TradingRefused(f"order refused: total notional would be {total_notional + new_notional:.2f} USDT, "
                             f"above the maximum {limits.max_total_notional_usdt:g} USDT "
                             "([trading] max_total_notional_usdt)", code="max-notional")
