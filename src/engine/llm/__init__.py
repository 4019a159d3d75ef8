"""LLM providers: chat-model factory and reachability probes."""
