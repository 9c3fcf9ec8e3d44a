-- 0001: initial schema. Times are INTEGER Unix milliseconds UTC, 0 = never/unset.
-- Booleans are INTEGER 0/1. JSON documents are stored as TEXT/BLOB as received.

CREATE TABLE companies (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL DEFAULT 0
);
INSERT INTO companies (id, name) VALUES (1, 'default');

CREATE TABLE modems (
    id            INTEGER PRIMARY KEY,
    company_id    INTEGER NOT NULL REFERENCES companies(id),
    imei          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL DEFAULT '',
    iccid         TEXT    NOT NULL DEFAULT '',
    hw_version    TEXT    NOT NULL DEFAULT '',
    boot_version  TEXT    NOT NULL DEFAULT '',
    firmware      TEXT    NOT NULL DEFAULT '',
    phone         TEXT    NOT NULL DEFAULT '',
    bus           TEXT    NOT NULL DEFAULT '',
    cashless_on   INTEGER NOT NULL DEFAULT 0,
    cashless_addr INTEGER NOT NULL DEFAULT 0,
    hb_interval   INTEGER NOT NULL DEFAULT 0,
    caps          TEXT    NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL DEFAULT 0,
    online        INTEGER NOT NULL DEFAULT 0,
    epoch         INTEGER NOT NULL DEFAULT 0,
    last_seen     INTEGER NOT NULL DEFAULT 0,
    last_hb       INTEGER NOT NULL DEFAULT 0,
    uptime        INTEGER NOT NULL DEFAULT 0,
    signal        INTEGER NOT NULL DEFAULT 0,
    vm_link       INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX modems_imei ON modems (imei);
CREATE INDEX modems_company ON modems (company_id, id);

CREATE TABLE machines (
    id                   INTEGER PRIMARY KEY,
    company_id           INTEGER NOT NULL REFERENCES companies(id),
    name                 TEXT    NOT NULL DEFAULT '',
    serial_number        TEXT    NOT NULL DEFAULT '',
    planogram_id         INTEGER,
    location_id          INTEGER,
    model_id             INTEGER,
    modem_id             INTEGER REFERENCES modems(id),
    is_crt_active        INTEGER NOT NULL DEFAULT 0,
    inventory_number     TEXT    NOT NULL DEFAULT '',
    track_bus_vends      INTEGER NOT NULL DEFAULT 0,
    tz                   TEXT    NOT NULL DEFAULT '',
    tz_id                INTEGER,
    requisite_id         INTEGER,
    min_price            INTEGER,
    max_price            INTEGER,
    created_at           INTEGER NOT NULL DEFAULT 0,
    last_sale            INTEGER NOT NULL DEFAULT 0,
    last_service         INTEGER NOT NULL DEFAULT 0,
    last_collection      INTEGER NOT NULL DEFAULT 0,
    last_loading         INTEGER NOT NULL DEFAULT 0,
    last_report          INTEGER NOT NULL DEFAULT 0,
    last_acquired_report INTEGER NOT NULL DEFAULT 0
);
-- At most one machine per modem; NULLs (unbound) are distinct in a UNIQUE index.
CREATE UNIQUE INDEX machines_modem ON machines (modem_id);
CREATE INDEX machines_company ON machines (company_id, id);

-- msg_id is NULL when the modem sent none, so such rows are never deduplicated.
CREATE TABLE events (
    id       INTEGER PRIMARY KEY,
    modem_id INTEGER NOT NULL REFERENCES modems(id),
    vm_id    INTEGER NOT NULL DEFAULT 0,
    msg_id   TEXT,
    code     TEXT    NOT NULL DEFAULT '',
    time     INTEGER NOT NULL DEFAULT 0,
    payload  BLOB
);
CREATE UNIQUE INDEX events_msg ON events (modem_id, msg_id);
CREATE INDEX events_vm_time ON events (vm_id, time);

CREATE TABLE vends (
    id         INTEGER PRIMARY KEY,
    modem_id   INTEGER NOT NULL REFERENCES modems(id),
    vm_id      INTEGER NOT NULL DEFAULT 0,
    msg_id     TEXT,
    selection  TEXT    NOT NULL DEFAULT '',
    price      INTEGER NOT NULL DEFAULT 0,
    payment    TEXT    NOT NULL DEFAULT '',
    type       TEXT    NOT NULL DEFAULT '',
    ok         INTEGER NOT NULL DEFAULT 0,
    time       INTEGER NOT NULL DEFAULT 0,
    command_id TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX vends_msg ON vends (modem_id, msg_id);
CREATE INDEX vends_vm_time ON vends (vm_id, time);

CREATE TABLE audits (
    id         INTEGER PRIMARY KEY,
    modem_id   INTEGER NOT NULL REFERENCES modems(id),
    vm_id      INTEGER NOT NULL DEFAULT 0,
    msg_id     TEXT,
    port       INTEGER NOT NULL DEFAULT 0,
    time       INTEGER NOT NULL DEFAULT 0,
    received   INTEGER NOT NULL DEFAULT 0,
    data       BLOB,
    valid      INTEGER NOT NULL DEFAULT 0,
    error      TEXT    NOT NULL DEFAULT '',
    command_id TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX audits_msg ON audits (modem_id, msg_id);
CREATE INDEX audits_vm_time ON audits (vm_id, time);

CREATE TABLE commands (
    id         TEXT    PRIMARY KEY,
    modem_id   INTEGER NOT NULL REFERENCES modems(id),
    vm_id      INTEGER NOT NULL DEFAULT 0,
    user_id    INTEGER NOT NULL DEFAULT 0,
    name       TEXT    NOT NULL,
    args       BLOB,
    state      TEXT    NOT NULL,
    status     TEXT    NOT NULL DEFAULT '',
    code       INTEGER NOT NULL DEFAULT 0,
    message    TEXT    NOT NULL DEFAULT '',
    result     BLOB,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL DEFAULT 0,
    sent_at    INTEGER NOT NULL DEFAULT 0,
    acked_at   INTEGER NOT NULL DEFAULT 0,
    done_at    INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX commands_modem_state ON commands (modem_id, state, created_at);
CREATE INDEX commands_modem_created ON commands (modem_id, created_at);
-- Only live commands with an expiry are candidates for ExpireDue.
CREATE INDEX commands_expiry ON commands (expires_at)
    WHERE state IN ('queued', 'sent', 'acknowledged') AND expires_at > 0;

CREATE TABLE requests (
    id         INTEGER PRIMARY KEY,
    vm_id      INTEGER NOT NULL REFERENCES machines(id),
    report     INTEGER NOT NULL DEFAULT 0,
    config     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL DEFAULT 0,
    done_at    INTEGER NOT NULL DEFAULT 0
);
-- One open request per machine.
CREATE UNIQUE INDEX requests_open ON requests (vm_id) WHERE done_at = 0;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    company_id    INTEGER NOT NULL REFERENCES companies(id),
    email         TEXT    NOT NULL COLLATE NOCASE,
    password_hash TEXT    NOT NULL DEFAULT '',
    first_name    TEXT    NOT NULL DEFAULT '',
    last_name     TEXT    NOT NULL DEFAULT '',
    position      TEXT    NOT NULL DEFAULT '',
    phone         TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL DEFAULT '',
    active        INTEGER NOT NULL DEFAULT 0,
    last_login    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_email ON users (email);

-- refresh_hash is NULL when the pair has no refresh token.
CREATE TABLE tokens (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id),
    access_hash     TEXT    NOT NULL,
    refresh_hash    TEXT,
    scope           TEXT    NOT NULL DEFAULT '',
    access_expires  INTEGER NOT NULL DEFAULT 0,
    refresh_expires INTEGER NOT NULL DEFAULT 0,
    revoked         INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX tokens_access ON tokens (access_hash);
CREATE UNIQUE INDEX tokens_refresh ON tokens (refresh_hash);
CREATE INDEX tokens_user ON tokens (user_id);
