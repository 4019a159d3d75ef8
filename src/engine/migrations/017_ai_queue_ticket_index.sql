-- The claim keeps chat answers behind the oldest urgent ticket, found with min(id) over the
-- waiting tickets: an index of those alone keeps that lookup small however long the queue.
CREATE INDEX ai_jobs_waiting_tickets_idx ON ai_jobs (id) WHERE kind = 'ticket' AND status = 'pending';
