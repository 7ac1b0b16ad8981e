"""Group commit: concurrent writes share one transaction, each caller resumed only after its commit."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jarvis_tui.core.store import NewMessage, Store, StoreError

ROOT = Path(__file__).resolve().parents[2]


async def opened(path: Path) -> Store:
    store = Store(path)
    await store.open()
    return store


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "j.db"


@pytest.fixture
async def store(path: Path) -> AsyncIterator[Store]:
    """An open store on ``path``, closed after the test."""
    opened_store = await opened(path)
    yield opened_store
    await opened_store.close()


def on_disk(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """Read through a separate connection: sees only what is committed to the file."""
    with sqlite3.connect(path) as other:
        return other.execute(sql, args).fetchall()


def broken(conn: sqlite3.Connection) -> None:
    """An operation with a bug: it writes a row, then raises."""
    conn.execute("INSERT INTO conversations(title, created_at, updated_at) VALUES ('ghost', 0, 0)")
    raise RuntimeError("bug in an operation")


async def test_concurrent_writes_share_one_commit_and_are_on_disk_when_each_returns(store: Store, path: Path) -> None:
    conversation = await store.new_conversation("t")
    before = store.commits

    async def write(i: int) -> int:
        message_id = await store.add_message(conversation, "user", f"q{i}")
        # the awaited call has returned: the row must already be committed to the file
        assert on_disk(path, "SELECT content FROM messages WHERE id = ?", (message_id,)) == [(f"q{i}",)]
        return message_id

    ids = await asyncio.wait_for(asyncio.gather(*(write(i) for i in range(30))), 10)
    assert len(set(ids)) == 30
    assert store.commits - before == 1  # all 30 were queued before the writer ran: one transaction
    assert on_disk(path, "SELECT COUNT(*) FROM messages")[0][0] == 30


async def test_writes_queued_during_a_commit_go_together_in_the_next(store: Store) -> None:
    conversation = await store.new_conversation()
    before = store.commits
    first = asyncio.create_task(store.add_message(conversation, "user", "first"))
    await asyncio.sleep(0)  # the writer takes "first" alone and starts its commit
    rest = [asyncio.create_task(store.add_message(conversation, "user", f"q{i}")) for i in range(10)]
    await asyncio.wait_for(asyncio.gather(first, *rest), 10)
    assert store.commits - before <= 2
    assert len(await store.messages(conversation)) == 11


async def test_a_failing_write_fails_only_its_caller_and_the_others_commit(store: Store, path: Path) -> None:
    conversation = await store.new_conversation()
    before = store.commits
    calls = [store.add_message(conversation, "user", "good-0"),
             store.add_message(987654, "user", "orphan"),  # foreign key: no such conversation
             store.add_message(conversation, "user", "good-1"),
             store.add_message(conversation, "robot", "bad role"),  # CHECK constraint
             store.add_message(conversation, "assistant", "good-2")]
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
    assert store.commits - before == 1
    assert isinstance(results[1], sqlite3.IntegrityError) and "FOREIGN KEY" in str(results[1])
    assert isinstance(results[3], sqlite3.IntegrityError) and "CHECK" in str(results[3])
    good = [results[0], results[2], results[4]]
    assert all(isinstance(r, int) for r in good)
    assert on_disk(path, "SELECT id, content FROM messages ORDER BY id") == list(
        zip(good, ["good-0", "good-1", "good-2"], strict=True))


async def test_a_write_is_all_or_nothing(store: Store, path: Path) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await store.add_messages(None, [NewMessage("user", "kept?"), NewMessage("robot", "no")])
    other = store.add_messages(None, [NewMessage("user", "alone")])
    broken = store.add_messages(None, [NewMessage("user", "half"), NewMessage("robot", "no")])
    ok, failed = await asyncio.gather(other, broken, return_exceptions=True)
    assert isinstance(failed, sqlite3.IntegrityError)
    assert on_disk(path, "SELECT title FROM conversations") == [("alone",)]
    assert on_disk(path, "SELECT conversation_id, content FROM messages") == [(ok[0], "alone")]


async def test_an_operation_that_raises_is_reported_and_rolled_back(store: Store, path: Path) -> None:
    results = await asyncio.wait_for(asyncio.gather(
        store.new_conversation("a"), store.write(broken), store.new_conversation("b"),
        return_exceptions=True), 10)
    assert isinstance(results[1], RuntimeError)
    assert sorted(t for (t,) in on_disk(path, "SELECT title FROM conversations")) == ["a", "b"]


async def test_a_batch_that_cannot_commit_fails_every_caller_and_the_writer_recovers(store: Store, path: Path) -> None:
    conversation = await store.new_conversation()
    await store.db.execute("PRAGMA busy_timeout=50")
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        results = await asyncio.wait_for(asyncio.gather(
            *(store.add_message(conversation, "user", f"q{i}") for i in range(5)), return_exceptions=True), 10)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert all(isinstance(r, sqlite3.OperationalError) and "locked" in str(r) for r in results), results
    assert await asyncio.wait_for(store.add_message(conversation, "user", "after"), 10) > 0
    assert on_disk(path, "SELECT content FROM messages") == [("after",)]


async def test_a_cancelled_caller_does_not_hang_or_break_the_others(store: Store) -> None:
    conversation = await store.new_conversation()
    tasks = [asyncio.create_task(store.add_message(conversation, "user", f"q{i}")) for i in range(6)]
    await asyncio.sleep(0)  # every task has queued its write
    tasks[2].cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    assert isinstance(results[2], asyncio.CancelledError)
    assert sum(isinstance(r, int) for r in results) == 5
    # a queued write is committed even though its caller stopped waiting for it
    assert [m.content for m in await store.messages(conversation)] == [f"q{i}" for i in range(6)]


async def test_close_commits_the_writes_still_queued(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = await opened(path)
    conversation = await store.new_conversation()
    tasks = [asyncio.create_task(store.add_message(conversation, "user", "in flight"))]
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the writer has taken the first write and is committing it
    tasks += [asyncio.create_task(store.add_message(conversation, "user", f"q{i}")) for i in range(25)]
    await asyncio.sleep(0)  # 25 more queued behind that commit; the writer has not taken them
    await store.close()  # awaited in this task: it runs before the writer gets another turn
    assert all(t.done() and not t.cancelled() and t.exception() is None for t in tasks)
    assert on_disk(path, "SELECT COUNT(*) FROM messages")[0][0] == 26
    with pytest.raises(StoreError):
        await store.add_message(conversation, "user", "too late")


async def test_a_write_started_while_closing_is_refused_not_lost_silently(tmp_path: Path) -> None:
    store = await opened(tmp_path / "j.db")
    conversation = await store.new_conversation()
    queued = asyncio.create_task(store.add_message(conversation, "user", "queued"))
    await asyncio.sleep(0)
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)  # close() has begun draining
    with pytest.raises(StoreError):
        await store.add_message(conversation, "user", "late")
    await asyncio.wait_for(closing, 10)
    assert isinstance(queued.result(), int)


async def test_new_conversations_are_titled_by_their_first_user_message(store: Store) -> None:
    fresh, _ = await store.add_messages(None, [NewMessage("user", "What is 2+2?\nthanks"),
                                               NewMessage("assistant", "4", node="M2")])
    untitled = await store.new_conversation()
    await store.add_messages(untitled, [NewMessage("assistant", "hi")])
    await store.add_messages(untitled, [NewMessage("user", "later question")])
    await store.add_messages(untitled, [NewMessage("user", "not the title")])
    titles = {c.id: (c.title, c.message_count) for c in await store.conversations()}
    assert titles == {fresh: ("What is 2+2?", 2), untitled: ("later question", 3)}


async def test_reads_interleaved_with_group_commits_see_whole_writes(store: Store) -> None:
    async def writer(k: int) -> None:
        for i in range(40):
            await store.add_messages(None, [NewMessage("user", f"q{k}.{i}"), NewMessage("assistant", "a")])

    async def reader() -> None:
        for _ in range(40):
            # a conversation is never seen half-written: both messages or none
            assert all(c.message_count == 2 for c in await store.conversations(limit=1000))

    await asyncio.wait_for(asyncio.gather(*(writer(k) for k in range(8)), *(reader() for _ in range(3))), 30)
    assert len(await store.conversations(limit=1000)) == 320


CHILD = textwrap.dedent("""
    import asyncio, sys
    from jarvis_tui.core.store import NewMessage, Store

    async def main():
        store = Store(sys.argv[1])
        await store.open()

        async def one(i):
            cid, _ = await store.add_messages(None, [NewMessage("user", f"q{i}"), NewMessage("assistant", f"a{i}")])
            print(f"{i} {cid}", flush=True)  # reported done

        i = 0
        while True:
            await asyncio.gather(*(one(i + k) for k in range(20)))
            i += 20

    asyncio.run(main())
