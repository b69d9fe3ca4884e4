-- Search over instances (GET /instances?variables.<path>=<value>): the equality filters become
-- one `variables @> $doc` containment, which this index serves. jsonb_path_ops indexes only
-- containment (not key existence) and is a fraction of the default operator class's size.
CREATE INDEX instances_variables_idx ON workflow.instances USING gin (variables jsonb_path_ops);
