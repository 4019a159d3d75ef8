"""Tools agents may call; each runs with the caller's org and user from `AgentContext`."""
