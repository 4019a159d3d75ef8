"""One builder per `agent_type`; the executor picks from `GRAPH_RUNNERS`."""
