-- A counter bumped by every write of an instance row: the scheduler keeps the instances it runs
-- in memory and writes a decision with one autocommit statement guarded by the version it read
-- (`WHERE version = $n`), instead of locking the row first (issue 9).
ALTER TABLE workflow.instances ADD COLUMN version bigint NOT NULL DEFAULT 0;
