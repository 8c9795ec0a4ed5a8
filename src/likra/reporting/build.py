"""Build an experiment's report from its directory alone (profile, manifest, score files)."""

from __future__ import annotations

import json
from pathlib import Path

from likra.experiments.analysis import load_results
from likra.experiments.profiles import Profile, load_profile
from likra.layout import ExperimentLayout
from likra.reporting.markdown import write_report
from likra.rundir import read_manifest

FINDINGS = "findings.json"


def build_report(exp_dir: Path, profile: Profile | None = None, facts: dict | None = None) -> Path:
    """(Re)build ``EXP/report/`` from the stored scores; returns the path of REPORT.md."""
    profile = profile or load_profile(exp_dir)
    if facts is None:  # a rebuild keeps the facts of the run that made the scores
        facts = read_manifest(exp_dir)["stages"].get("experiment", {}).get("facts")
    return write_report(ExperimentLayout(exp_dir).report, load_results(exp_dir, profile), facts)


def findings_json(exp_dir: Path) -> list[dict]:
    """The verdicts written by the last report build."""
    return json.loads((ExperimentLayout(exp_dir).report / FINDINGS).read_text())