""")


def test_kill_9_after_a_write_is_reported_loses_nothing_reported(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env, text=True)
    reported = []
    try:
        assert child.stdout is not None
        while len(reported) < 300:
            line = child.stdout.readline()
            assert line, "the writer process died"
            reported.append(line)
    finally:
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=10)
    reported.extend(rest.splitlines())  # printed before the kill: reported done too
    stored = {(cid, content) for cid, content in on_disk(path, "SELECT conversation_id, content FROM messages")}
    for line in reported:
        i, cid = line.split()
        assert (int(cid), f"q{i}") in stored and (int(cid), f"a{i}") in stored


async def test_ops_before_a_failing_one_are_rerun_once_committed_not_twice(tmp_path: Path) -> None:
    # The writer runs a batch without savepoints; an op that fails rolls the batch back and the others run
    # again without it.  Each write must be stored exactly once, with the ids its caller was given.
    path = tmp_path / "j.db"
    store = await opened(path)
    try:
        results = await asyncio.wait_for(asyncio.gather(
            store.add_messages(None, [NewMessage("user", "first"), NewMessage("assistant", "a1")]),
            store.write(broken),
            store.add_messages(None, [NewMessage("user", "second"), NewMessage("assistant", "a2")]),
            store.write(broken),
            store.add_messages(None, [NewMessage("user", "third")]),
            return_exceptions=True), 10)
        assert isinstance(results[1], RuntimeError) and isinstance(results[3], RuntimeError)
        stored = on_disk(path, "SELECT id, conversation_id, content FROM messages ORDER BY id")
        expected = []
        for (conversation, ids), texts in zip((results[0], results[2], results[4]),
                                              (["first", "a1"], ["second", "a2"], ["third"]), strict=True):
            expected += [(i, conversation, t) for i, t in zip(ids, texts, strict=True)]
        assert stored == expected
        assert on_disk(path, "SELECT title FROM conversations ORDER BY id") == [("first",), ("second",), ("third",)]
    finally:
        await store.close()


async def test_many_messages_in_one_write_get_their_own_ids_in_order(tmp_path: Path) -> None:
    # add_messages inserts up to MESSAGES_PER_INSERT rows per statement and derives the ids from the last one.
    from jarvis_tui.core.store import MESSAGES_PER_INSERT

    path = tmp_path / "j.db"
    store = await opened(path)
    try:
        count = 2 * MESSAGES_PER_INSERT + 3
        other = await store.new_conversation("other")
        await store.add_message(other, "user", "before")
        conversation, ids = await store.add_messages(None, [NewMessage("user", f"m{i}") for i in range(count)])
        await store.add_message(other, "assistant", "after")
        assert len(ids) == count
        assert on_disk(path, "SELECT id, content FROM messages WHERE conversation_id = ? ORDER BY id",
                       (conversation,)) == [(i, f"m{n}") for n, i in enumerate(ids)]
    finally:
        await store.close()


async def test_a_run_of_add_messages_is_written_with_two_statements_in_queue_order(tmp_path: Path) -> None:
    # Consecutive add_messages writes in one batch run merged (store._AddMessages.run_many): one INSERT for the
    # new conversations, one for all the messages; existing conversations are touched; a write of another kind
    # between them keeps its place.  Ids and titles come out as they would one by one.
    path = tmp_path / "j.db"
    store = await opened(path)
    try:
        old = await store.new_conversation()
        statements: list[str] = []
        await store.db.set_trace_callback(statements.append)  # called on the writer thread, in order
        writes = [store.add_messages(None, [NewMessage("user", f"q{i}"), NewMessage("assistant", f"a{i}")])
                  for i in range(20)]
        writes.insert(5, store.add_messages(old, [NewMessage("assistant", "to the old one")]))
        writes.insert(10, store.new_conversation("between"))
        before = store.commits
        results = await asyncio.wait_for(asyncio.gather(*writes), 10)
        await store.db.set_trace_callback(None)
        assert store.commits - before == 1
        writing = [s.split("(")[0].split(" SET")[0] for s in statements if s.startswith(("INSERT", "UPDATE"))]
        assert writing == ["INSERT INTO conversations", "UPDATE conversations", "INSERT INTO messages",  # 10 writes
                           "INSERT INTO conversations",  # "between", an op of another kind
                           "INSERT INTO conversations", "INSERT INTO messages"]  # the last 11
        stored = on_disk(path, "SELECT id, conversation_id, content FROM messages ORDER BY id")
        expected = []
        for result in results:
            if isinstance(result, tuple):
                conversation, ids = result
                texts = ["to the old one"] if conversation == old else [f"q{len(expected) // 2}",
                                                                        f"a{len(expected) // 2}"]
                expected += [(i, conversation, t) for i, t in zip(ids, texts, strict=True)]
        assert [row[2] for row in stored] == [row[2] for row in expected]
        assert stored == expected
        titles = dict(on_disk(path, "SELECT id, title FROM conversations"))
        assert titles[old] == "" and titles[results[10]] == "between"
        assert [titles[r[0]] for r in results if isinstance(r, tuple) and r[0] != old] == [f"q{i}" for i in range(20)]
        updated = on_disk(path, "SELECT updated_at > created_at FROM conversations WHERE id = ?", (old,))
        assert updated == [(1,)]  # touched by the message added to it
    finally:
        await store.close()


async def test_writes_arriving_over_a_few_loop_turns_share_one_commit(tmp_path: Path) -> None:
    # The writer waits a loop turn at a time (at most GATHER_TURNS) while writes keep arriving.
    store = await opened(tmp_path / "j.db")
    try:
        conversation = await store.new_conversation()
        before = store.commits

        async def late(turns: int) -> int:
            for _ in range(turns):
                await asyncio.sleep(0)
            return await store.add_message(conversation, "user", f"after {turns} turns")

        await asyncio.wait_for(asyncio.gather(*(late(t) for t in range(5))), 10)
        assert store.commits - before == 1
    finally:
        await store.close()


async def test_under_load_a_commit_waits_the_interval_and_takes_what_arrives_meanwhile(tmp_path: Path) -> None:
    # Writes queued while a commit runs are committed COMMIT_INTERVAL_S after it started, together with the
    # writes that arrive in between: fewer commits, so fewer GIL hand-offs with the writer thread per write.
    store = await opened(tmp_path / "j.db")
    assert store._writer is not None
    store._writer._commit_interval_s = 0.3  # long enough for this test's steps on a loaded machine
    try:
        conversation = await store.new_conversation()
        before = store.commits
        first = asyncio.create_task(store.add_message(conversation, "user", "first"))
        await asyncio.sleep(0)
        while store._writer.pending:  # the writer takes "first" alone and starts its commit
            await asyncio.sleep(0)
        second = asyncio.create_task(store.add_message(conversation, "user", "second"))  # queued during it
        await asyncio.wait_for(first, 10)
        await asyncio.sleep(0.05)  # without the interval, "second" would be committed by now, alone
        assert not second.done()
        third = asyncio.create_task(store.add_message(conversation, "user", "third"))
        await asyncio.wait_for(asyncio.gather(second, third), 10)
        assert store.commits - before == 2  # "first"; then "second" and "third" in one commit
        assert [m.content for m in await store.messages(conversation)] == ["first", "second", "third"]
    finally:
        await store.close()


async def test_a_write_that_finds_the_writer_idle_does_not_wait_the_interval(tmp_path: Path) -> None:
    # Sequential calls (each awaited before the next) are never spaced out: the interval is for load only.
    store = await opened(tmp_path / "j.db")
    assert store._writer is not None
    store._writer._commit_interval_s = 600.0
    try:
        conversation = await store.new_conversation()
        for i in range(5):
            await asyncio.wait_for(store.add_message(conversation, "user", f"q{i}"), 10)
        assert len(await store.messages(conversation)) == 5
    finally:
        await store.close()
