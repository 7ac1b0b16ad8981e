"""The paper ledger: SQLite through aiosqlite, tables prefixed ``paper_``.

It may share the main database file or use its own.  Tables are created
idempotently and stamped with ``paper_schema.version`` (the main store's
``PRAGMA user_version`` is left alone).  Numbers are REAL: a double survives
the round trip bit-for-bit, which is what makes the restore exact.  Every open,
fill, close and balance change is written in one transaction with the state it
produces.  No credential is ever written here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS paper_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS paper_account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    start_balance REAL NOT NULL,
    balance REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS paper_positions (
    id TEXT PRIMARY KEY,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('long', 'short')),
    contracts REAL NOT NULL,
    initial_contracts REAL NOT NULL,
    contract_size REAL NOT NULL,
    entry_price REAL NOT NULL,
    mark_price REAL NOT NULL,
    mark_ts REAL NOT NULL,
    leverage INTEGER NOT NULL,
    margin REAL NOT NULL,
    taker_fee_rate REAL NOT NULL,
    maker_fee_rate REAL NOT NULL,
    maintenance_margin_rate REAL NOT NULL,
    liquidation_price REAL NOT NULL,
    tp_price REAL,
    sl_price REAL,
    fees_paid REAL NOT NULL,
    realized_pnl REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at REAL NOT NULL,
    closed_at REAL,
    close_reason TEXT,
    client_order_id TEXT NOT NULL UNIQUE,
    signal_id TEXT
);
CREATE INDEX IF NOT EXISTS paper_positions_status ON paper_positions (status);
CREATE TABLE IF NOT EXISTS paper_fills (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    position_id TEXT NOT NULL REFERENCES paper_positions (id),
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    contracts REAL NOT NULL,
    price REAL NOT NULL,
    fee REAL NOT NULL,
    fee_rate REAL NOT NULL,
    realized_pnl REAL NOT NULL,
    client_order_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS paper_balance (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    balance REAL NOT NULL,
    delta REAL NOT NULL,
    reason TEXT NOT NULL,
    position_id TEXT
);
CREATE TABLE IF NOT EXISTS paper_signals (
    id TEXT PRIMARY KEY,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    score REAL NOT NULL,
    price REAL NOT NULL,
    ts REAL NOT NULL,
    breakout REAL NOT NULL,
    volume REAL NOT NULL,
    momentum REAL NOT NULL,
    actionable INTEGER NOT NULL,
    taken INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS paper_live_orders (
    client_order_id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    symbol TEXT NOT NULL,
    purpose TEXT NOT NULL,
    exchange_order_id TEXT,
    status TEXT NOT NULL
);
"""


class LedgerError(Exception):
    pass


POSITION_COLUMNS = ("id", "symbol", "side", "contracts", "initial_contracts", "contract_size", "entry_price",
                    "mark_price", "mark_ts", "leverage", "margin", "taker_fee_rate", "maker_fee_rate",
                    "maintenance_margin_rate", "liquidation_price", "tp_price", "sl_price", "fees_paid",
                    "realized_pnl", "status", "opened_at", "closed_at", "close_reason", "client_order_id",
                    "signal_id")


