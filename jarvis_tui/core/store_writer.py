"""Group commit for the store: one writer, one transaction per batch of concurrent writes.

Every write is an *operation*: a plain function of the ``sqlite3.Connection`` that
runs its statements and returns a value (a row id).  Callers queue operations and
await a future; a single writer task takes everything queued so far and runs it
as one job on aiosqlite's connection thread::

    BEGIN IMMEDIATE
      SAVEPOINT w; op1; RELEASE w        -- a failing op rolls back to its savepoint
      SAVEPOINT w; op2; RELEASE w        -- and only its own caller gets the error
      ...
    COMMIT

and only after COMMIT returns are the callers' futures resolved, so a caller that
is told "done" has its rows in the database file (the WAL), and a ``kill -9``
afterwards cannot lose them.  While one batch commits, new writes queue up for the
next: under load a commit covers many requests, while a lone write waits for no
timer.  A batch that cannot commit (the database locked past the busy timeout,
disk full) fails every caller in it; the writer goes on with the next batch.  A
write once queued is committed even if its caller is cancelled meanwhile.

The whole transaction runs inside one call on the connection's thread, so no
other statement on the shared connection (reads, autocommit writes) can land in
the middle of it, and an operation costs one thread hop per *batch* instead of
one per statement.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 512  # operations per transaction: bounds how long one commit holds the thread


class WriterClosed(Exception):
    """The store is closed (or closing): no new write is accepted."""


def _run_batch(db: aiosqlite.Connection, ops: list[Operation]) -> list[tuple[bool, Any]]:
    """Runs on the connection's thread: every op in one transaction, each behind a savepoint."""
    conn = db._conn  # the sqlite3.Connection; we are on its thread
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        if len(ops) == 1:  # a lone op needs no savepoint: its failure rolls back the transaction
            try:
                outcomes.append((True, ops[0](conn)))
            except Exception as exc:  # noqa: BLE001 - reported to its caller
                conn.execute("ROLLBACK")
                return [(False, exc)]
        else:
            for op in ops:
                conn.execute("SAVEPOINT w")
                try:
                    value = op(conn)
                except Exception as exc:  # noqa: BLE001 - reported to this op's caller only
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    outcomes.append((False, exc))
                else:
                    conn.execute("RELEASE w")
                    outcomes.append((True, value))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


class GroupCommitter:
    """Batches concurrent writes on one aiosqlite connection into shared commits."""

    def __init__(self, db: aiosqlite.Connection, *, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max_batch = max_batch
        self._pending: list[tuple[Operation, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.commits = 0  # transactions committed - one per batch
        self.writes = 0  # operations in committed batches (their own errors included)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in the next group commit; returns its value once the commit is done."""
        if self._closed:
            raise WriterClosed("the store is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="jarvis-store-writer")
        return await future

    async def close(self) -> None:
        """Refuse new writes, then wait until every queued one is committed (or failed)."""
        self._closed = True
        task = self._task
        if task is not None and not task.done():
            await asyncio.shield(task)

    async def _run(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:self._max_batch]
                del self._pending[:self._max_batch]
                # A caller cancelled after queueing its write still gets it committed: a queued write is
                # as good as sent (the orchestrator cancels its row-flush task at close and relies on it).
                try:
                    outcomes = await self._db._execute(_run_batch, self._db, [op for op, _ in batch])
                except asyncio.CancelledError:
                    self._fail(batch, WriterClosed("the store writer was cancelled during a commit; "
                                                   "the write may not be stored"))
                    raise
                except BaseException as exc:  # noqa: BLE001 - nothing in the batch was committed
                    self._fail(batch, exc)
                    continue
                self.commits += 1
                self.writes += len(batch)
                for (_op, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue  # its caller was cancelled (the rows are stored all the same)
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        except asyncio.CancelledError:
            pending, self._pending = self._pending, []
            self._fail(pending, WriterClosed("the store writer was cancelled"))
            raise

    @staticmethod
    def _fail(batch: list[tuple[Operation, asyncio.Future[Any]]], exc: BaseException) -> None:
        for _op, future in batch:
            if not future.done():
                future.set_exception(exc)
