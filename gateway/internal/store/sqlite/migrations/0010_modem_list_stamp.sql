-- A statement that stamps a modem's chg itself (a new value from
-- machine_list_seq, taken once for the whole statement) is not stamped again
-- by modems_list_update: the bulk offline of a gateway shutdown
-- (store.BulkPresence) flips online of every connected modem, 19,000 at
-- once, and the trigger cost two more statements per row (bump the sequence,
-- rewrite the row's chg), more than doubling the statement's cost. Every
-- other update of a listed column is stamped as before (0007).
DROP TRIGGER modems_list_update;

CREATE TRIGGER modems_list_update AFTER UPDATE OF company_id, imei, hb_interval, online, last_seen,
    last_hb, vm_link, errors ON modems
WHEN NEW.chg IS OLD.chg AND (NEW.company_id IS NOT OLD.company_id OR NEW.imei IS NOT OLD.imei
    OR NEW.hb_interval IS NOT OLD.hb_interval OR NEW.online IS NOT OLD.online
    OR (NEW.last_seen = 0) IS NOT (OLD.last_seen = 0) OR (NEW.last_hb = 0) IS NOT (OLD.last_hb = 0)
    OR NEW.vm_link IS NOT OLD.vm_link OR NEW.errors IS NOT OLD.errors)
BEGIN
    UPDATE machine_list_seq SET v = v + 1 WHERE id = 1;
    UPDATE modems SET chg = (SELECT v FROM machine_list_seq WHERE id = 1) WHERE id = NEW.id;
END;
