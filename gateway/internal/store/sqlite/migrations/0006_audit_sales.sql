-- 0006: audit_sales — what each valid EVA-DTS audit adds to its machine's
-- sales, computed from the "since initialisation" counters of the audit and
-- the previous valid audit of the same machine and port (EVA-DTS 6.2 §5.1.6,
-- package dex/evadts Sales). One row per audit, written once by the ingest
-- follow-up together with the events and derived vends it implies (see
-- store.AuditSales). Times are INTEGER Unix milliseconds UTC; money in minor
-- units.
CREATE TABLE audit_sales (
    audit_id       INTEGER PRIMARY KEY,           -- audits.id
    vm_id          INTEGER NOT NULL,
    modem_id       INTEGER NOT NULL,
    port           INTEGER NOT NULL DEFAULT 0,
    time           INTEGER NOT NULL DEFAULT 0,    -- this audit's read time
    prev_audit_id  INTEGER NOT NULL DEFAULT 0,    -- the audit the span starts at, 0 = none
    prev_time      INTEGER NOT NULL DEFAULT 0,
    status         TEXT    NOT NULL,              -- counted | baseline | late | implausible
    vend_count     INTEGER NOT NULL DEFAULT 0,    -- VA1 paid vends
    vend_value     INTEGER NOT NULL DEFAULT 0,
    cash_count     INTEGER NOT NULL DEFAULT 0,    -- CA2
    cash_value     INTEGER NOT NULL DEFAULT 0,
    cashless_count INTEGER NOT NULL DEFAULT 0,    -- DA2 + DB2
    cashless_value INTEGER NOT NULL DEFAULT 0,
    products       BLOB,                          -- JSON [{selection,name,count,value,by_device}]
    wrapped        BLOB,                          -- JSON names of counters taken as wrapped
    reinitialised  INTEGER NOT NULL DEFAULT 0,
    derived_vends  INTEGER NOT NULL DEFAULT 0     -- rows written into vends for this span
);
CREATE INDEX audit_sales_vm_time ON audit_sales (vm_id, time);
-- A span (prev audit → this one) is counted once: a second audit claiming
-- the same start is one that arrived late inside a span already counted.
CREATE UNIQUE INDEX audit_sales_span ON audit_sales (vm_id, port, prev_audit_id) WHERE prev_audit_id != 0;
