"""Scoring throughput / latency benchmark: ``python -m benchmarks.scoring.run``."""
