-- The event of an event job's run that ended in the transaction that started
-- it (ExecStart.Inline) is the run's input, byte for byte: it is kept once,
-- on the execution, and the event names that execution in data_from (its
-- data column is then ''). The readers of events.data read the execution's
-- input instead (eventData in event.go). Executions are never deleted and a
-- finished run's input never changes, so the reference always holds. This
-- spares the one writer the input's second copy for every accepted call of
-- an event job.

-- +goose Up
ALTER TABLE events ADD COLUMN data_from TEXT;

-- +goose Down
UPDATE events SET data = (SELECT input FROM executions WHERE id = events.data_from) WHERE data_from IS NOT NULL;
ALTER TABLE events DROP COLUMN data_from;
