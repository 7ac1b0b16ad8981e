"""The shipped markets snapshot: representative, says so, and `snapshot --live` refreshes it from MEXC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jarvis_tui.config import load_config
from jarvis_tui.trading.cli import main as trade_main
from jarvis_tui.trading.markets import read_markets_file, snapshot_note, snapshot_path
from jarvis_tui.trading.settings import DEFAULT_PAIRS
from jarvis_tui.trading.snapshot import RAW_DETAIL, main
from tests.conftest import free_port


def test_shipped_snapshot_says_it_is_representative() -> None:
    provenance = json.loads(snapshot_path().read_text())["provenance"]
    assert provenance["live"] is False and "not a live read" in provenance["note"]
    assert "snapshot --live" in provenance["note"]
    assert snapshot_note() == "representative, not live"


def test_live_refresh_writes_raw_and_snapshot_from_the_exchange(mexc, tmp_path: Path, capsys) -> None:
    out, raw = tmp_path / "mexc_swap.json", tmp_path / "detail.json"
    assert main(["--live", "--base-url", mexc.url, "--out", str(out), "--raw", str(raw)]) == 0
    assert mexc.state.paths() == ["/api/v1/contract/detail"]  # one read of the real endpoint path
    written = json.loads(out.read_text())
    assert written["provenance"]["live"] is True
    assert written["provenance"]["from"] == f"{mexc.url}/api/v1/contract/detail"
    assert set(written["markets"]) == set(DEFAULT_PAIRS)
    # the loopback answers the shipped raw response, so the refresh reproduces the shipped markets
    assert written["markets"] == read_markets_file(snapshot_path())
    assert json.loads(raw.read_text())["data"] == json.loads(RAW_DETAIL.read_text())["data"]
    assert "(live)" in capsys.readouterr().out


def test_live_refresh_keeps_only_the_configured_pairs(mexc, tmp_path: Path) -> None:
    detail = json.loads(RAW_DETAIL.read_text())
    extra = {**detail["data"][0], "symbol": "FOO_USDT", "baseCoin": "FOO", "baseCoinName": "FOO"}
    mexc.httpd.RequestHandlerClass.detail = json.dumps({**detail, "data": detail["data"] + [extra]}).encode()
    raw = tmp_path / "detail.json"
    assert main(["--live", "--base-url", mexc.url, "--out", str(tmp_path / "o.json"), "--raw", str(raw)]) == 0
    assert "FOO_USDT" not in {row["symbol"] for row in json.loads(raw.read_text())["data"]}


@pytest.mark.parametrize("case", ["unreachable", "missing-pair", "bad-arg"])
def test_refresh_failures_are_one_line_and_change_nothing(case: str, mexc, tmp_path: Path, capsys) -> None:
    out, raw = tmp_path / "mexc_swap.json", tmp_path / "detail.json"
    base = mexc.url
    if case == "unreachable":
        base = f"http://127.0.0.1:{free_port()}"
    elif case == "missing-pair":
        detail = json.loads(RAW_DETAIL.read_text())
        detail["data"] = [row for row in detail["data"] if row["symbol"] != "PEPE_USDT"]
        mexc.httpd.RequestHandlerClass.detail = json.dumps(detail).encode()
    args = ["--live", "--base-url", base, "--out", str(out), "--raw", str(raw)]
    code = main(args + (["--bogus"] if case == "bad-arg" else []))
    err = capsys.readouterr().err.strip().splitlines()
    expected = {"unreachable": (3, "snapshot: MEXC is unreachable"),
                "missing-pair": (3, "snapshot: MEXC lists no swap contract PEPE_USDT"),
                "bad-arg": (2, "snapshot: usage: unrecognized arguments: --bogus")}[case]
    assert code == expected[0] and len(err) == 1 and err[0].startswith(expected[1])
    assert not out.exists() and not raw.exists()


def test_status_says_the_snapshot_is_representative(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "jarvis.db"}"\n')
    assert trade_main(["status", "--offline"], load_config(str(config))) == 0
    assert "markets: snapshot (representative, not live)" in capsys.readouterr().out
