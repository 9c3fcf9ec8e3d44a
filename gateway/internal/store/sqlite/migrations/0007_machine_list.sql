-- 0007: change tracking of the machine list (store.MachineList). Every
-- committed change of a column GET /v2/vending_machines shows, of a machine or
-- of a modem (but see modems_list_update for last_seen and last_hb), stamps the row's chg with the next value of machine_list_seq, so
-- that the API can keep the list in memory and re-read only the rows changed
-- since its copy (chg > the version it read). Updates that leave the listed
-- columns as they were (e.g. last_sale = max(last_sale, ?) with an older sale,
-- or a modem's signal) do not stamp. Rows untouched since this migration keep
-- chg 0: a full read does not look at chg.
CREATE TABLE machine_list_seq (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    v  INTEGER NOT NULL
);
INSERT INTO machine_list_seq (id, v) VALUES (1, 0);

ALTER TABLE machines ADD COLUMN chg INTEGER NOT NULL DEFAULT 0;
ALTER TABLE modems ADD COLUMN chg INTEGER NOT NULL DEFAULT 0;
CREATE INDEX machines_chg ON machines (chg);
CREATE INDEX modems_chg ON modems (chg);

CREATE TRIGGER machines_list_insert AFTER INSERT ON machines
BEGIN
    UPDATE machine_list_seq SET v = v + 1 WHERE id = 1;
    UPDATE machines SET chg = (SELECT v FROM machine_list_seq WHERE id = 1) WHERE id = NEW.id;
END;

CREATE TRIGGER machines_list_update AFTER UPDATE OF company_id, name, serial_number, planogram_id,
    model_id, modem_id, is_crt_active, inventory_number, track_bus_vends, tz, tz_id, last_sale,
    last_service, last_collection, last_loading, last_report, last_acquired_report ON machines
WHEN NEW.company_id IS NOT OLD.company_id OR NEW.name IS NOT OLD.name
    OR NEW.serial_number IS NOT OLD.serial_number OR NEW.planogram_id IS NOT OLD.planogram_id
    OR NEW.model_id IS NOT OLD.model_id OR NEW.modem_id IS NOT OLD.modem_id
    OR NEW.is_crt_active IS NOT OLD.is_crt_active OR NEW.inventory_number IS NOT OLD.inventory_number
    OR NEW.track_bus_vends IS NOT OLD.track_bus_vends OR NEW.tz IS NOT OLD.tz OR NEW.tz_id IS NOT OLD.tz_id
    OR NEW.last_sale IS NOT OLD.last_sale OR NEW.last_service IS NOT OLD.last_service
    OR NEW.last_collection IS NOT OLD.last_collection OR NEW.last_loading IS NOT OLD.last_loading
    OR NEW.last_report IS NOT OLD.last_report OR NEW.last_acquired_report IS NOT OLD.last_acquired_report
BEGIN
    UPDATE machine_list_seq SET v = v + 1 WHERE id = 1;
    UPDATE machines SET chg = (SELECT v FROM machine_list_seq WHERE id = 1) WHERE id = NEW.id;
END;

-- A modem's last_seen and last_hb move with every uplink; stamping them would
-- double the cost of ingesting heartbeats. The list needs them only for the
-- state (presence.MachineState): whether they are zero, and whether last_seen
-- is older than the stale limit. So only their zero-ness stamps, and the
-- reader re-reads last_seen (MachineListSeen) of the modems its copy shows as
-- stale: a newer last_seen can only make a modem less stale.
CREATE TRIGGER modems_list_update AFTER UPDATE OF company_id, imei, hb_interval, online, last_seen,
    last_hb, vm_link, errors ON modems
WHEN NEW.company_id IS NOT OLD.company_id OR NEW.imei IS NOT OLD.imei
    OR NEW.hb_interval IS NOT OLD.hb_interval OR NEW.online IS NOT OLD.online
    OR (NEW.last_seen = 0) IS NOT (OLD.last_seen = 0) OR (NEW.last_hb = 0) IS NOT (OLD.last_hb = 0)
    OR NEW.vm_link IS NOT OLD.vm_link OR NEW.errors IS NOT OLD.errors
BEGIN
    UPDATE machine_list_seq SET v = v + 1 WHERE id = 1;
    UPDATE modems SET chg = (SELECT v FROM machine_list_seq WHERE id = 1) WHERE id = NEW.id;
END;
