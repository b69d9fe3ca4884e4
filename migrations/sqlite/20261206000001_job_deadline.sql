-- A job's timeout rides on its row instead of a timer row per step (issue 9): `deadline` is
-- when the engine's timeout timer for the job is due, NULL for a job without one.
ALTER TABLE jobs ADD COLUMN deadline TEXT;
