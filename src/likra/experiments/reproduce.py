"""``likra reproduce``: run an experiment profile end to end and write its report (resumable)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from likra.errors import LikraError
from likra.experiments.profiles import EvalSet, Profile, Study
from likra.io import atomic_write_json, read_json
from likra.rundir import locked, read_manifest, update_manifest


def profile_from_dict(data: dict) -> Profile:
    studies = tuple(
        Study(s["train_task"], tuple(EvalSet(**e) for e in s["eval_sets"]), s["max_questions"], s.get("train_split", "train"))
        for s in data["studies"]
    )
    fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k != "studies"}
    return Profile(studies=studies, **fields)


def save_profile(exp_dir: Path, profile: Profile) -> None:
    """Record the profile; refuse to mix a different one into an existing experiment."""
    path = exp_dir / "profile.json"
    if path.exists():
        saved = profile_from_dict(read_json(path))
        if saved != profile:
            raise LikraError("this experiment directory was made with a different profile; "
                             "use a new directory (or `likra report` to rebuild its report)", file=path)
        return
    atomic_write_json(path, profile.to_dict())


def load_profile(exp_dir: Path) -> Profile:
    path = exp_dir / "profile.json"
    if not path.exists():
        raise LikraError("not an experiment directory (no profile.json)", file=exp_dir)
    return profile_from_dict(read_json(path))


def build_report(exp_dir: Path, profile: Profile | None = None, extra: dict | None = None) -> Path:
    """(Re)build ``EXP/report/`` from the stored scores."""
    from likra.experiments.analysis import load_results
    from likra.report.markdown import write_report

    profile = profile or load_profile(exp_dir)
    return write_report(exp_dir, load_results(exp_dir, profile), extra)


def reproduce(exp_dir: str | Path, profile: Profile, device: str | None = None, progress: bool = True,
              log=print, loaded: Any = None) -> Path:
    """Run every training and evaluation of ``profile`` (skipping finished work), then report."""
    from likra.experiments.runner import run_experiment

    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    with locked(exp_dir):
        save_profile(exp_dir, profile)
        state = read_manifest(exp_dir)["stages"].get("experiment", {})
        if state.get("status") == "complete":
            log("experiment already complete: rebuilding the report only")
            return build_report(exp_dir, profile, state.get("facts"))
        started = time.perf_counter()
        update_manifest(exp_dir, "experiment", status="running")
        if loaded is None:
            from likra.model.load import load_base

            loaded = load_base(profile.model, device=device)
        run_experiment(exp_dir, profile, loaded, progress=progress, log=log)
        seconds = time.perf_counter() - started + float(state.get("seconds_before_resume", 0))
        facts = {"wall time of this invocation (s)": round(time.perf_counter() - started, 1),
                 "device": str(loaded.device), "dtype": str(loaded.dtype).replace("torch.", "")}
        report = build_report(exp_dir, profile, facts)
        update_manifest(exp_dir, "experiment", status="complete", facts=facts, seconds=round(seconds, 1))
    return report


def custom_profile(base: Profile, **changes: Any) -> Profile:
    return replace(base, **changes)
