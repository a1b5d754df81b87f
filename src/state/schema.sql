-- Schema version 1. Applied by the migration runner in db.rs inside one
-- transaction; it must not contain BEGIN/COMMIT or connection pragmas.

CREATE TABLE sandboxes (
    name         TEXT PRIMARY KEY NOT NULL,
    profile_name TEXT NOT NULL,
    -- A resolved snapshot: editing sandboxes.toml later must not change a live sandbox.
    profile_json TEXT NOT NULL,
    workspace    TEXT NOT NULL,
    cgroup_rel   TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    ephemeral    INTEGER NOT NULL DEFAULT 0 CHECK (ephemeral IN (0, 1))
) STRICT;

-- `sandbox` is deliberately not a foreign key: history outlives its sandbox.
-- `seq` aliases the rowid and AUTOINCREMENT keeps it from ever being reused,
-- even after pruning, so "queued in order" always means ORDER BY seq.
CREATE TABLE executions (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    sandbox           TEXT NOT NULL,
    kind              TEXT NOT NULL,
    command_json      TEXT NOT NULL,
    status            TEXT NOT NULL,
    timeout_ms        INTEGER NOT NULL,
    supervisor_pid    INTEGER,
    supervisor_start  INTEGER,
    init_pid          INTEGER,
    queued_at         INTEGER NOT NULL,
    started_at        INTEGER,
    ended_at          INTEGER,
    exit_code         INTEGER,
    signal            INTEGER,
    cpu_ms            INTEGER,
    peak_memory_bytes INTEGER,
    error             TEXT,
    result_json       TEXT,
    stdout_log        TEXT NOT NULL,
    stderr_log        TEXT NOT NULL
) STRICT;

-- Admission control (oldest queued, running count) and per-sandbox listings.
CREATE INDEX executions_sandbox_status ON executions (sandbox, status, seq);
-- Active executions across all sandboxes, and pruning.
CREATE INDEX executions_status ON executions (status, seq);
