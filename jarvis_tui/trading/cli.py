"""`jarvis trade ...`: the headless trading face.

    jarvis trade status [--json] [--offline] [--live]
    jarvis trade close SYMBOL [--fraction F] [--json] [--live --confirm LIVE]
    jarvis trade kill --confirm KILL [--live --confirm-live LIVE]
    jarvis trade replay FILE.csv [--speed X] [--symbol S] [--ledger PATH] [--json]

Exit codes: 0 done; 2 bad input (usage, unknown pair, unreadable CSV);
3 refused or failed (a guard said no, no such position, ledger or exchange
error).  Errors are one line on stderr, never a traceback.  Nothing printed or
put in --json ever contains a credential.

Also runnable on its own: ``python -m jarvis_tui.trading.cli [--config PATH] status``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_USAGE, EXIT_REFUSED = 0, 2, 3


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jarvis trade", add_help=True)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    status = sub.add_parser("status", help="mode, balance, positions and recent signals")
    status.add_argument("--json", action="store_true")
    status.add_argument("--offline", action="store_true", help="do not contact the exchange")
    status.add_argument("--live", action="store_true",
                        help="show the live MEXC account (balance, positions) read-only; keys from the env vars "
                             "named by [trading] api_key_env / secret_env")
    close = sub.add_parser("close", help="close a position at market")
    close.add_argument("symbol")
    close.add_argument("--fraction", type=float, default=None, help="close only this fraction (0-1]")
    close.add_argument("--json", action="store_true")
    close.add_argument("--live", action="store_true", help="act on the live MEXC account")
    close.add_argument("--confirm", default=None, help="type LIVE to confirm a live action")
    kill = sub.add_parser("kill", help="close every position and cancel every order")
    kill.add_argument("--confirm", default=None, help="type KILL to confirm")
    kill.add_argument("--live", action="store_true")
    kill.add_argument("--confirm-live", default=None)
    replay = sub.add_parser("replay", help="play an OHLCV CSV into a paper engine")
    replay.add_argument("file")
    replay.add_argument("--speed", type=float, default=0.0,
                        help="market seconds per second (60 = a 1m candle per second; 0 = as fast as possible)")
    replay.add_argument("--symbol", default=None, help="pair to trade (default: from the file name, e.g. BTC_...)")
    replay.add_argument("--ledger", default=None, help="SQLite file for the replay's ledger (default: in memory)")
    replay.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str], config: Any = None) -> int:
    """``argv`` is what follows ``trade`` (a leading "trade" is accepted too).

    Without ``config`` it is loaded here, honouring ``--config PATH`` anywhere in argv and $JARVIS_CONFIG.
    """
    args_in = list(argv)
    if args_in and args_in[0] == "trade":
        args_in = args_in[1:]
    if config is None:
        config_path = None
        if "--config" in args_in:
            at = args_in.index("--config")
            if at + 1 >= len(args_in):
                print("jarvis trade: --config needs a PATH", file=sys.stderr)
                return EXIT_USAGE
            config_path = args_in[at + 1]
            del args_in[at:at + 2]
        from jarvis_tui.config import ConfigError, load_config

        try:
            config = load_config(config_path)
        except ConfigError as exc:
            print(f"jarvis: config error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        args = _parser().parse_args(args_in)
    except _UsageError as exc:
        print(f"jarvis trade: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if args.command is None:
        print("jarvis trade: missing command; use status, close SYMBOL, kill or replay FILE.csv", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "status" and args.live and args.offline:
        print("jarvis trade: --live reads the exchange account; it cannot be combined with --offline",
              file=sys.stderr)
        return EXIT_USAGE
    if args.command == "close" and args.fraction is not None and not 0 < args.fraction <= 1:
        print("jarvis trade: --fraction must be in (0, 1]", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "replay" and (args.speed < 0 or not math.isfinite(args.speed)):
        print("jarvis trade: --speed must be a number >= 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_run(args, config))
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace, config: Any) -> int:
    from jarvis_tui.trading.guards import TradingRefused
    from jarvis_tui.trading.ledger import LedgerError
    from jarvis_tui.trading.markets import MarketsError
    from jarvis_tui.trading.replay import ReplayError

    try:
        if args.command == "status":
            return await _status(args, config)
        if args.command == "close":
            return await _close(args, config)
        if args.command == "kill":
            return await _kill(args, config)
        return await _replay(args, config)
    except ReplayError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except TradingRefused as exc:
        return _fail(str(exc), EXIT_USAGE if exc.code == "market" else EXIT_REFUSED)
    except (LedgerError, MarketsError) as exc:
        return _fail(str(exc), EXIT_REFUSED)


def _fail(message: str, code: int) -> int:
    print(f"jarvis trade: {message}", file=sys.stderr)
    return code


def _settings(config: Any) -> Any:
    return config.section("trading")


def _service(config: Any, *, live_flag: bool = False, db_path: Path | str | None = None, settings: Any = None,
             clock: Any = None) -> Any:
    from jarvis_tui.core.clock import SYSTEM_CLOCK
    from jarvis_tui.trading.service import TradingService

    return TradingService(settings or _settings(config), db_path=db_path or config.store.path,
                          live_flag=live_flag, clock=clock or SYSTEM_CLOCK)


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.{digits}f}"


def _price(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.10g}"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if ts else "-"


async def _status(args: argparse.Namespace, config: Any) -> int:
    service = _service(config, live_flag=args.live)
    await service.start(background=False)
    try:
        if args.live:
            await service.view_live()  # flag + keys, read-only; refused (exit 3) when MEXC does not answer
        if not args.offline:
            try:
                await asyncio.wait_for(service.refresh_once(), timeout=service.settings.exchange_timeout_s + 2)
            except (asyncio.TimeoutError, Exception) as exc:  # any failure here only means "unavailable"
                service._set_market_data(False, "none", f"market data unavailable: {type(exc).__name__}")
        else:
            service._set_market_data(False, "none", "market data unavailable: --offline")
        positions = service.positions()
        balance = service.balance()
        signals = service.signals()[:10]
        market = service.market_data
        payload = {
            "mode": service.mode,
            "market_data": {"available": market.available, "source": market.source, "reason": market.reason},
            "markets_source": service.markets_source,
            "read_only": service.live_read_only,
            "balance_source": "exchange" if service.live is not None else "paper ledger",
            "balance": balance.to_dict(),
            "positions": [p.to_dict() for p in positions],
            "signals": [s.to_dict() for s in signals],
            "signal_threshold": service.settings.signal_threshold,
        }
    finally:
        await service.stop()
    if args.json:
        print(json.dumps(payload, allow_nan=False, default=str) if not _has_nan(payload) else
              json.dumps(_nan_to_none(payload)))
        return EXIT_OK
    market_line = "live" if market.available else market.reason or "market data unavailable"
    mode = payload["mode"] + (" (read-only)" if service.live_read_only else "")
    markets = payload["markets_source"]
    if markets == "snapshot":
        from jarvis_tui.trading.markets import snapshot_note

        markets = f"snapshot ({snapshot_note()})"
    print(f"mode {mode} · market data: {market_line} · markets: {markets}")
    source = "MEXC swap account" if service.live is not None else "paper ledger"
    print(f"balance {balance.balance:.2f} USDT ({source}) · equity {balance.equity:.2f} "
          f"· uPnL {_fmt(balance.unrealized_pnl)} · realized {_fmt(balance.realized_pnl)} "
          f"· {balance.open_positions} open · notional {balance.total_notional:.2f}")
    if positions:
        print("positions:")
        for p in positions:
            stale = " (stale)" if p.stale else ""
            print(f"  {p.symbol} {p.side} {p.contracts:g} @ {_price(p.entry_price)} mark {_price(p.mark_price)}{stale}"
                  f" uPnL {_fmt(p.unrealized_pnl, 4)} TP {_price(p.tp_price)} SL {_price(p.sl_price)}"
                  f" liq {_price(p.liquidation_price)} id {p.id}")
    else:
        print("positions: none")
    if signals:
        print(f"recent signals (threshold {service.settings.signal_threshold:g}):")
        for s in signals:
            taken = " taken" if s.taken else ""
            print(f"  {_when(s.ts)} {s.symbol} {s.side} score {s.score:g} @ {_price(s.price)}{taken}")
    else:
        print("recent signals: none")
    return EXIT_OK


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


async def _close(args: argparse.Namespace, config: Any) -> int:
    service = _service(config, live_flag=args.live)
    await service.start(background=False)
    try:
        if args.live:
            await service.enable_live(args.confirm or "")
        else:
            position = service._engine().find(args.symbol) if service.mode == "PAPER" else None
            if position is not None:
                try:
                    await asyncio.wait_for(service.refresh_once(), timeout=service.settings.exchange_timeout_s + 2)
                except Exception:
                    pass  # close at the last known mark; the output says it was stale
        stale = not service.market_data.available
        result = await service.close_position(args.symbol, fraction=args.fraction)
    finally:
        await service.stop()
    if isinstance(result, list):
        line = f"closed live {args.symbol}: {len(result)} reduce-only market order(s) sent"
        payload: dict[str, Any] = {"mode": "LIVE", "symbol": args.symbol, "orders": [o.get("id") for o in result]}
    else:
        what = "closed" if result.fully_closed else "partially closed"
        note = " (at the last known mark: market data unavailable)" if stale else ""
        line = (f"{what} {result.symbol} {result.side} {result.contracts:g} contracts @ {_price(result.price)}"
                f"{note}; PnL {_fmt(result.gross_pnl, 4)} fee {result.fee:.4f} net {_fmt(result.net_pnl, 4)} USDT")
        payload = {"mode": "PAPER", "position_id": result.position_id, "symbol": result.symbol, "side": result.side,
                   "contracts": result.contracts, "price": result.price, "gross_pnl": result.gross_pnl,
                   "fee": result.fee, "net_pnl": result.net_pnl, "fully_closed": result.fully_closed,
                   "stale_price": stale}
    print(json.dumps(payload) if args.json else line)
    return EXIT_OK


async def _kill(args: argparse.Namespace, config: Any) -> int:
    service = _service(config, live_flag=args.live)
    await service.start(background=False)
    try:
        if args.live:
            await service.enable_live(args.confirm_live or "")
        report = await service.kill(args.confirm or "")
    finally:
        await service.stop()
    print(f"kill switch ({service.mode}): closed {len(report.closed)} position(s)"
          + (f", cancelled {', '.join(report.cancelled)}" if report.cancelled else "")
          + (f"; errors: {'; '.join(report.errors)}" if report.errors else ""))
    return EXIT_REFUSED if report.errors else EXIT_OK


async def _replay(args: argparse.Namespace, config: Any) -> int:
    from jarvis_tui.trading.replay import ReplayClock, read_ohlcv_csv
    from jarvis_tui.trading.service import replay_settings

    read_ohlcv_csv(args.file)  # bad input fails before anything opens
    settings = replay_settings(_settings(config))
    ledger = args.ledger or ":memory:"
    service = _service(config, db_path=ledger, settings=settings, clock=ReplayClock())
    await service.start(background=False)
    try:
        summary = await service.run_replay(args.file, speed=args.speed, symbol=args.symbol)
    finally:
        await service.stop()
    if args.json:
        print(json.dumps(summary.to_dict()))
        return EXIT_OK
    closed = ", ".join(f"{k} {v}" for k, v in sorted(summary.closed.items())) or "none"
    print(f"replayed {summary.candles} candles of {summary.symbol} ({summary.ticks} ticks)")
    print(f"signals {summary.signals} · opened {summary.opened} · closed: {closed} · wins {summary.wins} "
          f"· losses {summary.losses}")
    print(f"net PnL {_fmt(summary.net_pnl, 4)} USDT · balance {summary.final_balance:.2f} · equity "
          f"{summary.final_equity:.2f}")
    for refusal in summary.refusals[:5]:
        print(f"refused: {refusal}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["main"]
