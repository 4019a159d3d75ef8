"""Business rules: permissions, tenancy, orchestration. No SQL here."""
