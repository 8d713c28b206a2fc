-- openmog SQLite schema, migration 1: inbox, plans (with step and approval indexes),
-- outbox and the audit chain. Applied once, inside a transaction, by `SqliteStore::open`.

CREATE TABLE inbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    channel     TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    event       TEXT    NOT NULL, -- JSON of `Inbound`
    received_at INTEGER NOT NULL,
    done        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (channel, event_id)
);

CREATE INDEX inbox_pending ON inbox (done, seq);

CREATE TABLE plans (
    id           TEXT    PRIMARY KEY,
    request_id   TEXT    NOT NULL UNIQUE,
    revision     INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    body         TEXT    NOT NULL -- JSON of the whole `PlanRecord`
);

CREATE INDEX plans_updated ON plans (updated_at);

-- Derived from the plan body; rewritten on every save of the plan.
CREATE TABLE steps (
    plan_id     TEXT    NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    key         TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    lease_until INTEGER,
    PRIMARY KEY (plan_id, key)
);

CREATE INDEX steps_state ON steps (state);

-- Derived from the plan body; rewritten on every save of the plan.
CREATE TABLE approvals (
    id         TEXT    PRIMARY KEY,
    plan_id    TEXT    NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    state      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE INDEX approvals_state ON approvals (state, expires_at);
CREATE INDEX approvals_plan ON approvals (plan_id);

CREATE TABLE outbox (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT    NOT NULL UNIQUE,
    channel             TEXT    NOT NULL,
    conversation        TEXT    NOT NULL,
    idempotency_key     TEXT    NOT NULL UNIQUE,
    message             TEXT    NOT NULL, -- JSON of `Outbound`
    state               TEXT    NOT NULL, -- pending | sent | failed
    attempts            INTEGER NOT NULL DEFAULT 0,
    not_before          INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    sent_at             INTEGER,
    last_error          TEXT,
    platform_message_id TEXT
);

CREATE INDEX outbox_channel ON outbox (channel, state, seq);
CREATE INDEX outbox_conversation ON outbox (channel, conversation, state, seq);
CREATE INDEX outbox_state ON outbox (state);

CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    data      TEXT    NOT NULL, -- JSON of the event's data
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
