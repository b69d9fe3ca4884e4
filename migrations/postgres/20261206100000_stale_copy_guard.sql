-- The one-statement write of a batch decided on cached instance copies (crates/store/src/
-- postgres.rs, apply_writes) updates every instance under its version guard. A data-modifying
-- CTE runs whatever the others find, so when one copy was stale the fresh instances' updates
-- would commit without the step, job and timer rows of the same decisions. The statement ends
-- by calling this function, which aborts it (and so rolls all of it back) unless every guarded
-- update took; the batch then runs again on locked rows.
CREATE FUNCTION workflow.require_fresh_copies(fresh boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT fresh THEN
    RAISE EXCEPTION 'a cached instance copy was stale' USING ERRCODE = 'CHSTL';
  END IF;
  RETURN true;
END
$$;
