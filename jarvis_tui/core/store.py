"""SQLite persistence through aiosqlite: WAL, versioned migrations, durable exchanges.

Migrations are the numbered ``migrations/NNNN_name.sql`` files, applied in
order inside one transaction each, with ``PRAGMA user_version`` recording the
last one applied (oterm's store does the same).  Every write commits before the
caller reports it done, so killing the process at any moment loses at most the
answer still streaming.  Writes go through a group commit (``store_writer``):
concurrent writes share one transaction and one commit, each caller resumed only
once the commit covering its rows is done.

Secrets: the store never receives API keys, and as a second line of defence
``Redactor`` strips the values of the configured key variables from any text
before it is written.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import aiosqlite

from jarvis_tui.core.store_writer import GroupCommitter, WriterClosed

T = TypeVar("T")

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# The package ships as files (wheel or editable install), so a directory listing finds the
# migrations; importlib.resources would import zipfile and its readers on every start-up.
MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")


class StoreError(Exception):
    pass


def migration_files() -> list[tuple[int, str]]:
    """(version, file name) of every migration, in order; nothing is read yet."""
    found = []
    for name in os.listdir(MIGRATIONS_DIR):
        match = MIGRATION_NAME.match(name)
        if match:
            found.append((int(match.group(1)), name))
    found.sort()
    versions = [v for v, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"migrations must be numbered 0001.. without gaps, found {versions}")
    return found


def _read_migration(name: str) -> str:
    with open(os.path.join(MIGRATIONS_DIR, name), encoding="utf-8") as handle:
        return handle.read()


def migration_scripts() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration, in order."""
    return [(version, name, _read_migration(name)) for version, name in migration_files()]


class Redactor:
    def __init__(self, secrets: list[str] | None = None) -> None:
        self.secrets = [s for s in (secrets or []) if s and len(s) >= 4]

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text


# RequestRow and NewMessage are made on every request (bench/routing_overhead.py): named tuples, as
# immutable as the frozen dataclasses they were, are built in ~1.3-1.9 us instead of ~4.8 us
# (a frozen dataclass's __init__ sets each field through object.__setattr__).
class RequestRow(NamedTuple):
    """One row of the per-request metrics table."""

    request_id: str
    node: str
    model: str | None
    task_type: str | None
    outcome: str
    latency_ms: float | None
    ttft_ms: float | None
    tokens_in: int | None
    tokens_out: int | None
    error: str | None
    created_at: float


class NewMessage(NamedTuple):
    """A message to append (``Store.add_messages``)."""

    role: str
    content: str
    node: str | None = None
    model: str | None = None
    task_type: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None


