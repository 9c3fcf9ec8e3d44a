-- 0003: catalogue (components, products, planograms, locations), reference
-- lists and machine loading (spec "Планограммы", "Продукты", "Компоненты",
-- "Места установки", "Справочник ...", "Текущая загрузка ТА").

-- Reference lists, seeded with the values the spec shows.
CREATE TABLE vm_models (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL
);
INSERT INTO vm_models (id, name) VALUES (1, 'Bianchi BVM 676'), (2, 'Necta Kikko Max');

-- utc_offset is not stored: it depends on the date (DST) and is computed from
-- the IANA name when listed.
CREATE TABLE timezones (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
);
INSERT INTO timezones (id, name) VALUES (109, 'America/Grenada'), (220, 'Asia/Baku');

CREATE TABLE event_codes (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT ''
);
INSERT INTO event_codes (code, name, description) VALUES
    ('EA', 'Coin Mechanism', 'COIN MECHANISM: General non-specific Coin Mechanism fault.'),
    ('EA1A', 'Cassette Removed', 'COIN MECHANISM: The coin storage cassette has been removed unexpectedly.');

CREATE TABLE components (
    id         INTEGER PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id),
    name       TEXT    NOT NULL,
    unit       INTEGER NOT NULL,
    is_product INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX components_name ON components (company_id, name, unit, is_product);

CREATE TABLE products (
    id               INTEGER PRIMARY KEY,
    company_id       INTEGER NOT NULL REFERENCES companies(id),
    name             TEXT    NOT NULL,
    composite        INTEGER NOT NULL DEFAULT 0,
    note             TEXT    NOT NULL DEFAULT '',
    vat              REAL,
    inventory_number TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX products_name ON products (company_id, name);

CREATE TABLE product_components (
    product_id   INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    component_id INTEGER NOT NULL REFERENCES components(id),
    volume       INTEGER NOT NULL,
    PRIMARY KEY (product_id, component_id)
);

CREATE TABLE planograms (
    id         INTEGER PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id),
    name       TEXT    NOT NULL,
    mode       TEXT    NOT NULL DEFAULT 'snack'
);
CREATE UNIQUE INDEX planograms_name ON planograms (company_id, name);

CREATE TABLE planogram_capacity (
    planogram_id INTEGER NOT NULL REFERENCES planograms(id) ON DELETE CASCADE,
    component_id INTEGER NOT NULL REFERENCES components(id),
    capacity     INTEGER NOT NULL,
    critical     INTEGER,
    PRIMARY KEY (planogram_id, component_id)
);

CREATE TABLE planogram_layout (
    planogram_id INTEGER NOT NULL REFERENCES planograms(id) ON DELETE CASCADE,
    number       TEXT    NOT NULL,
    product_id   INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    price        INTEGER,
    PRIMARY KEY (planogram_id, number)
);

CREATE TABLE locations (
    id         INTEGER PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id),
    name       TEXT    NOT NULL,
    address    TEXT    NOT NULL DEFAULT '',
    note       TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX locations_name ON locations (company_id, name);

-- Loading baseline: the level of a component (per selection for products,
-- layout '' for ingredients) as of the machine's last loading operation.
-- Vends count against it when their id is above vend_mark (not yet applied) and
-- their time is after time_floor (not already in an inventory's count).
CREATE TABLE loading (
    vm_id        INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    component_id INTEGER NOT NULL REFERENCES components(id),
    layout       TEXT    NOT NULL DEFAULT '',
    value        INTEGER NOT NULL,
    vend_mark    INTEGER NOT NULL DEFAULT 0,
    time_floor   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (vm_id, component_id, layout)
);

CREATE TABLE loading_tx (
    id         INTEGER PRIMARY KEY,
    vm_id      INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL DEFAULT 0,
    kind       TEXT    NOT NULL,
    digest     TEXT    NOT NULL DEFAULT '',
    note       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX loading_tx_vm_time ON loading_tx (vm_id, created_at);

CREATE TABLE loading_tx_items (
    tx_id        INTEGER NOT NULL REFERENCES loading_tx(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    component_id INTEGER NOT NULL,
    layout       TEXT    NOT NULL DEFAULT '',
    delta        INTEGER NOT NULL,
    orig         INTEGER NOT NULL,
    underflow    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tx_id, seq)
);

-- Service flags look up the newest valid audit of a machine.
CREATE INDEX audits_vm_valid_time ON audits (vm_id, valid, time);
