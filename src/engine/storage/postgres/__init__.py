"""The PostgreSQL underneath every storage: the pool and its tenant scopes, the embedded
server, the migration runner with its tenancy step, the database clock."""
