"""Benchmark: ingest-monitor next to the tools a user would pick instead, same file, same run.

`python -m bench --rows N` prints a table and writes `bench/results/<date>.md`
(see `bench.run`).
"""
