-- openmog Postgres schema, migration 1: everything the SQLite store has after its third
-- migration (inbox, plans with step and approval indexes, outbox, audit chain, channel
-- state, notes, timers), plus leases. Timestamps are milliseconds since the epoch.

CREATE TABLE inbox (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    channel     TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    event       TEXT    NOT NULL, -- JSON of `Inbound`
    received_at BIGINT  NOT NULL,
    done        BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (channel, event_id)
);
CREATE INDEX inbox_pending ON inbox (seq) WHERE NOT done;

CREATE TABLE plans (
    id           TEXT   PRIMARY KEY,
    request_id   TEXT   NOT NULL UNIQUE,
    revision     BIGINT NOT NULL,
    state        TEXT   NOT NULL,
    title        TEXT   NOT NULL,
    channel      TEXT   NOT NULL,
    conversation TEXT   NOT NULL,
    updated_at   BIGINT NOT NULL,
    body         TEXT   NOT NULL -- JSON of the whole `PlanRecord`
);
CREATE INDEX plans_updated ON plans (updated_at);
CREATE INDEX plans_state ON plans (state);

-- Derived from the plan body; rewritten on every save of the plan.
CREATE TABLE steps (
    plan_id     TEXT   NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    key         TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    lease_until BIGINT,
    PRIMARY KEY (plan_id, key)
);
CREATE INDEX steps_state ON steps (state);

-- Derived from the plan body; rewritten on every save of the plan.
CREATE TABLE approvals (
    id         TEXT   PRIMARY KEY,
    plan_id    TEXT   NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    state      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX approvals_state ON approvals (state, expires_at);
CREATE INDEX approvals_plan ON approvals (plan_id);

CREATE TABLE outbox (
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                  TEXT   NOT NULL UNIQUE,
    channel             TEXT   NOT NULL,
    conversation        TEXT   NOT NULL,
    idempotency_key     TEXT   NOT NULL UNIQUE,
    message             TEXT   NOT NULL, -- JSON of `Outbound`
    state               TEXT   NOT NULL, -- pending | sent | failed
    attempts            BIGINT NOT NULL DEFAULT 0,
    not_before          BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    sent_at             BIGINT,
    last_error          TEXT,
    platform_message_id TEXT
);
CREATE INDEX outbox_conversation ON outbox (channel, conversation, seq) WHERE state = 'pending';
CREATE INDEX outbox_state ON outbox (state);

CREATE TABLE audit (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    kind      TEXT   NOT NULL,
    actor     TEXT   NOT NULL,
    subject   TEXT   NOT NULL,
    data      TEXT   NOT NULL, -- JSON of the event's data
    prev_hash TEXT   NOT NULL,
    hash      TEXT   NOT NULL
);

CREATE TABLE channel_state (
    channel TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (channel, key)
);

CREATE TABLE notes (
    id         TEXT   PRIMARY KEY,
    text       TEXT   NOT NULL,
    author     TEXT   NOT NULL,
    plan       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX notes_by_time ON notes (created_at);

CREATE TABLE timers (
    id     TEXT   PRIMARY KEY,
    due_at BIGINT NOT NULL,
    body   TEXT   NOT NULL
);
CREATE INDEX timers_by_due ON timers (due_at);

-- Who holds what exclusively (a channel's connection, the inbox), until when.
CREATE TABLE leases (
    name  TEXT   PRIMARY KEY,
    owner TEXT   NOT NULL,
    until BIGINT NOT NULL
);
