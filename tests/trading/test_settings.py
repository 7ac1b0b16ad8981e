"""[trading] config parsing through the real config loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.config import ConfigError, load_config
from jarvis_tui.trading.settings import DEFAULT_PAIRS, TradingSettings


def load(tmp_path: Path, body: str):
    path = tmp_path / "config.toml"
    path.write_text(body)
    return load_config(str(path))


def test_defaults_are_the_users_parameters(tmp_path: Path) -> None:
    s = load(tmp_path, "").section("trading")
    assert s == TradingSettings()
    assert (s.leverage, s.position_usdt, s.tp_pct, s.sl_pct, s.signal_threshold) == (10, 10.0, 0.4, 0.25, 70.0)
    assert s.pairs == DEFAULT_PAIRS and len(s.pairs) == 10 and s.auto_trade is False


def test_values_and_relative_ledger_path(tmp_path: Path) -> None:
    config = load(tmp_path, '[trading]\npairs = ["BTC/USDT:USDT"]\nleverage = 5\nledger_path = "paper.db"\n'
                            'exchange_base_url = "http://127.0.0.1:8000/"\nauto_trade = true\n'
                            'ws_retry_s = 15\nexchange_ws_url = "ws://127.0.0.1:8001/edge"\n')
    s = config.section("trading")
    assert s.pairs == ("BTC/USDT:USDT",) and s.leverage == 5 and s.auto_trade
    assert s.ledger_path == tmp_path / "paper.db" and s.exchange_base_url == "http://127.0.0.1:8000"
    assert s.ws_retry_s == 15.0 and s.exchange_ws_url == "ws://127.0.0.1:8001/edge"


@pytest.mark.parametrize("body, message, line", [
    ('[trading]\nleverage = "ten"\n', "leverage must be an integer", 2),
    ("[trading]\n\nsl_pct = -1\n", "sl_pct must be > 0", 3),
    ('[trading]\napi_key_env = "mx0-abc/def+ghi"\n', "NAME of an environment variable", 2),
    ('[trading]\npairs = ["BTCUSDT"]\n', "pairs must be a list like", 2),
    ('[trading]\nexchange_base_url = "ftp://x"\n', "http:// or https://", 2),
    ("[trading]\nsignal_threshold = 120\n", "between 0 and 100", 2),
    ("[trading]\nws_retry_s = 0\n", "ws_retry_s must be > 0", 2),
])
def test_errors_are_located(tmp_path: Path, body: str, message: str, line: int) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load(tmp_path, body)
    assert caught.value.line == line
    assert "mx0-abc" not in str(caught.value)  # a pasted key is never echoed


def test_unknown_key_warns(tmp_path: Path) -> None:
    config = load(tmp_path, "[trading]\nleverge = 3\n")
    assert any("leverge" in str(w) for w in config.warnings)
