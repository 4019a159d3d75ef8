-- A running job whose model server failed waits for a slot of another one: `moving_from`
-- lists the servers it must not go back to while it waits (NULL when it is not waiting);
-- it holds no slot meanwhile (backend NULL): its call on the failed server is over.
-- Such a job goes before every new claim and ticket on a server it may use, so a person
-- whose answer was cut is served at the next free slot, not after the whole backlog.
ALTER TABLE ai_jobs ADD COLUMN moving_from text[];
CREATE INDEX ai_jobs_moving_idx ON ai_jobs (id) WHERE moving_from IS NOT NULL;

-- An answer's lease lives on its ai_jobs row since 016; the column on messages was only
-- ever cleared.
ALTER TABLE messages DROP COLUMN IF EXISTS ai_lease_until;
