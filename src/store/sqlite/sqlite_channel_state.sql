-- openmog SQLite schema, migration 2: a channel's own durable state (an IMAP mailbox's
-- UIDVALIDITY and last UID, an email thread's headers), by channel and key.

CREATE TABLE channel_state (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (channel, key)
);
