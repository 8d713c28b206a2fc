-- Notes the agent keeps (memory.remember) and durable timers (schedule.at / schedule.every).
CREATE TABLE notes (
    id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    author TEXT NOT NULL,
    plan TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX notes_by_time ON notes (created_at);

CREATE TABLE timers (
    id TEXT PRIMARY KEY,
    due_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX timers_by_due ON timers (due_at);
