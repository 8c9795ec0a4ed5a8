"""The ``likra`` model inside lm-evaluation-harness agrees with ``likra eval``.

Offline: a local lm-eval task (YAML over a JSON data file, ``dataset_path: json``) holds ARC
items cut from the packaged data; a run is trained on a tiny random model. For base, sft, likra
and neg-only, lm-eval's acc / acc_norm through the plugin must equal ``likra eval``'s on the same
items, and every per-choice score must agree within 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures import load_fixture, write_task_file
from likra.api import evaluate, train
from likra.data.selection import eval_items
from likra.errors import LikraError
from likra.io import read_jsonl
from likra.metrics import MODES

TASK = "likra_arc_fixture"
GEN_TASK = "likra_arc_generate"
MODES_CHECKED = ("base", "sft", "likra", "neg-only")


@pytest.fixture(scope="module")
def harness_setup(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("harness")
    items = load_fixture("arc_easy_test") + load_fixture("arc_challenge_test")
    train_file = write_task_file(root / "train.jsonl", items[:16])
    eval_file = write_task_file(root / "eval.jsonl", items[16:40])
    run = root / "run"
    train(run, model=str(tiny_model_dir), task=str(train_file), max_questions=16, progress=False)
    metrics = evaluate(run, task=str(eval_file), split="test", checkpoints="final", progress=False, dtype="fp32")[0]
    scores = read_jsonl(next((run / "eval").glob("*/N-16/scores.jsonl")))
    # lm-eval's copy of the same items: the likra prompt as the query, the choices' raw text.
    tasks = root / "tasks"
    tasks.mkdir()
    docs = [
        {"query": it.contexts[0], "choices": [c[1:] for c in it.continuations], "gold": it.gold}
        for it in eval_items(str(eval_file), "test", None, 0)
    ]
    (tasks / "docs.json").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    (tasks / f"{TASK}.yaml").write_text(
        f"task: {TASK}\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        f"  data_files:\n    test: {tasks / 'docs.json'}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "{{query}}"\n'
        'doc_to_choice: "{{choices}}"\n'
        'doc_to_target: "{{gold}}"\n'
        "metric_list:\n"
        "  - metric: acc\n"
        "  - metric: acc_norm\n"
    )
    # The same questions as a generation task: answer in a few tokens, stop at a new line.
    (tasks / f"{GEN_TASK}.yaml").write_text(
        f"task: {GEN_TASK}\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        f"  data_files:\n    test: {tasks / 'docs.json'}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        'doc_to_text: "{{query}}"\n'
        'doc_to_target: "{{choices[gold]}}"\n'
        "generation_kwargs:\n"
        '  until: ["\\n"]\n'
        "  max_gen_toks: 5\n"
        "  do_sample: false\n"
        "metric_list:\n"
        "  - metric: exact_match\n"
    )
    return run, metrics, scores, tasks


def _lm_eval(lm, tasks: Path, task: str = TASK, **kwargs) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    return simple_evaluate(
        model=lm, tasks=[task], task_manager=TaskManager(include_path=str(tasks)), log_samples=True, **kwargs
    )


@pytest.mark.parametrize("mode", MODES_CHECKED)
def test_plugin_equals_likra_eval_in_every_mode(harness_setup, mode, monkeypatch):
    from likra.harness import LikraLM

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    run, metrics, scores, tasks = harness_setup
    out = _lm_eval(LikraLM(run=str(run), checkpoint="final", mode=mode), tasks)
    result = out["results"][TASK]
    assert result["acc,none"] == pytest.approx(metrics["modes"][mode]["acc"], abs=1e-12)
    assert result["acc_norm,none"] == pytest.approx(metrics["modes"][mode]["acc_norm"], abs=1e-12)
    samples = sorted(out["samples"][TASK], key=lambda s: s["doc_id"])
    assert len(samples) == len(scores)
    worst = 0.0
    for sample, row in zip(samples, scores):
        theirs = [float(resp[0][0]) for resp in sample["resps"]]
        ours = [MODES[mode](choice) for choice in row["choices"]]
        worst = max(worst, max(abs(a - b) for a, b in zip(theirs, ours)))
    assert worst <= 1e-4


@pytest.mark.parametrize("mode", ["dpo", "dpo-ratio"])
def test_plugin_scores_a_dpo_run_as_likra_eval_does(harness_setup, tmp_path, mode, monkeypatch):
    from likra.harness import LikraLM

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    run, _, _, tasks = harness_setup
    dpo = run.parent / "run-dpo"
    if not dpo.exists():
        config = json.loads((run / "config.json").read_text())
        train(dpo, model=config["model"], task=config["task"], max_questions=16, progress=False, method="dpo")
    eval_file = run.parent / "eval.jsonl"
    metrics = evaluate(dpo, task=str(eval_file), split="test", checkpoints="final", progress=False, dtype="fp32")[0]
    result = _lm_eval(LikraLM(run=str(dpo), mode=mode), tasks)["results"][TASK]
    assert result["acc,none"] == pytest.approx(metrics["modes"][mode]["acc"], abs=1e-12)
    assert result["acc_norm,none"] == pytest.approx(metrics["modes"][mode]["acc_norm"], abs=1e-12)
    with pytest.raises(LikraError, match="needs the pos, neg adapter"):
        LikraLM(run=str(dpo), mode="likra")


def test_request_cache_is_keyed_on_mode_and_checkpoint(harness_setup, tmp_path, monkeypatch):
    from likra.harness import LikraLM, cache_path

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    run, metrics, _, tasks = harness_setup
    likra = LikraLM(run=str(run), mode="likra")
    with pytest.raises(LikraError, match="not keyed on this likra model"):
        _lm_eval(likra, tasks, use_cache=str(tmp_path / "cache"))
    # keyed paths: two modes through the same base path never read each other's answers
    for mode in ("likra", "sft", "likra"):
        lm = LikraLM(run=str(run), mode=mode)
        out = _lm_eval(lm, tasks, use_cache=cache_path(str(tmp_path / "cache"), lm.likra))
        assert out["results"][TASK]["acc_norm,none"] == pytest.approx(metrics["modes"][mode]["acc_norm"])
    assert len(list(tmp_path.glob("cache-likra-*.db"))) == 2


@pytest.mark.parametrize(("mode", "decoding"), [("likra", "contrastive"), ("sft", "pos"), ("base", "base")])
def test_generation_tasks_decode_as_likra_generate_does(harness_setup, mode, decoding, monkeypatch):
    """lm-eval's generate_until requests, answered in the mode's decoding, give exactly the text
    ``likra.generation`` gives for the same prompts (greedy, 5 tokens, stop at a new line)."""
    from likra.generation.decoding import GenerateSettings
    from likra.generation.run import Generator
    from likra.harness import LikraLM

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    run, _, _, tasks = harness_setup
    lm = LikraLM(run=str(run), mode=mode)
    assert json.loads(lm.likra.decoding)["mode"] == decoding
    out = _lm_eval(lm, tasks, task=GEN_TASK)
    samples = sorted(out["samples"][GEN_TASK], key=lambda s: s["doc_id"])
    prompts = [s["arguments"][0][0] for s in samples]
    generator = Generator.load(run, dtype="fp32")
    settings = GenerateSettings(mode=decoding, max_new_tokens=5, stop=("\n",))
    expected = [g.text for g in generator.generate(prompts, settings)]
    assert [s["resps"][0][0] for s in samples] == expected
    assert len(expected) == 24 and any(expected)


def test_modes_that_generate_nothing_and_rolling_requests_get_a_clear_error(harness_setup, tiny_model_dir):
    from lm_eval.api.instance import Instance

    from likra.harness import LikraLM, resolve_model

    lm = LikraLM(run=str(harness_setup[0]), mode="neg-only")
    request = Instance(request_type="generate_until", doc={}, arguments=("Q", {"until": ["\n"]}), idx=0)
    with pytest.raises(LikraError, match="mode neg-only ranks given answers .* give model_arg gen_mode"):
        lm.generate_until([request])
    with pytest.raises(LikraError, match="loglikelihood_rolling"):
        lm.loglikelihood_rolling([request])
    assert json.loads(resolve_model(run=str(harness_setup[0]), mode="neg-only", gen_mode="experts").decoding) == {
        "beta": 1.0,
        "mode": "experts",
    }
    with pytest.raises(LikraError, match="gen_mode contrastive needs a run"):
        resolve_model(pretrained=str(tiny_model_dir), mode="base", gen_mode="contrastive")
    with pytest.raises(LikraError, match="k a whole number"):
        resolve_model(run=str(harness_setup[0]), k="four")


def test_bad_model_args_are_named(harness_setup, tiny_model_dir):
    from likra.harness import resolve_model

    run = str(harness_setup[0])
    with pytest.raises(LikraError, match="mode"):
        resolve_model(run=run, mode="nonsense")
    with pytest.raises(LikraError, match="N-999"):
        resolve_model(run=run, checkpoint="N-999")
    with pytest.raises(LikraError, match="needs a run"):
        resolve_model(pretrained=str(tiny_model_dir), mode="likra")
    assert resolve_model(run=run).checkpoint == "N-16"
    keys = {resolve_model(run=run, mode=m).key for m in ("likra", "sft")}
    keys |= {resolve_model(run=run, mode="weighted", w_neg=w).key for w in (0.5, 1.0)}
    assert len(keys) == 4


@pytest.mark.parametrize(
    ("model_args", "message"),
    [
        ("run=RUN,chekpoint=N-16", "unknown model_arg 'chekpoint'. Did you mean 'checkpoint'?"),
        ("run=RUN,mode=weighted,w_neg=abc", "field 'w_neg': w_neg must be a number, got 'abc'"),
        ("pretrained=MODEL,mode=base,batch_tokens=0", "field 'batch_tokens': batch_tokens must be a whole number >= 1"),
    ],
)
def test_bad_model_args_through_lm_eval_are_one_line(harness_setup, tiny_model_dir, model_args, message):
    """What lm-eval hands the likra model from ``--model_args``: a misspelt key was a TypeError
    traceback, a weight that is not a number a ValueError one, ``batch_tokens=0`` was accepted."""
    from likra.harness import LikraLM

    model_args = model_args.replace("RUN", str(harness_setup[0])).replace("MODEL", str(tiny_model_dir))
    with pytest.raises(LikraError) as error:
        LikraLM.create_from_arg_string(model_args, {"batch_size": 1, "max_batch_size": None, "device": None})
    assert message in str(error.value)


def test_likra_harness_cli_runs_lm_eval_with_a_keyed_cache(harness_setup, tmp_path, monkeypatch, cli):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    run, metrics, _, tasks = harness_setup
    code, out, err = cli(
        "harness",
        "--model",
        "likra",
        "--model_args",
        f"run={run},checkpoint=N-16,mode=neg-only",
        "--tasks",
        TASK,
        "--include_path",
        str(tasks),
        "--use_cache",
        str(tmp_path / "cache"),
        "--output_path",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    written = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())
    assert written["results"][TASK]["acc_norm,none"] == pytest.approx(metrics["modes"]["neg-only"]["acc_norm"])
    assert len(list(tmp_path.glob("cache-likra-neg-only-N-16-*_rank0.db"))) == 1
