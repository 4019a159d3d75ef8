"""Benchmarks of the engine's own cost; every figure is a ratio against a same-run baseline."""
