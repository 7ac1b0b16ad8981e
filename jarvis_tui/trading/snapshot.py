"""Regenerate data/markets/mexc_swap.json offline, through ccxt's own MEXC parser.

There is no internet here, so the input is a raw MEXC ``GET /api/v1/contract/detail``
response (data/markets/mexc_contract_detail.json, the exchange's real field set:
contractSize, priceUnit, volUnit, minVol, maxLeverage, takerFeeRate, ...).  It is
served from a loopback HTTP server, ccxt's mexc client is pointed at it and
``fetch_swap_markets()`` + ``set_markets()`` turn it into unified markets, which
are dumped.  With network access, pass ``--live`` to read the real endpoint.

    python -m jarvis_tui.trading.snapshot [--live] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from jarvis_tui.paths import data_file
from jarvis_tui.trading.settings import DEFAULT_PAIRS

RAW_DETAIL = data_file("markets/mexc_contract_detail.json")


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
        raise SystemExit(f"snapshot: the detail response lacks {', '.join(sorted(missing))}")
    return markets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jarvis_tui.trading.snapshot")
    parser.add_argument("--live", action="store_true", help="read the real MEXC endpoint instead of the raw file")
    parser.add_argument("--out", default=str(data_file("markets/mexc_swap.json")))
    args = parser.parse_args(argv)
    markets = build_snapshot(live=args.live)
    Path(args.out).write_text(json.dumps({"source": "ccxt mexc fetch_swap_markets", "markets": markets},
                                         indent=1, sort_keys=True) + "\n", "utf-8")
    print(f"wrote {len(markets)} markets to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
