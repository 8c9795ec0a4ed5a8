"""Finding 11: an experiment's runs answer without the choices, the answers graded (seconds, tiny model)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fixtures import load_fixture, write_task_file
from likra.api import reproduce
from likra.experiments.profiles import PROFILES, EvalSet, OpenEnded, Profile, Study, profile_from_dict
from likra.experiments.rules import FAILS, HOLDS, INCONCLUSIVE
from likra.io import read_jsonl
from likra.rundir import update_manifest


def tiny_open_ended_profile(model: str, train: str, evaluation: str) -> Profile:
    return Profile(
        name="tiny-open-ended",
        model=model,
        studies=(Study(train, (EvalSet(evaluation, "test"),), 8),),
        seeds=(1, 2),
        batch_size=4,
        negative_strategies=(),
        ablation=False,
        methods=("unlikelihood",),
        open_ended=OpenEnded(
            eval_sets=(EvalSet(evaluation, "test", 6),),
            validation=EvalSet(evaluation, "test", 4),
            eval_n=(4, 8),
            max_new_tokens=3,
            weights=(1.0, 0.5),
            alphas=(0.1,),
        ),
        description="open-ended plumbing",
    )


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("open")
    items = load_fixture("arc_easy_test") + load_fixture("arc_challenge_test")
    train = write_task_file(root / "train.jsonl", items[:32])
    evaluation = write_task_file(root / "eval.jsonl", items[32:])
    profile = tiny_open_ended_profile(str(tiny_model_dir), str(train), str(evaluation))
    report = reproduce(root / "exp", profile, progress=False, log=lambda _: None)
    return root / "exp", profile, report


def answer_files(exp) -> list:
    return sorted(p.relative_to(exp) for p in exp.rglob("generations/**/*.jsonl"))


def test_every_answer_file_is_made_once_and_graded(experiment) -> None:
    exp, profile, _ = experiment
    files = [str(p) for p in answer_files(exp)]
    validation = [f for f in files if "contrastive-weight" in f]
    assert len(validation) == 2 and all("first-s1/generations" in f and "/N-8/" in f for f in validation)
    tests = [f for f in files if f not in validation]
    # base once; 2 seeds x 2 N x (pos, contrastive); unlikelihood: 2 seeds x 2 N
    assert len(tests) == 1 + 8 + 4
    assert sum(f.startswith("base/") for f in tests) == 1
    rows = read_jsonl(exp / next(f for f in tests if "first-s2/" in f and f.endswith("N-8/contrastive.jsonl")))
    assert len(rows) == 6 and all(set(r["grade"]) == {"exact", "f1", "contains"} for r in rows)
    assert all(r["settings"]["checkpoint"] == "N-8" and r["settings"]["max_new_tokens"] == 3 for r in rows)
    assert all(r["choices"][r["gold"]] for r in rows)


def test_a_second_run_reuses_every_file_and_a_changed_one_is_made_again(experiment) -> None:
    exp, profile, _ = experiment
    files = answer_files(exp)
    stamps = {p: (exp / p).stat().st_mtime_ns for p in files}
    update_manifest(exp, "experiment", status="running")  # as an interrupted run leaves it: resume
    reproduce(exp, profile, progress=False, log=lambda _: None)
    assert {p: (exp / p).stat().st_mtime_ns for p in files} == stamps
    # A file made with other settings (here: another max_new_tokens) is not this profile's: remade.
    changed = next(p for p in files if "first-s1/" in str(p) and str(p).endswith("N-4/pos.jsonl"))
    rows = read_jsonl(exp / changed)
    rows[0]["settings"]["max_new_tokens"] = 99
    (exp / changed).write_text("".join(json.dumps(r) + "\n" for r in rows))
    update_manifest(exp, "experiment", status="running")
    reproduce(exp, profile, progress=False, log=lambda _: None)
    assert read_jsonl(exp / changed)[0]["settings"]["max_new_tokens"] == 3
    assert all((exp / p).stat().st_mtime_ns == stamps[p] for p in files if p != changed)


def test_report_has_the_section_and_finding_11(experiment) -> None:
    exp, _, report = experiment
    text = report.read_text()
    assert "## Open-ended answers (finding 11)" in text and "| chosen |" in text
    findings = json.loads((exp / "report" / "findings.json").read_text())
    eleven = next(f for f in findings if f["finding"] == 11)
    assert eleven["verdict"] in (HOLDS, FAILS, INCONCLUSIVE)
    assert [t["name"] for t in eleven["tests"]] == ["says the gold answer more", "says a known wrong answer less"]
    assert eleven["numbers"]["N"] == 8 and set(eleven["numbers"]) >= {"pos", "contrastive", "unlikelihood"}


def test_reports_without_open_ended_answers_have_no_finding_11(tmp_path) -> None:
    from likra.experiments.findings import assess

    assert all(f.number != 11 for f in assess_empty(assess))


def assess_empty(assess):
    from likra.experiments.analysis import ExperimentResults

    return assess(ExperimentResults(PROFILES["default"]))


def test_open_ended_profile_round_trips_and_checks_its_knobs() -> None:
    profile = PROFILES["open-ended"]
    assert profile_from_dict(json.loads(json.dumps(profile.to_dict()))) == profile
    assert profile.open_ended.grid("contrastive")[0] == {"weight": 1.0, "alpha": 0.1}  # the defaults first
    assert profile.open_ended.grid("pos") == [{}]
    from likra.errors import LikraError

    with pytest.raises(LikraError, match="alpha"):
        replace(profile.open_ended, alphas=(0.0,))
