-- Conversations, their messages, and one row per node request (including failures).
CREATE TABLE conversations (
    id          INTEGER PRIMARY KEY,
    title       TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content         TEXT NOT NULL,
    node            TEXT,
    model           TEXT,
    task_type       TEXT,
    latency_ms      REAL,
    ttft_ms         REAL,
    tokens_in       INTEGER,
    tokens_out      INTEGER,
    created_at      REAL NOT NULL
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);

CREATE TABLE requests (
    id          INTEGER PRIMARY KEY,
    request_id  TEXT NOT NULL,
    node        TEXT NOT NULL,
    model       TEXT,
    task_type   TEXT,
    outcome     TEXT NOT NULL,
    latency_ms  REAL,
    ttft_ms     REAL,
    tokens_in   INTEGER,
    tokens_out  INTEGER,
    error       TEXT,
    created_at  REAL NOT NULL
);
CREATE INDEX requests_by_node ON requests(node, id);
