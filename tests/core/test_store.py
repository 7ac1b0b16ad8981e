"""The SQLite store: WAL, versioned migrations, conversations, redaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jarvis_tui.core.store import Redactor, RequestRow, Store, StoreError, migration_scripts


async def test_fresh_database_is_wal_and_fully_migrated(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.db")
    await store.open()
    try:
        assert await store.schema_version() == len(migration_scripts())
        settings = {}
        for pragma in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"):
            async with store.db.execute(f"PRAGMA {pragma}") as cursor:
                settings[pragma] = (await cursor.fetchone())[0]
        assert settings == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 5000}
    finally:
        await store.close()


async def test_migrations_apply_once_and_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = Store(path)
    await store.open()
    conversation = await store.new_conversation()
    await store.add_message(conversation, "user", "What is 2+2?")
    await store.add_message(conversation, "assistant", "4", node="M2", model="m", latency_ms=12.5, tokens_out=1)
    await store.close()

    again = Store(path)
    await again.open()
    try:
        messages = await again.messages(conversation)
        assert [(m.role, m.content, m.node) for m in messages] == [
            ("user", "What is 2+2?", None), ("assistant", "4", "M2")]
        [summary] = await again.conversations()
        assert summary.title == "What is 2+2?" and summary.message_count == 2
    finally:
        await again.close()


async def test_a_newer_schema_is_refused_not_clobbered(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=999")
    store = Store(path)
    with pytest.raises(StoreError, match="newer than this jarvis"):
        await store.open()


async def test_committed_rows_are_visible_to_another_connection_at_once(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = Store(path)
    await store.open()
    try:
        conversation = await store.new_conversation()
        await store.add_message(conversation, "user", "hello")
        with sqlite3.connect(path) as other:
            assert other.execute("SELECT content FROM messages").fetchall() == [("hello",)]
    finally:
        await store.close()


async def test_redactor_strips_secrets_before_writing(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.db", Redactor(["sk-secret-value-123"]))
    await store.open()
    try:
        conversation = await store.new_conversation()
        await store.add_message(conversation, "assistant", "your key is sk-secret-value-123")
        await store.record_requests([RequestRow("r", "A", None, None, "http_error", 1.0, None, None, None,
                                                "401 for key sk-secret-value-123", 0.0)])
    finally:
        await store.close()
    raw = (tmp_path / "j.db").read_bytes() + (tmp_path / "j.db-wal").read_bytes() \
        if (tmp_path / "j.db-wal").exists() else (tmp_path / "j.db").read_bytes()
    assert b"sk-secret-value-123" not in raw


async def test_concurrent_writers_share_one_connection_safely(tmp_path: Path) -> None:
    import asyncio

    store = Store(tmp_path / "j.db")
    await store.open()
    try:
        conversations = await asyncio.gather(*(store.new_conversation() for _ in range(20)))
        await asyncio.gather(*(store.add_message(c, "user", f"q{c}") for c in conversations))
        assert sum(s.message_count for s in await store.conversations()) == 20
    finally:
        await store.close()


async def test_request_rows_are_all_stored_in_order_across_multi_row_inserts(tmp_path: Path) -> None:
    # record_requests writes up to REQUESTS_PER_INSERT rows per INSERT statement.
    from jarvis_tui.core.store import REQUESTS_PER_INSERT

    store = Store(tmp_path / "j.db")
    await store.open()
    try:
        count = 2 * REQUESTS_PER_INSERT + 5
        await store.record_requests([RequestRow(f"r{i}", "A", "m", "simple", "ok", float(i), None, 1, i, None, 100.0 + i)
                                     for i in range(count)])
        rows = list(reversed(await store.request_rows("A", limit=count + 1)))
        assert [(r["request_id"], r["latency_ms"], r["tokens_out"], r["created_at"]) for r in rows] == [
            (f"r{i}", float(i), i, 100.0 + i) for i in range(count)]
    finally:
        await store.close()
