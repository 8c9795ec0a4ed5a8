"""Benchmarks and task files: items, the task table, loaders, formats and the JSONL format."""