class PaperLedger:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._db: Any = None

    async def open(self) -> PaperLedger:
        import aiosqlite

        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = await aiosqlite.connect(self.path)
            if self.path != ":memory:":
                await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.executescript(_SCHEMA)
            async with self._db.execute("SELECT version FROM paper_schema") as cur:
                row = await cur.fetchone()
            if row is None:
                await self._db.execute("INSERT INTO paper_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise LedgerError(f"paper ledger {self.path} has schema {row[0]}, newer than this jarvis "
                                  f"({SCHEMA_VERSION}); upgrade jarvis")
            await self._db.commit()
        except LedgerError:
            await self.close()
            raise
        except Exception as exc:  # sqlite3.Error, OSError
            await self.close()
            raise LedgerError(f"cannot open the paper ledger {self.path}: {exc}") from None
        return self

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    # ------------------------------------------------------------ reads
    async def account(self) -> tuple[float, float] | None:
        async with self._db.execute("SELECT start_balance, balance FROM paper_account WHERE id = 1") as cur:
            row = await cur.fetchone()
        return (row[0], row[1]) if row else None

    async def init_account(self, start_balance: float, ts: float) -> None:
        await self._db.execute("INSERT OR IGNORE INTO paper_account (id, start_balance, balance, updated_at) "
                               "VALUES (1, ?, ?, ?)", (start_balance, start_balance, ts))
        await self._db.execute("INSERT INTO paper_balance (ts, balance, delta, reason) VALUES (?, ?, ?, 'deposit')",
                               (ts, start_balance, start_balance))
        await self._db.commit()

    async def open_positions(self) -> list[dict[str, Any]]:
        return await self._positions("WHERE status = 'open' ORDER BY opened_at, id")

    async def closed_positions(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self._positions(f"WHERE status = 'closed' ORDER BY closed_at DESC LIMIT {int(limit)}")

    async def _positions(self, where: str) -> list[dict[str, Any]]:
        async with self._db.execute(f"SELECT {', '.join(POSITION_COLUMNS)} FROM paper_positions {where}") as cur:
            rows = await cur.fetchall()
        return [dict(zip(POSITION_COLUMNS, row, strict=True)) for row in rows]

    async def fills(self, position_id: str | None = None) -> list[dict[str, Any]]:
        cols = ("position_id", "ts", "kind", "side", "contracts", "price", "fee", "fee_rate", "realized_pnl",
                "client_order_id")
        sql = f"SELECT {', '.join(cols)} FROM paper_fills"
        args: tuple[Any, ...] = ()
        if position_id:
            sql += " WHERE position_id = ?"
            args = (position_id,)
        async with self._db.execute(sql + " ORDER BY id", args) as cur:
            return [dict(zip(cols, row, strict=True)) for row in await cur.fetchall()]

    async def realized_total(self) -> float:
        async with self._db.execute("SELECT COALESCE(SUM(realized_pnl - fees_paid), 0) FROM paper_positions") as cur:
            row = await cur.fetchone()
        return float(row[0])

    # ------------------------------------------------------------ writes
    async def record(self, *, position: Any, fill: dict[str, Any] | None, balance: float, delta: float,
                     reason: str, ts: float) -> None:
        """One transaction: the position row, its fill, the balance and the balance history."""
        values = [getattr(position, name) for name in POSITION_COLUMNS]
        placeholders = ", ".join("?" for _ in POSITION_COLUMNS)
        try:
            await self._db.execute(f"INSERT OR REPLACE INTO paper_positions ({', '.join(POSITION_COLUMNS)}) "
                                   f"VALUES ({placeholders})", values)
            if fill is not None:
                await self._db.execute(
                    "INSERT INTO paper_fills (position_id, ts, kind, side, contracts, price, fee, fee_rate, "
                    "realized_pnl, client_order_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (position.id, ts, fill["kind"], fill["side"], fill["contracts"], fill["price"], fill["fee"],
                     fill["fee_rate"], fill["realized_pnl"], fill["client_order_id"]))
            await self._db.execute("UPDATE paper_account SET balance = ?, updated_at = ? WHERE id = 1", (balance, ts))
            await self._db.execute("INSERT INTO paper_balance (ts, balance, delta, reason, position_id) "
                                   "VALUES (?, ?, ?, ?, ?)", (ts, balance, delta, reason, position.id))
            await self._db.commit()
        except Exception:
            await self._db.rollback()
            raise

    async def update_marks(self, marks: list[tuple[float, float, str]]) -> None:
        """[(mark_price, mark_ts, position_id)]"""
        if not marks:
            return
        await self._db.executemany("UPDATE paper_positions SET mark_price = ?, mark_ts = ? WHERE id = ?", marks)
        await self._db.commit()

    async def record_live_order(self, client_order_id: str, *, ts: float, symbol: str, purpose: str,
                                exchange_order_id: str | None, status: str) -> None:
        await self._db.execute(
            "INSERT INTO paper_live_orders (client_order_id, ts, symbol, purpose, exchange_order_id, status) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (client_order_id) DO UPDATE SET "
            "exchange_order_id = excluded.exchange_order_id, status = excluded.status",
            (client_order_id, ts, symbol, purpose, exchange_order_id, status))
        await self._db.commit()

    async def live_orders(self) -> list[dict[str, Any]]:
        cols = ("client_order_id", "ts", "symbol", "purpose", "exchange_order_id", "status")
        async with self._db.execute(f"SELECT {', '.join(cols)} FROM paper_live_orders ORDER BY ts") as cur:
            return [dict(zip(cols, row, strict=True)) for row in await cur.fetchall()]

    # ------------------------------------------------------------ signals
    _SIGNAL_COLUMNS = ("id", "symbol", "side", "score", "price", "ts", "breakout", "volume", "momentum",
                       "actionable", "taken")

    async def record_signal(self, signal: Any) -> None:
        values = [getattr(signal, name) for name in self._SIGNAL_COLUMNS]
        await self._db.execute(f"INSERT OR REPLACE INTO paper_signals ({', '.join(self._SIGNAL_COLUMNS)}) "
                               f"VALUES ({', '.join('?' for _ in values)})", values)
        await self._db.commit()

    async def recent_signals(self, limit: int = 50) -> list[dict[str, Any]]:
        cols = self._SIGNAL_COLUMNS
        async with self._db.execute(f"SELECT {', '.join(cols)} FROM paper_signals ORDER BY ts DESC, id DESC "
                                    "LIMIT ?", (int(limit),)) as cur:
            rows = await cur.fetchall()
        out = []
        for row in rows:
            item = dict(zip(cols, row, strict=True))
            item["actionable"], item["taken"] = bool(item["actionable"]), bool(item["taken"])
            out.append(item)
        return out
