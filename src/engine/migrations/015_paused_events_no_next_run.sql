-- A paused event has no next firing: resuming it computes one from that moment.
UPDATE calendar_events SET next_run_at = NULL WHERE NOT is_active AND next_run_at IS NOT NULL;
