-- Commander pipeline: every consensus round with its votes, and every benchmark run with its results.
CREATE TABLE consensus_rounds (
    id              INTEGER PRIMARY KEY,
    round_id        TEXT NOT NULL UNIQUE,
    prompt          TEXT NOT NULL,
    verdict         TEXT,
    verdict_node    TEXT,
    confidence      REAL NOT NULL,
    flags           TEXT NOT NULL DEFAULT '[]',       -- JSON array
    disagreements   TEXT NOT NULL DEFAULT '[]',       -- JSON array of {nodes, attribution, weight, answer}
    early_decision  INTEGER NOT NULL DEFAULT 0,
    deciding_node   TEXT,
    wall_ms         REAL NOT NULL,
    synthesis       TEXT,
    synthesis_node  TEXT,
    created_at      REAL NOT NULL
);

CREATE TABLE consensus_votes (
    id          INTEGER PRIMARY KEY,
    round_id    INTEGER NOT NULL REFERENCES consensus_rounds(id) ON DELETE CASCADE,
    node        TEXT NOT NULL,
    model       TEXT,
    weight      REAL NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('answered', 'late', 'failed', 'cancelled')),
    outcome     TEXT,
    answer      TEXT,
    cluster     INTEGER,
    latency_ms  REAL,
    error       TEXT
);
CREATE INDEX consensus_votes_by_round ON consensus_votes(round_id);

CREATE TABLE bench_runs (
    id           INTEGER PRIMARY KEY,
    run_id       TEXT NOT NULL UNIQUE,
    started_at   REAL NOT NULL,
    finished_at  REAL NOT NULL,
    quick        INTEGER NOT NULL DEFAULT 0,
    nodes        TEXT NOT NULL,                      -- JSON array
    report_path  TEXT,
    summary      TEXT NOT NULL DEFAULT '{}'          -- JSON: per-node score %, proposed weights
);

CREATE TABLE bench_results (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES bench_runs(id) ON DELETE CASCADE,
    node        TEXT NOT NULL,
    level       INTEGER NOT NULL,
    points      REAL NOT NULL,
    max_points  REAL NOT NULL,
    status      TEXT NOT NULL,                       -- ok | timeout | failed
    latency_ms  REAL,
    detail      TEXT
);
CREATE INDEX bench_results_by_node ON bench_results(node, level);
