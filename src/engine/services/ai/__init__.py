"""AI roles at work: @@role answers, the background worker, proactive runs, rag documents."""
