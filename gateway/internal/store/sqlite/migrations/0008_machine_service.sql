-- 0008: what the machine list needs beyond 0007 (store.MachineServices):
-- machine types (spec "VendingMachineType"), and a per-machine summary of the
-- inputs of the service flags, money and the last service / collection
-- times, so that GET /v2/vending_machines shows them for 10,000 machines
-- without a query per machine. Times are INTEGER Unix milliseconds UTC.

-- The spec's six machine types. A machine's type is its model's (vm_models
-- gains type_id): the spec lets a machine be created with a model (mm_id) but
-- no type, so the type comes with the model.
CREATE TABLE vm_types (
    id    INTEGER PRIMARY KEY,
    label TEXT    NOT NULL,
    name  TEXT    NOT NULL
);
INSERT INTO vm_types (id, label, name) VALUES
    (1, 'coffee', 'кофейный'), (2, 'snack', 'снековый'), (3, 'combo', 'комбинированный'),
    (4, 'other', 'прочее'), (5, 'paired', 'спарка'), (6, 'can', 'баночный');
ALTER TABLE vm_models ADD COLUMN type_id INTEGER REFERENCES vm_types(id);
-- Both seeded models are hot-drink machines.
UPDATE vm_models SET type_id = 1 WHERE id IN (1, 2);

-- vm_service is derived by the API (it parses the EVA-DTS audits) for the
-- machines listed in vm_service_dirty, which the triggers below keep: every
-- committed change of an input (a valid audit, a vend of a machine with a
-- loading, the loading, the planogram) marks its machine. A mark is removed
-- only by a derivation that read it at the same count, so a change committed
-- while a derivation ran leaves the machine marked for the next one.
CREATE TABLE vm_service (
    vm_id        INTEGER PRIMARY KEY,
    audit_id     INTEGER NOT NULL DEFAULT 0,  -- newest valid audit, 0 = none
    audit_time   INTEGER NOT NULL DEFAULT 0,
    reads_reset  INTEGER NOT NULL DEFAULT -1, -- its EA301, -1 = none
    tube_worth   INTEGER,                     -- CA15 / CA17 sum, NULL = unknown
    cash_in      INTEGER NOT NULL DEFAULT 0,  -- 1: the newest audit has CA3
    bills        INTEGER NOT NULL DEFAULT 0,  -- CA308 bills since init
    coins        INTEGER NOT NULL DEFAULT 0,  -- CA305 - CA308 coins since init
    bills_since  INTEGER NOT NULL DEFAULT 0,  -- oldest older audit of the run of equal bills, 0 = none
    coins_since  INTEGER NOT NULL DEFAULT 0,
    revenue      INTEGER,                     -- cash since the last collection, NULL = unknown
    need_loading INTEGER NOT NULL DEFAULT 0,
    serviced     INTEGER NOT NULL DEFAULT 0,  -- EA6 of the newest audit that has one
    collected    INTEGER NOT NULL DEFAULT 0   -- newest audit whose EA301 grew
);

CREATE TABLE vm_service_dirty (
    vm_id INTEGER PRIMARY KEY,
    mark  INTEGER NOT NULL DEFAULT 1
);

-- Machines with inputs before this migration.
INSERT INTO vm_service_dirty (vm_id)
SELECT DISTINCT vm_id FROM audits WHERE valid = 1 AND vm_id != 0
UNION SELECT DISTINCT vm_id FROM loading;

-- A derived row changes what the list shows: stamp the machine (0007).
CREATE TRIGGER vm_service_list_ins AFTER INSERT ON vm_service
BEGIN
    UPDATE machine_list_seq SET v = v + 1 WHERE id = 1;
    UPDATE machines SET chg = (SELECT v FROM machine_list_seq WHERE id = 1) WHERE id = NEW.vm_id;
END;
CREATE TRIGGER vm_service_list_upd AFTER UPDATE ON vm_service
BEGIN
    UPDATE machine_list_seq SET v = v + 1 WHERE id = 1;
    UPDATE machines SET chg = (SELECT v FROM machine_list_seq WHERE id = 1) WHERE id = NEW.vm_id;
END;

CREATE TRIGGER vm_service_audit_ins AFTER INSERT ON audits
WHEN NEW.vm_id != 0 AND NEW.valid = 1
BEGIN
    INSERT INTO vm_service_dirty (vm_id) VALUES (NEW.vm_id)
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;
CREATE TRIGGER vm_service_audit_upd AFTER UPDATE OF vm_id, valid, time, data ON audits
BEGIN
    INSERT INTO vm_service_dirty (vm_id) SELECT NEW.vm_id WHERE NEW.vm_id != 0
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
    INSERT INTO vm_service_dirty (vm_id) SELECT OLD.vm_id WHERE OLD.vm_id != 0
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;
CREATE TRIGGER vm_service_audit_del AFTER DELETE ON audits
WHEN OLD.vm_id != 0 AND OLD.valid = 1
BEGIN
    INSERT INTO vm_service_dirty (vm_id) VALUES (OLD.vm_id)
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;

-- A vend lowers the loading (need_loading) only of machines with one: the
-- common vend of a machine without loading costs one index probe.
CREATE TRIGGER vm_service_vend_ins AFTER INSERT ON vends
WHEN NEW.ok = 1 AND NEW.vm_id != 0 AND EXISTS (SELECT 1 FROM loading WHERE vm_id = NEW.vm_id)
BEGIN
    INSERT INTO vm_service_dirty (vm_id) VALUES (NEW.vm_id)
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;

