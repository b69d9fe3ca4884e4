-- A job's timeout rides on its row instead of a timer row per step (issue 9): `deadline` is
-- when the engine's timeout timer for the job (`payload->timeout_timer`) is due, NULL for a
-- job without one. No index: the table holds only work in flight, and the sweeper reads it a
-- few times a minute, while every step writes it.
ALTER TABLE workflow.jobs ADD COLUMN deadline timestamptz;
