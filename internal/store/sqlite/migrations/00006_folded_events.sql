-- Events that make no deliveries are kept on the execution they belong to
-- instead of in events rows of their own: the outcome (job.succeeded,
-- job.failed) of every finished run, and the event of an event job's run
-- that ended in the transaction that started it (ExecStart.Inline), whose
-- data is the run's input. "No deliveries": no active webhook matched the
-- event at publish, so none ever will (only events published while a
-- webhook is active make deliveries); and it carries no idempotency key.
-- Their ids are the execution's KSUID under the event prefix: the job's
-- event evt_<K>, the outcome evt_<K'>, where K' is K with its last base62
-- digit paired with its neighbour (0↔1, 2↔3, …, y↔z: K ± 1, a KSUID
-- still). So EventGet finds them by the execution's key, and an accepted
-- call of an event job nobody subscribes to writes one row instead of three
-- (two fewer rows and id-index entries for the one writer).
--   event_type, event_owner:     the job's event (its data is the input,
--                                its timestamp finished_at); NULL: no
--                                folded event
--   outcome_type, outcome_owner,
--   outcome_data:                the job.succeeded / job.failed event
--                                (timestamp finished_at); NULL: none folded

-- +goose Up
ALTER TABLE executions ADD COLUMN event_type TEXT;
ALTER TABLE executions ADD COLUMN event_owner TEXT;
ALTER TABLE executions ADD COLUMN outcome_type TEXT;
ALTER TABLE executions ADD COLUMN outcome_owner TEXT;
ALTER TABLE executions ADD COLUMN outcome_data TEXT;

-- +goose Down
INSERT INTO events (id, workspace_id, type, data, owner_id, idempotency_key, created, delivery_ids, data_from)
    SELECT 'evt_' || substr(id, 5), workspace_id, event_type, '', event_owner, '', finished_at, '[]', id
    FROM executions WHERE event_type IS NOT NULL;
INSERT INTO events (id, workspace_id, type, data, owner_id, idempotency_key, created, delivery_ids)
    SELECT 'evt_' || substr(id, 5, length(id) - 5)
            || substr('1032547698BADCFEHGJILKNMPORQTSVUXWZYbadcfehgjilknmporqtsvuxwzy',
                instr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', substr(id, -1)), 1),
        workspace_id, outcome_type, outcome_data, outcome_owner, '', finished_at, '[]'
    FROM executions WHERE outcome_type IS NOT NULL;
ALTER TABLE executions DROP COLUMN outcome_data;
ALTER TABLE executions DROP COLUMN outcome_owner;
ALTER TABLE executions DROP COLUMN outcome_type;
ALTER TABLE executions DROP COLUMN event_owner;
ALTER TABLE executions DROP COLUMN event_type;
