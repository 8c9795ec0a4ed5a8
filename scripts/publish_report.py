"""Commit a finished experiment's report to docs/results/NAME, with the score tables it was built from.

    python scripts/publish_report.py runs/hellaswag hellaswag

does in one step what every committed report needs: rebuild the report from the experiment
(``likra report``), copy report/ with the experiment's profile.json and progress.jsonl into
docs/results/NAME (files of an earlier report there that this one no longer makes are removed),
pack the score tables (scripts/pack_scores.py), then unpack that archive elsewhere and rebuild the
report from it alone: findings.json and REPORT.md must come out as committed (the run-facts line
aside), as tests/test_committed_reports.py checks. It refuses an experiment with work left.
"""

from __future__ import annotations

import argparse
import shutil
import tarfile
import tempfile
from pathlib import Path

from pack_scores import pack

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
BESIDE_REPORT = ("profile.json", "progress.jsonl")  # what the experiment was and how long it took
ARCHIVE = "scores.tar.gz"


def finished(exp_dir: Path) -> bool:
    """Whether ``likra reproduce`` completed the experiment (its manifest's own record) and every
    planned run still has its score tables (none deleted since)."""
    from likra.experiments.profiles import load_profile
    from likra.experiments.runner import runs_without_scores
    from likra.rundir import read_manifest

    complete = read_manifest(exp_dir)["stages"].get("experiment", {}).get("status") == "complete"
    return complete and not runs_without_scores(exp_dir, load_profile(exp_dir))


def publish(exp_dir: Path, out: Path) -> list[str]:
    """Write the report, its setting and its score tables to ``out``; returns the files written."""
    from likra.api import report

    built = report(exp_dir).parent
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for path in sorted(built.iterdir()):
        if path.is_file():
            shutil.copy2(path, out / path.name)
    for name in BESIDE_REPORT:
        if (exp_dir / name).is_file():
            shutil.copy2(exp_dir / name, out / name)
    pack(exp_dir, out / ARCHIVE)
    return sorted(p.name for p in out.iterdir())


def rebuilds_identically(out: Path) -> bool:
    """Rebuild the report from ``out``'s archive alone and compare it with what ``out`` holds."""
    from likra.api import report
    from likra.reporting.markdown import without_run_facts

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(out / ARCHIVE) as archive:
            archive.extractall(tmp, filter="data")
        built = report(Path(tmp)).parent
        same_findings = (built / "findings.json").read_text() == (out / "findings.json").read_text()
        same_report = without_run_facts((built / "REPORT.md").read_text()) == without_run_facts(
            (out / "REPORT.md").read_text()
        )
    return same_findings and same_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("exp_dir", type=Path, help="A finished experiment (likra reproduce's folder).")
    parser.add_argument("name", help="The folder under docs/results/ (replaced if it exists).")
    parser.add_argument("--allow-unfinished", action="store_true", help="Publish an incomplete experiment anyway.")
    args = parser.parse_args()
    if not finished(args.exp_dir) and not args.allow_unfinished:
        raise SystemExit(f"{args.exp_dir}: the experiment is not complete (resume it with likra reproduce)")
    out = RESULTS / args.name
    written = publish(args.exp_dir, out)
    same = rebuilds_identically(out)
    print(f"{out}: {', '.join(written)}")
    print(f"rebuilt from {ARCHIVE} alone: {'identical' if same else 'DIFFERENT'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
