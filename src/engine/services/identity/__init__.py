"""Who may do what: organizations, users, login, tokens, passwords, permission checks."""