CREATE TRIGGER vm_service_loading_ins AFTER INSERT ON loading
BEGIN
    INSERT INTO vm_service_dirty (vm_id) VALUES (NEW.vm_id)
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;
CREATE TRIGGER vm_service_loading_upd AFTER UPDATE ON loading
BEGIN
    INSERT INTO vm_service_dirty (vm_id) VALUES (NEW.vm_id)
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;
CREATE TRIGGER vm_service_loading_del AFTER DELETE ON loading
BEGIN
    INSERT INTO vm_service_dirty (vm_id) VALUES (OLD.vm_id)
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;

-- The planogram decides the critical levels and the recipes; the zone decides
-- how EA6's local date/time reads.
CREATE TRIGGER vm_service_machine_upd AFTER UPDATE OF planogram_id, tz ON machines
WHEN NEW.planogram_id IS NOT OLD.planogram_id OR NEW.tz IS NOT OLD.tz
BEGIN
    INSERT INTO vm_service_dirty (vm_id) VALUES (NEW.id)
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;

CREATE TRIGGER vm_service_capacity_ins AFTER INSERT ON planogram_capacity
BEGIN
    INSERT INTO vm_service_dirty (vm_id) SELECT id FROM machines WHERE planogram_id = NEW.planogram_id
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;
CREATE TRIGGER vm_service_capacity_upd AFTER UPDATE ON planogram_capacity
BEGIN
    INSERT INTO vm_service_dirty (vm_id) SELECT id FROM machines WHERE planogram_id = NEW.planogram_id
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;
CREATE TRIGGER vm_service_capacity_del AFTER DELETE ON planogram_capacity
BEGIN
    INSERT INTO vm_service_dirty (vm_id) SELECT id FROM machines WHERE planogram_id = OLD.planogram_id
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;
CREATE TRIGGER vm_service_layout_ins AFTER INSERT ON planogram_layout
BEGIN
    INSERT INTO vm_service_dirty (vm_id) SELECT id FROM machines WHERE planogram_id = NEW.planogram_id
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;
CREATE TRIGGER vm_service_layout_del AFTER DELETE ON planogram_layout
BEGIN
    INSERT INTO vm_service_dirty (vm_id) SELECT id FROM machines WHERE planogram_id = OLD.planogram_id
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;
CREATE TRIGGER vm_service_recipe_ins AFTER INSERT ON product_components
BEGIN
    INSERT INTO vm_service_dirty (vm_id) SELECT m.id FROM machines m
    WHERE m.planogram_id IN (SELECT planogram_id FROM planogram_layout WHERE product_id = NEW.product_id)
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;
CREATE TRIGGER vm_service_recipe_del AFTER DELETE ON product_components
BEGIN
    INSERT INTO vm_service_dirty (vm_id) SELECT m.id FROM machines m
    WHERE m.planogram_id IN (SELECT planogram_id FROM planogram_layout WHERE product_id = OLD.product_id)
    ON CONFLICT (vm_id) DO UPDATE SET mark = mark + 1;
END;

-- Fleet read paths at 10 million vends (BENCHMARKS.md, Telemetron v2 REST).
-- One machine's month of vends (stats/vends/summary, .../products) read
-- ~1,000 vends through vends_vm_time and then each row from the table, a
-- random page read per vend: the index now covers every column those
-- queries use. Same name and leading columns, so every plan that used it
-- still does.
DROP INDEX vends_vm_time;
CREATE INDEX vends_vm_time ON vends (vm_id, time, ok, type, payment, price, selection);

-- A fleet summary over days reads whole hours from vend_hours (0004) and the
-- partial hours at its ends from vends: up to two hours of a fleet's vends,
-- ~30,000 rows at 10 M vends a month. vend_minutes rolls the vends up per
-- minute as well, so the ends read at most 2 × 59 minute rows and two
-- partial minutes of vends. Kept by triggers like vend_hours.
CREATE TABLE vend_minutes (
    company_id INTEGER NOT NULL,
    minute     INTEGER NOT NULL, -- start of the UTC minute, Unix ms
    type       TEXT    NOT NULL,
    payment    TEXT    NOT NULL,
    count      INTEGER NOT NULL DEFAULT 0,
    value      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, minute, type, payment)
) WITHOUT ROWID;

INSERT INTO vend_minutes (company_id, minute, type, payment, count, value)
SELECT m.company_id, v.time - (v.time % 60000), v.type, v.payment, count(*), sum(v.price)
FROM vends v JOIN machines m ON m.id = v.vm_id
WHERE v.ok = 1 AND v.vm_id != 0
GROUP BY 1, 2, 3, 4;

CREATE TRIGGER vend_minutes_ins AFTER INSERT ON vends
WHEN NEW.ok = 1 AND NEW.vm_id != 0
BEGIN
    INSERT INTO vend_minutes (company_id, minute, type, payment, count, value)
    SELECT company_id, NEW.time - (NEW.time % 60000), NEW.type, NEW.payment, 1, NEW.price
    FROM machines WHERE id = NEW.vm_id
    ON CONFLICT (company_id, minute, type, payment)
    DO UPDATE SET count = count + 1, value = value + excluded.value;
END;

CREATE TRIGGER vend_minutes_del AFTER DELETE ON vends
WHEN OLD.ok = 1 AND OLD.vm_id != 0
BEGIN
    UPDATE vend_minutes SET count = count - 1, value = value - OLD.price
    WHERE company_id = (SELECT company_id FROM machines WHERE id = OLD.vm_id)
      AND minute = OLD.time - (OLD.time % 60000) AND type = OLD.type AND payment = OLD.payment;
END;
