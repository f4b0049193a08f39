"""Timing benchmarks: timings live here, never in test assertions. Run them with
`python -m core bench --help` (core/cli/bench.py)."""
