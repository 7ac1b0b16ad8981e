"""Regenerate data/markets/mexc_swap.json through ccxt's own MEXC parser.

The shipped files are REPRESENTATIVE, not a live read: the machine that made them
had no internet.  The input is a raw MEXC ``GET /api/v1/contract/detail`` response
(data/markets/mexc_contract_detail.json, the exchange's real field set: contractSize,
priceUnit, volUnit, minVol, maxLeverage, takerFeeRate, ...).  It is served from a
loopback HTTP server, ccxt's mexc client is pointed at it and
``fetch_swap_markets()`` + ``set_markets()`` turn it into unified markets, which are
dumped with a ``provenance`` block saying where they came from.

    python -m jarvis_tui.trading.snapshot            # offline: re-parse the raw file
    python -m jarvis_tui.trading.snapshot --live     # online: refresh both files from MEXC

``--live`` reads the real endpoint once, keeps the configured pairs' rows, rewrites the
raw file, and then parses it exactly like the offline path (so the shipped snapshot is
always what ccxt makes of the shipped raw file).  ``--base-url`` points it at another
host (the tests' loopback MEXC).  Exit codes: 0 written; 2 bad arguments; 3 MEXC
unreachable or refusing, or a configured pair missing from the answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from jarvis_tui.paths import data_file
from jarvis_tui.trading.settings import DEFAULT_PAIRS

RAW_DETAIL = data_file("markets/mexc_contract_detail.json")
MEXC_CONTRACT_HOST = "https://contract.mexc.com"
EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 2, 3


class SnapshotError(Exception):
    """MEXC could not be read, or its answer lacks a configured pair (one line, exit 3)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        raise SnapshotError(f"usage: {message}")


def _serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            ok = self.path.split("?")[0] == "/api/v1/contract/detail"
            payload = body if ok else b'{"success":false,"code":404,"message":"not found"}'
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def build_snapshot(raw_detail: Path = RAW_DETAIL, pairs: tuple[str, ...] = DEFAULT_PAIRS,
                   live: bool = False) -> dict[str, dict]:
    import ccxt  # heavy; this is a maintenance script

    exchange = ccxt.mexc({"options": {"defaultType": "swap"}})
    server = None
    if not live:
        server = _serve(raw_detail.read_bytes())
        exchange.urls["api"]["contract"]["public"] = f"http://127.0.0.1:{server.server_address[1]}/api/v1/contract"
    try:
        parsed = exchange.fetch_swap_markets()
    finally:
        if server is not None:
            server.shutdown()
    exchange.set_markets(parsed)
    wanted = set(pairs)
    markets = {symbol: market for symbol, market in exchange.markets.items() if symbol in wanted}
    missing = wanted - set(markets)
    if missing:
        raise SnapshotError(f"the contract/detail response lacks {', '.join(sorted(missing))}")
    return markets


def fetch_live_detail(base_url: str | None = None, pairs: tuple[str, ...] = DEFAULT_PAIRS,
                      timeout_s: float = 15.0) -> dict:
    """One live ``GET /api/v1/contract/detail`` through ccxt, cut down to the configured pairs' rows."""
    import ccxt

    exchange = ccxt.mexc({"options": {"defaultType": "swap"}, "timeout": int(timeout_s * 1000)})
    if base_url:
        exchange.urls["api"]["contract"]["public"] = f"{base_url.rstrip('/')}/api/v1/contract"
    try:
        raw = exchange.contractPublicGetDetail()
    except ccxt.NetworkError as exc:
        raise SnapshotError(f"MEXC is unreachable ({type(exc).__name__}); the snapshot was not changed") from None
    except ccxt.BaseError as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise SnapshotError(f"MEXC refused the contract/detail read: {first}") from None
    rows = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(rows, list):
        raise SnapshotError("MEXC's contract/detail answer has no data list; the snapshot was not changed")
    wanted = {pair.split("/")[0] + "_" + pair.split("/")[1].split(":")[0] for pair in pairs}
    kept = [row for row in rows if isinstance(row, dict) and row.get("symbol") in wanted]
    missing = wanted - {row["symbol"] for row in kept}
    if missing:
        raise SnapshotError(f"MEXC lists no swap contract {', '.join(sorted(missing))}; the snapshot was not changed")
    return {**raw, "data": kept}


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m jarvis_tui.trading.snapshot")
    parser.add_argument("--live", action="store_true",
                        help="read the real MEXC endpoint, rewrite the raw file, then the snapshot")
    parser.add_argument("--base-url", default=None,
                        help=f"MEXC contract host for --live (default {MEXC_CONTRACT_HOST})")
    parser.add_argument("--out", default=str(data_file("markets/mexc_swap.json")))
    parser.add_argument("--raw", default=str(RAW_DETAIL),
                        help="the raw contract/detail file (read, or written by --live)")
    try:
        args = parser.parse_args(argv)
        raw_path = Path(args.raw)
        if args.live:
            host = args.base_url or MEXC_CONTRACT_HOST
            detail = fetch_live_detail(args.base_url)
            provenance = {"live": True, "fetched_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "from": f"{host}/api/v1/contract/detail"}
            raw_path.parent.mkdir(parents=True, exist_ok=True)
            raw_path.write_text(json.dumps(detail, indent=1, ensure_ascii=True) + "\n", "utf-8")
        else:
            if not raw_path.exists():
                raise SnapshotError(f"raw contract/detail file {raw_path} not found")
            provenance = {"live": False,
                          "note": "representative MEXC values, not a live read; refresh with "
                                  "`python -m jarvis_tui.trading.snapshot --live` when online"}
        markets = build_snapshot(raw_path)
    except SnapshotError as exc:
        print(f"snapshot: {exc}", file=sys.stderr)
        return EXIT_USAGE if str(exc).startswith("usage: ") else EXIT_FAILED
    Path(args.out).write_text(json.dumps({"source": "ccxt mexc fetch_swap_markets", "provenance": provenance,
                                          "markets": markets}, indent=1, sort_keys=True) + "\n", "utf-8")
    print(f"wrote {len(markets)} markets to {args.out} ({'live' if args.live else 'representative'})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
