-- The version guard of a batch written in one command (crates/store/src/sqlite/write_set.rs).
-- Each guarded `UPDATE instances ... WHERE id = ? AND version = ?` is followed by
-- `INSERT INTO version_guard VALUES (changes())`: when the update changed no row the copy it was
-- decided on was stale, and the trigger aborts that statement, so the rest of the command (and
-- its COMMIT) does not run and the writer rolls the transaction back. Nothing is stored: the
-- view has no rows and the trigger writes none.
CREATE VIEW version_guard AS SELECT 0 AS changed;

CREATE TRIGGER version_guard_check INSTEAD OF INSERT ON version_guard
BEGIN
    SELECT RAISE(ABORT, 'stale instance version') WHERE NEW.changed <> 1;
END;
