-- The machine list shows each machine's location (spec "Полный список ТА"), so
-- a change of location_id must stamp the row like any listed column (0007).
-- The location's own name and address are read per request, not stamped.
DROP TRIGGER machines_list_update;

CREATE TRIGGER machines_list_update AFTER UPDATE OF company_id, name, serial_number, planogram_id,
    model_id, modem_id, is_crt_active, inventory_number, track_bus_vends, tz, tz_id, last_sale,
    last_service, last_collection, last_loading, last_report, last_acquired_report, location_id ON machines
WHEN NEW.company_id IS NOT OLD.company_id OR NEW.name IS NOT OLD.name
    OR NEW.serial_number IS NOT OLD.serial_number OR NEW.planogram_id IS NOT OLD.planogram_id
    OR NEW.model_id IS NOT OLD.model_id OR NEW.modem_id IS NOT OLD.modem_id
    OR NEW.is_crt_active IS NOT OLD.is_crt_active OR NEW.inventory_number IS NOT OLD.inventory_number
    OR NEW.track_bus_vends IS NOT OLD.track_bus_vends OR NEW.tz IS NOT OLD.tz OR NEW.tz_id IS NOT OLD.tz_id
    OR NEW.last_sale IS NOT OLD.last_sale OR NEW.last_service IS NOT OLD.last_service
    OR NEW.last_collection IS NOT OLD.last_collection OR NEW.last_loading IS NOT OLD.last_loading
    OR NEW.last_report IS NOT OLD.last_report OR NEW.last_acquired_report IS NOT OLD.last_acquired_report
    OR NEW.location_id IS NOT OLD.location_id
BEGIN
    UPDATE machine_list_seq SET v = v + 1 WHERE id = 1;
    UPDATE machines SET chg = (SELECT v FROM machine_list_seq WHERE id = 1) WHERE id = NEW.id;
END;
