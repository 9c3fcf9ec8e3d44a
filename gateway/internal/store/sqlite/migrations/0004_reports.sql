-- 0004: reports — vend statistics roll-up, cash records derived from audits,
-- cloud-register receipts. Times are INTEGER Unix milliseconds UTC.

-- Fleet-wide ranges (GET /v2/stats/vends/summary, .../payments/summary) read
-- the partial hours at the ends of a range by time; the index covers every
-- column they need, since a lookup into the table per vend is a random page
-- read (~10 us each once the table outgrows the page cache).
CREATE INDEX vends_time ON vends (time, vm_id, ok, type, payment, price);
CREATE INDEX audits_time ON audits (time);

-- vend_hours rolls successful vends up per company, UTC hour, type and payment,
-- so a fleet summary over days reads a few hundred rows instead of every vend.
-- It is kept by triggers in the writer's transaction: always consistent with
-- vends, with no code in the ingest path. A vend counts for the company its
-- machine belongs to when it is stored (vends of unbound modems, vm_id 0, are
-- not rolled up: they belong to no machine and no API shows them).
CREATE TABLE vend_hours (
    company_id INTEGER NOT NULL,
    hour       INTEGER NOT NULL, -- start of the UTC hour, Unix ms
    type       TEXT    NOT NULL,
    payment    TEXT    NOT NULL,
    count      INTEGER NOT NULL DEFAULT 0,
    value      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, hour, type, payment)
) WITHOUT ROWID;

INSERT INTO vend_hours (company_id, hour, type, payment, count, value)
SELECT m.company_id, v.time - (v.time % 3600000), v.type, v.payment, count(*), sum(v.price)
FROM vends v JOIN machines m ON m.id = v.vm_id
WHERE v.ok = 1 AND v.vm_id != 0
GROUP BY 1, 2, 3, 4;

CREATE TRIGGER vend_hours_ins AFTER INSERT ON vends
WHEN NEW.ok = 1 AND NEW.vm_id != 0
BEGIN
    INSERT INTO vend_hours (company_id, hour, type, payment, count, value)
    SELECT company_id, NEW.time - (NEW.time % 3600000), NEW.type, NEW.payment, 1, NEW.price
    FROM machines WHERE id = NEW.vm_id
    ON CONFLICT (company_id, hour, type, payment)
    DO UPDATE SET count = count + 1, value = value + excluded.value;
END;

-- Retention pruning of vends keeps the roll-up equal to what is left.
CREATE TRIGGER vend_hours_del AFTER DELETE ON vends
WHEN OLD.ok = 1 AND OLD.vm_id != 0
BEGIN
    UPDATE vend_hours SET count = count - 1, value = value - OLD.price
    WHERE company_id = (SELECT company_id FROM machines WHERE id = OLD.vm_id)
      AND hour = OLD.time - (OLD.time % 3600000) AND type = OLD.type AND payment = OLD.payment;
END;

-- audit_cash is the cash part of each valid audit (EVA-DTS CA records), filled
-- lazily by the reports code from audits with id above the cursor
-- report_cursors('audit_cash'). collection is 1 when the audit was a read with
-- reset (EA301 grew since the machine's previous audit): the cash box was
-- emptied and the "since reset" cash counters of this audit are the collection.
CREATE TABLE audit_cash (
    audit_id    INTEGER PRIMARY KEY,
    vm_id       INTEGER NOT NULL,
    time        INTEGER NOT NULL,
    reads_reset INTEGER NOT NULL DEFAULT -1, -- EA301, -1 when the audit has no EA3
    hands_add   INTEGER NOT NULL DEFAULT 0,
    change      INTEGER NOT NULL DEFAULT 0,
    coins       INTEGER NOT NULL DEFAULT 0,
    banknotes   INTEGER NOT NULL DEFAULT 0,
    collection  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX audit_cash_vm_time ON audit_cash (vm_id, time);
CREATE INDEX audit_cash_collections ON audit_cash (time) WHERE collection = 1;

CREATE TABLE report_cursors (
    name    TEXT    PRIMARY KEY,
    last_id INTEGER NOT NULL DEFAULT 0
);

-- receipts is the durable queue of cloud-register (fiscal) receipts:
-- pending → submitted | failed; a pending receipt whose submission failed is
-- retried at next_at with backoff until it runs out of attempts.
CREATE TABLE receipts (
    id         INTEGER PRIMARY KEY,
    key        TEXT    NOT NULL,            -- idempotency key, e.g. "vend/<modem>/<msg>"
    company_id INTEGER NOT NULL,
    vm_id      INTEGER NOT NULL,
    kind       TEXT    NOT NULL DEFAULT 'sale', -- 'sale' | 'correction'
    state      TEXT    NOT NULL DEFAULT 'pending',
    input      BLOB    NOT NULL,
    output     BLOB,
    aux        BLOB,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL DEFAULT 0,
    last_error TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL DEFAULT 0,
    done_at    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX receipts_key ON receipts (key);
CREATE INDEX receipts_due ON receipts (next_at) WHERE state = 'pending';
CREATE INDEX receipts_company_time ON receipts (company_id, kind, created_at);
CREATE INDEX receipts_vm_time ON receipts (vm_id, kind, created_at);
