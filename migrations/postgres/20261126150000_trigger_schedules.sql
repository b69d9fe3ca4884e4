-- Schedule triggers keep the tick they fire at next, so that any scheduler replica can claim it
-- (compare-and-set on this column) and one instance starts per tick however many replicas run.
ALTER TABLE workflow.triggers ADD COLUMN next_fire_at timestamptz;
CREATE INDEX triggers_next_fire_idx ON workflow.triggers (next_fire_at)
    WHERE next_fire_at IS NOT NULL AND enabled;
