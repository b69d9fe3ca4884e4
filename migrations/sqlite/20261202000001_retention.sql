-- Retention finds finished instances by age (RETENTION_DAYS).
CREATE INDEX instances_completed_idx ON instances (completed_at)
    WHERE completed_at IS NOT NULL;
