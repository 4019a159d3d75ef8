"""Storage layer: all SQL lives here, always filtered by `org_id` on tenant tables."""
