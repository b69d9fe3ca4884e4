-- A counter bumped by every write of an instance row, so that a decision made on the copy the
-- scheduler keeps in memory is written only if nobody wrote the row since (issue 9).
ALTER TABLE instances ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
