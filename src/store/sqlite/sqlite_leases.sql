-- openmog SQLite schema, migration 4: leases (who holds what exclusively, until when).
CREATE TABLE leases (
    name  TEXT    PRIMARY KEY,
    owner TEXT    NOT NULL,
    until INTEGER NOT NULL
);
