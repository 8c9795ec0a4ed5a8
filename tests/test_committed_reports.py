"""Every committed report that ships its score tables is what ``likra report`` builds from them.

docs/results/<name>/scores.tar.gz holds the experiment's profile, manifest, run records and score
tables (no adapters); rebuilding from it must give the committed findings.json and REPORT.md (the
run-facts line aside, which records the original invocation). A report whose text changes with
the code is then rebuilt and committed again, never left stale.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
SHIPPED = sorted(p.parent.name for p in RESULTS.glob("*/scores.tar.gz"))


def test_the_current_reports_ship_their_score_tables() -> None:
    assert {"default", "methods", "gemma3-270m", "winogrande", "hellaswag", "open-ended"} <= set(SHIPPED)


@pytest.mark.integration
@pytest.mark.parametrize("name", SHIPPED)
def test_committed_report_rebuilds_from_its_score_tables(name: str, tmp_path: Path) -> None:
    from likra.api import report
    from likra.reporting.markdown import without_run_facts

    with tarfile.open(RESULTS / name / "scores.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    built = report(tmp_path).parent
    committed = RESULTS / name
    assert (built / "findings.json").read_text() == (committed / "findings.json").read_text()
    assert without_run_facts((built / "REPORT.md").read_text()) == without_run_facts(
        (committed / "REPORT.md").read_text()
    )
