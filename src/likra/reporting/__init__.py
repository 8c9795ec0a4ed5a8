"""Reports: Markdown with tables and PNG plots, per-item results as JSONL/CSV."""
