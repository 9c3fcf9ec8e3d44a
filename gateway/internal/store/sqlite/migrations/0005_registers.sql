-- 0005: cash registers (UKM5 status poller) and the Petrosoft push outbox.

CREATE TABLE registers (
    id            INTEGER PRIMARY KEY,
    company_id    INTEGER NOT NULL REFERENCES companies(id),
    name          TEXT    NOT NULL,
    station_id    TEXT    NOT NULL DEFAULT '',
    base_url      TEXT    NOT NULL,
    location      TEXT    NOT NULL DEFAULT '',
    enabled       INTEGER NOT NULL DEFAULT 1,
    poll_interval INTEGER NOT NULL DEFAULT 0, -- milliseconds, 0 = default
    created_at    INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX registers_name ON registers (company_id, name);

CREATE TABLE register_states (
    register_id INTEGER PRIMARY KEY REFERENCES registers(id) ON DELETE CASCADE,
    status      INTEGER NOT NULL,
    since       INTEGER NOT NULL DEFAULT 0,
    checked     INTEGER NOT NULL DEFAULT 0,
    last_ok     INTEGER NOT NULL DEFAULT 0,
    alerts      TEXT    NOT NULL DEFAULT '[]',
    endpoints   TEXT    NOT NULL DEFAULT '[]'
);

-- Pushes waiting for the monitoring API; a row is deleted once delivered.
CREATE TABLE register_outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- delivery order within a station
    station_id  TEXT    NOT NULL,
    register_id INTEGER NOT NULL,
    body        BLOB    NOT NULL,
    keepalive   INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX register_outbox_station ON register_outbox (station_id, id);
