-- Schedule triggers keep the tick they fire at next, so that any scheduler can claim it
-- (compare-and-set on this column) and one instance starts per tick.
ALTER TABLE triggers ADD COLUMN next_fire_at TEXT;
CREATE INDEX triggers_next_fire_idx ON triggers (next_fire_at)
    WHERE next_fire_at IS NOT NULL AND enabled = 1;
