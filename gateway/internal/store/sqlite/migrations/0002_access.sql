-- 0002: access control. Requisites (legal entities with cloud-register
-- settings), machine groups and the machine↔group and user↔group memberships
-- that limit what operators see (spec "Полный список ТА").

CREATE TABLE requisites (
    id          INTEGER PRIMARY KEY,
    company_id  INTEGER NOT NULL REFERENCES companies(id),
    title       TEXT    NOT NULL DEFAULT '',
    title_short TEXT    NOT NULL DEFAULT '',
    addr_legal  TEXT    NOT NULL DEFAULT '',
    addr_fact   TEXT    NOT NULL DEFAULT '',
    inn         TEXT    NOT NULL DEFAULT '',
    kpp         TEXT    NOT NULL DEFAULT '',
    provider    TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX requisites_company ON requisites (company_id, id);

-- "groups" is a keyword of window frames; the table is vm_groups.
CREATE TABLE vm_groups (
    id         INTEGER PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id),
    name       TEXT    NOT NULL,
    -- name folded by the engine (Unicode lower case: SQLite's NOCASE folds
    -- ASCII only, and group names are mostly Russian)
    name_key   TEXT    NOT NULL,
    created_at INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX vm_groups_name ON vm_groups (company_id, name_key);

CREATE TABLE group_machines (
    group_id INTEGER NOT NULL REFERENCES vm_groups(id) ON DELETE CASCADE,
    vm_id    INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, vm_id)
) WITHOUT ROWID;
CREATE INDEX group_machines_vm ON group_machines (vm_id, group_id);

CREATE TABLE group_users (
    group_id INTEGER NOT NULL REFERENCES vm_groups(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_users_user ON group_users (user_id, group_id);
