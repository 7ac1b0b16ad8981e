"""Group commit for the store: one writer, one transaction per batch of concurrent writes.

Every write is an *operation*: a plain function of the ``sqlite3.Connection`` that
runs its statements and returns a value (a row id).  Callers queue operations and
await a future; a single writer task takes everything queued so far and runs it
as one job on aiosqlite's connection thread::

    BEGIN IMMEDIATE
      op1; op2; ...                      -- no savepoint per op
    COMMIT

If an op raises, the transaction is rolled back and the batch runs again without
it (its caller gets the error, the others commit): a failing op's partial
statements are undone exactly as a savepoint would undo them, and the ops after
it see the same state as before.  Failures are rare and savepoints are not free:
a SAVEPOINT/RELEASE pair per op was 2 of the 5 statements of a commander
exchange, each one a GIL hand-off between this thread and the event loop
(bench/routing_overhead.py).  So an op may *run* more than once (only the last
run counts); it must act on the connection alone, which every op in the store does.

An op may also be an object with a ``run_many`` static method (``store._AddMessages``):
consecutive ops of its class in a batch then run as one call, which writes all their
rows with a few multi-row statements.  Under load the writer thread and the event loop
hand the GIL to each other at every statement, so statements per batch, not per write,
is what keeps the loop's cost of storing low.

Only after COMMIT returns are the callers' futures resolved, so a caller that
is told "done" has its rows in the database file (the WAL), and a ``kill -9``
afterwards cannot lose them.  While one batch commits, new writes queue up for the
next: under load a commit covers many requests, while a lone write waits for no
timer.

Under load, commits are also spaced out: writes that queued up while a commit ran
are committed COMMIT_INTERVAL_S (20 ms) after that commit *started*, not as soon as
it ends, so the next batch takes everything that arrives meanwhile.  A commit costs
the event loop far more than its rows: each of its ~8 SQLite calls (step and reset
of BEGIN, the INSERTs, COMMIT) releases the GIL, and the writer thread takes it back
from the loop every time - thread switches that cost the loop ~0.5 ms of CPU per
commit at c=50 (bench/routing_overhead.py: 4 exchanges per commit at ~450 req/s, ~120
us of loop CPU per exchange).  Spaced 20 ms apart, a commit holds ~17 exchanges and
``Commander.ask`` costs the loop about what it does with no store at all.  A write
that finds the writer idle (every sequential call) is not delayed, and nothing is
reported before its commit: the interval costs latency under load (<= 20 ms, against
~100 ms per request at c=50), never durability.

A batch that cannot commit (the database locked past the busy timeout,
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
GATHER_TURNS = 8  # loop turns a batch may wait for more writes, while they keep coming
COMMIT_INTERVAL_S = 0.02  # under load, a commit starts at least this long after the previous one started


class WriterClosed(Exception):
    """The store is closed (or closing): no new write is accepted."""


def _run_batch(db: aiosqlite.Connection, ops: list[Operation]) -> list[tuple[bool, Any]]:
    """Runs on the connection's thread: every op in one transaction; a failing op is left out and the rest rerun.

    Consecutive ops of one class with a ``run_many(conn, ops) -> values`` static method run merged, through
    it.  If a merged run raises, the batch is rolled back and those ops run one by one on the next pass,
    which finds the failing one.
    """
    conn = db._conn  # the sqlite3.Connection; we are on its thread
    failed: dict[int, Exception] = {}
    unmerged: set[int] = set()
    while True:  # each pass commits, or leaves out one more op, or unmerges one more run: it ends
        outcomes: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            index, retry = 0, False
            while index < len(ops) and not retry:
                error = failed.get(index)
                if error is not None:
                    outcomes.append((False, error))
                    index += 1
                    continue
                op = ops[index]
                end = index + 1
                run_many = getattr(op, "run_many", None)
                if run_many is not None and index not in unmerged:
                    while (end < len(ops) and type(ops[end]) is type(op) and end not in failed
                           and end not in unmerged):
                        end += 1
                try:
                    if end - index > 1:
                        outcomes.extend((True, value) for value in run_many(conn, ops[index:end]))
                    else:
                        outcomes.append((True, op(conn)))
                except Exception as exc:  # noqa: BLE001 - reported to this op's caller only
                    if end - index > 1:
                        unmerged.update(range(index, end))  # which of them failed: one by one next pass
                    else:
                        failed[index] = exc
                    retry = True
                index = end
            if not retry:
                conn.execute("COMMIT")
                return outcomes
            conn.execute("ROLLBACK")  # undo the failing statements and the ops before them; rerun those
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


class GroupCommitter:
    """Batches concurrent writes on one aiosqlite connection into shared commits."""

    def __init__(self, db: aiosqlite.Connection, *, max_batch: int = MAX_BATCH,
                 gather_turns: int = GATHER_TURNS, commit_interval_s: float = COMMIT_INTERVAL_S) -> None:
        self._db = db
        self._max_batch = max_batch
        self._gather_turns = gather_turns
        self._commit_interval_s = commit_interval_s
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
        loop = asyncio.get_running_loop()
        last_start: float | None = None  # when this run's previous commit started
        try:
            while self._pending:
                if last_start is None:
                    # Gather: while writes keep arriving, let the loop run a little longer (a turn each, at most
                    # GATHER_TURNS) before committing.  A lone write costs one idle loop turn (microseconds).
                    seen = 0
                    for _ in range(self._gather_turns):
                        if len(self._pending) == seen or len(self._pending) >= self._max_batch:
                            break
                        seen = len(self._pending)
                        await asyncio.sleep(0)
                else:
                    # Writes queued while the previous commit ran: the writer is under load.  Commit them
                    # COMMIT_INTERVAL_S after that commit started, with whatever else arrives meanwhile:
                    # fewer, bigger commits are fewer GIL hand-offs with the writer thread per write.
                    wait = last_start + self._commit_interval_s - loop.time()
                    if wait > 0 and len(self._pending) < self._max_batch:
                        await asyncio.sleep(wait)
                last_start = loop.time()
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