_INSERT_CONVERSATION = "INSERT INTO conversations(title, created_at, updated_at) VALUES (?, ?, ?)"
_INSERT_MESSAGE = ("INSERT INTO messages(conversation_id, role, content, node, model, task_type, latency_ms, "
                   "ttft_ms, tokens_in, tokens_out, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
# Several messages in one statement: an exchange's prompt and answer are one INSERT, not two (each statement
# is a GIL hand-off between the writer thread and the event loop).  Rows of one INSERT get consecutive ids
# (each new rowid is the table's largest plus one, and the transaction holds the write lock), so the ids are
# the last one and the ones before it.  At most MESSAGES_PER_INSERT rows (11 parameters each) per statement:
# 704 parameters, under SQLite's oldest limit (999).
MESSAGES_PER_INSERT = 64
CONVERSATIONS_PER_INSERT = 256
REQUESTS_PER_INSERT = 64  # 11 parameters each, like messages


@lru_cache(maxsize=64)
def _insert_messages(count: int) -> str:
    return _INSERT_MESSAGE + ",(?,?,?,?,?,?,?,?,?,?,?)" * (count - 1)


_TOUCH_CONVERSATION = ("UPDATE conversations SET updated_at = ?, title = CASE WHEN title = '' AND ? = 'user' "
                       "THEN ? ELSE title END WHERE id = ?")
_INSERT_REQUEST = ("INSERT INTO requests(request_id, node, model, task_type, outcome, latency_ms, ttft_ms, "
                   "tokens_in, tokens_out, error, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)")


def _title(content: str) -> str:
    return content[:80].splitlines()[0] if content else ""


@lru_cache(maxsize=64)
def _insert_requests(count: int) -> str:
    return _INSERT_REQUEST + ",(?,?,?,?,?,?,?,?,?,?,?)" * (count - 1)


@lru_cache(maxsize=64)
def _insert_conversations(count: int) -> str:
    return _INSERT_CONVERSATION + ",(?, ?, ?)" * (count - 1)


def _insert_rows(conn: sqlite3.Connection, sql: Callable[[int], str], rows: list[tuple[Any, ...]],
                 per_statement: int) -> list[int]:
    """Insert rows with a few multi-row INSERTs; their ids, in order (consecutive within a statement)."""
    ids: list[int] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        last = int(conn.execute(sql(len(chunk)), [value for row in chunk for value in row]).lastrowid)
        ids.extend(range(last - len(chunk) + 1, last + 1))
    return ids


class _AddMessages:
    """The write of ``Store.add_messages``: an operation that the group commit can also run merged.

    Alone, it is one conversation INSERT (or touch) and one INSERT of its messages.  A run of them queued
    together (the usual case under load: every answered request stores one) is ``run_many``: one INSERT for
    all the new conversations and one for all the messages, in queue order, so ids come out as they would one
    by one.  Under load the writer thread holds the GIL between statements, and the event loop waits for it
    (cProfile: ~180 us per exchange in socket calls at c=50); 2 statements per batch instead of 2 per exchange
    is what makes the storing path cheap (bench/routing_overhead.py, docs/benchmarks.md).
    """

    __slots__ = ("conversation_id", "rows", "title", "has_user", "now")

    def __init__(self, conversation_id: int | None, rows: list[tuple[Any, ...]], title: str, has_user: bool,
                 now: float) -> None:
        self.conversation_id, self.rows, self.title, self.has_user, self.now = (
            conversation_id, rows, title, has_user, now)

    def __call__(self, conn: sqlite3.Connection) -> tuple[int, list[int]]:
        return self.run_many(conn, [self])[0]

    @staticmethod
    def run_many(conn: sqlite3.Connection, ops: list[_AddMessages]) -> list[tuple[int, list[int]]]:
        new = [(op.title, op.now, op.now) for op in ops if op.conversation_id is None]
        created = iter(_insert_rows(conn, _insert_conversations, new, CONVERSATIONS_PER_INSERT))
        conversations = [next(created) if op.conversation_id is None else op.conversation_id for op in ops]
        for op, conversation in zip(ops, conversations, strict=True):
            if op.conversation_id is not None and op.rows:
                conn.execute(_TOUCH_CONVERSATION, (op.now, "user" if op.has_user else "", op.title, conversation))
        rows = [(conversation, *row) for op, conversation in zip(ops, conversations, strict=True)
                for row in op.rows]
        ids = iter(_insert_rows(conn, _insert_messages, rows, MESSAGES_PER_INSERT))
        return [(conversation, [next(ids) for _ in op.rows]) for op, conversation in zip(ops, conversations,
                                                                                         strict=True)]


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """A conversation as listed: title, last update and message count."""

    id: int
    title: str
    updated_at: float
    message_count: int


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One stored message of a conversation."""

    id: int
    conversation_id: int
    role: str
    content: str
    node: str | None
    model: str | None
    latency_ms: float | None
    tokens_out: int | None
    created_at: float


class Store:
    def __init__(self, path: Path | str, redactor: Redactor | None = None) -> None:
        self.path = Path(path)
        self.redact = redactor or Redactor()
        self._db: aiosqlite.Connection | None = None
        # Every write goes through it (``write``): each group commit is one job on the connection's
        # thread, so nothing interleaves with its transaction and no lock is needed.
        self._writer: GroupCommitter | None = None

    @property
    def commits(self) -> int:
        """Group commits run by the current (or last) connection; several writes may share one."""
        return self._writer.commits if self._writer is not None else 0

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    async def open(self) -> None:
        if str(self.path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from None
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            self._db.row_factory = aiosqlite.Row
            # One round trip to the connection's thread, not four; the busy timeout comes first
            # so that switching to WAL waits for another process's lock instead of failing.
            await self._db.executescript("PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; "
                                         "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            await self._migrate()
            self._writer = GroupCommitter(self._db)
        except aiosqlite.DatabaseError as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Commit every write still queued (their callers are resumed), then close the connection."""
        if self._writer is not None:
            await self._writer.close()
        if self._db is not None:
            db, self._db = self._db, None
            try:
                await db.close()
            except Exception:  # noqa: BLE001 - closing must not raise during shutdown
                pass

    async def schema_version(self) -> int:
        rows = await self.db.execute_fetchall("PRAGMA user_version")  # one round trip, not three
        return int(next(iter(rows))[0])

    async def _migrate(self) -> None:
        current = await self.schema_version()
        files = migration_files()
        if current > len(files):
            raise StoreError(f"database {self.path} has schema v{current}, newer than this jarvis "
                             f"(v{len(files)}); upgrade jarvis-tui")
        for version, name in files[current:]:  # an up-to-date database reads no SQL file
            sql = _read_migration(name)
            # executescript commits first; wrap the script so it applies whole or not at all
            await self.db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")

    # ------------------------------------------------------------------ writes

    async def write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op(connection)`` in the next group commit; returns its value once committed.

        ``op`` runs on the connection's thread inside a transaction shared with other callers'
        operations: if it raises, the batch is rolled back and rerun without it, the exception is
        raised here and the others still commit (so an op may run more than once; only the last run
        counts).  It must not commit or roll back.  Under load the call also waits for the next commit
        slot (``store_writer.COMMIT_INTERVAL_S``); it returns only once its rows are committed.
        """
        if self._writer is None or self._db is None:
            raise StoreError("store is not open")
        try:
            return await self._writer.write(op)
        except WriterClosed as exc:
            raise StoreError(str(exc)) from None

    async def new_conversation(self, title: str = "") -> int:
        now = time.time()
        values = (self.redact(title[:120]), now, now)

        def op(conn: sqlite3.Connection) -> int:
            return int(conn.execute(_INSERT_CONVERSATION, values).lastrowid)

        return await self.write(op)

    async def add_messages(self, conversation_id: int | None,
                           messages: Sequence[NewMessage]) -> tuple[int, list[int]]:
        """Append messages in one write, all or none; ``None`` starts a new conversation with them.

        Returns (conversation id, message ids).  The first user message titles an untitled conversation.
        """
        now = time.time()
        # Rows without their conversation id (it may not exist yet): content redacted, created_at last.
        rows = [(m.role, self.redact(m.content), m.node, m.model, m.task_type, m.latency_ms, m.ttft_ms,
                 m.tokens_in, m.tokens_out, now) for m in messages]
        first_user = next((row[1] for row in rows if row[0] == "user"), None)
        title = _title(first_user) if first_user is not None else ""
        return await self.write(_AddMessages(conversation_id, rows, title, first_user is not None, now))

    async def add_message(self, conversation_id: int, role: str, content: str, *, node: str | None = None,
                          model: str | None = None, task_type: str | None = None,
                          latency_ms: float | None = None, ttft_ms: float | None = None,
                          tokens_in: int | None = None, tokens_out: int | None = None) -> int:
        message = NewMessage(role, content, node, model, task_type, latency_ms, ttft_ms, tokens_in, tokens_out)
        _conversation, (message_id,) = await self.add_messages(conversation_id, [message])
        return message_id

    async def record_requests(self, rows: list[RequestRow]) -> None:
        """Many request rows in one write (the orchestrator batches them)."""
        if not rows:
            return
        values = [(r.request_id, r.node, r.model, r.task_type, r.outcome, r.latency_ms, r.ttft_ms, r.tokens_in,
                   r.tokens_out, self.redact(r.error), r.created_at) for r in rows]

        def op(conn: sqlite3.Connection) -> None:
            # Multi-row INSERTs, not executemany: executemany steps (and hands the GIL over) once per row.
            _insert_rows(conn, _insert_requests, values, REQUESTS_PER_INSERT)

        await self.write(op)

    # ------------------------------------------------------------------ reads

    async def conversations(self, limit: int = 200) -> list[ConversationSummary]:
        async with self.db.execute(
            "SELECT c.id, c.title, c.updated_at, COUNT(m.id) FROM conversations c "
            "LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id "
            "ORDER BY c.updated_at DESC, c.id DESC LIMIT ?", (limit,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [ConversationSummary(int(r[0]), r[1], float(r[2]), int(r[3])) for r in rows]

    async def messages(self, conversation_id: int) -> list[StoredMessage]:
        async with self.db.execute(
            "SELECT id, conversation_id, role, content, node, model, latency_ms, tokens_out, created_at "
            "FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [StoredMessage(*tuple(r)) for r in rows]

    async def request_rows(self, node: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        sql = "SELECT * FROM requests"
        args: tuple[Any, ...] = ()
        if node:
            sql += " WHERE node = ?"
            args = (node,)
        sql += " ORDER BY id DESC LIMIT ?"
        async with self.db.execute(sql, (*args, limit)) as cursor:
            rows = await cursor.fetchall()
        return [dict(r) for r in rows]
