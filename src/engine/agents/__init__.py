"""AI roles as agents: an executor that routes by `agent_type` to typed LangGraph graphs."""
