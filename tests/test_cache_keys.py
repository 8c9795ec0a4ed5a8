"""A cached number is keyed on every input that made it: change one and it is computed again.

``likra eval`` caches base scores (``base.jsonl``) and each checkpoint's scores and metrics. Each
records its inputs (``likra.score.inputs``): the items' content, the model's weights, the
adapters' weights, the scoring precision, the device kind and the packing. Edit any of them and
the next eval must give the numbers a fresh folder gives, never the old ones.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from fixtures import load_fixture, write_task_file
from likra.io import read_json, read_jsonl
from likra.score.evaluate import evaluate
from likra.score.inputs import items_digest, model_digest
from likra.training.loop import TrainSettings
from likra.training.run import train

QUIET = {"progress": False, "split": "test"}


@pytest.fixture(scope="module")
def run_and_task(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cache")
    items = load_fixture("arc_easy_test") + load_fixture("arc_challenge_test")
    train_file = write_task_file(root / "train.jsonl", items[:8])
    eval_file = write_task_file(root / "eval.jsonl", items[8:20])
    run = root / "run"
    train(
        run,
        model=str(tiny_model_dir),
        task=str(train_file),
        max_questions=8,
        settings=TrainSettings(batch_size=4),
        progress=False,
        dtype="fp32",
    )
    return run, eval_file


def fresh(run: Path, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("eval"))
    return copy


def scores(run: Path, checkpoint: str = "N-8") -> list[dict]:
    return read_jsonl(next(run.glob(f"eval/*/{checkpoint}/scores.jsonl")))


def edit_task(path: Path, out: Path, change) -> Path:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    change(rows)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def test_editing_one_gold_answer_rescoring_gives_what_a_fresh_folder_gives(run_and_task, tmp_path: Path) -> None:
    run, task = run_and_task
    cached = fresh(run, tmp_path, "cached")
    before = evaluate(cached, task=str(task), **QUIET)
    edited = edit_task(task, tmp_path / "eval.jsonl", lambda rows: rows[0].update(answer=(rows[0]["answer"] + 1) % 4))
    after = evaluate(cached, task=str(edited), **QUIET)
    expected = evaluate(fresh(run, tmp_path, "clean"), task=str(edited), **QUIET)
    assert [r["modes"] for r in after] == [r["modes"] for r in expected]
    assert scores(cached)[0]["gold"] == (json.loads(task.read_text().splitlines()[0])["answer"] + 1) % 4
    assert before[-1]["inputs"]["items"] != after[-1]["inputs"]["items"]


def test_editing_one_choice_or_swapping_the_file_rescores(run_and_task, tmp_path: Path) -> None:
    run, task = run_and_task
    cached = fresh(run, tmp_path, "cached")
    evaluate(cached, task=str(task), **QUIET)
    old = scores(cached)
    edited = edit_task(task, tmp_path / "eval.jsonl", lambda rows: rows[1]["choices"].__setitem__(0, "A new choice."))
    evaluate(cached, task=str(edited), **QUIET)
    new = scores(cached)
    assert new[1]["choices"][0]["base"] != old[1]["choices"][0]["base"]
    assert new[2] == old[2]  # the untouched items score the same
    smaller = tmp_path / "other" / "eval.jsonl"  # same file name, other content (4 items)
    smaller.parent.mkdir()
    smaller.write_text("".join(task.read_text().splitlines(keepends=True)[:4]))
    result = evaluate(cached, task=str(smaller), **QUIET)
    assert {r["n_items"] for r in result} == {4} and len(scores(cached)) == 4


def test_changing_the_precision_rescores(run_and_task, tmp_path: Path) -> None:
    run, task = run_and_task
    cached = fresh(run, tmp_path, "cached")
    fp32 = evaluate(cached, task=str(task), dtype="fp32", **QUIET)
    with pytest.warns(RuntimeWarning):
        bf16 = evaluate(cached, task=str(task), dtype="bf16", **QUIET)
    assert bf16[-1]["inputs"]["dtype"] == "bf16" and fp32[-1]["inputs"]["dtype"] == "fp32"
    assert read_json(next(cached.glob("eval/*/base_stats.json")))["dtype"] == "bf16"
    assert scores(cached)[0]["choices"][0]["base"] != 0  # scored, not copied
    again = evaluate(cached, task=str(task), **QUIET)  # auto = fp32: the fp32 numbers again
    assert [r["modes"] for r in again] == [r["modes"] for r in fp32]


def test_new_adapter_weights_rescore_that_checkpoint(run_and_task, tmp_path: Path) -> None:
    run, task = run_and_task
    cached = fresh(run, tmp_path, "cached")
    evaluate(cached, task=str(task), **QUIET)
    old = scores(cached)
    weights = cached / "checkpoints" / "N-8" / "neg" / "adapter_model.safetensors"
    state = load_file(str(weights))
    save_file({k: v * 3 for k, v in state.items()}, str(weights))
    evaluate(cached, task=str(task), **QUIET)
    new = scores(cached)
    assert [c["pos"] for r in new for c in r["choices"]] == [c["pos"] for r in old for c in r["choices"]]
    assert [c["neg"] for r in new for c in r["choices"]] != [c["neg"] for r in old for c in r["choices"]]


def test_new_model_weights_rescore_the_base(run_and_task, tmp_path: Path, tiny_model_dir: Path) -> None:
    run, task = run_and_task
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    cached = fresh(run, tmp_path, "cached")
    config = read_json(cached / "config.json")
    (cached / "config.json").write_text(json.dumps({**config, "model": str(model)}))
    evaluate(cached, task=str(task), checkpoints=["N-0"], **QUIET)
    before = model_digest(model)
    weights = model / "model.safetensors"
    state = load_file(str(weights))
    save_file({k: (v * 1.5 if v.is_floating_point() else v) for k, v in state.items()}, str(weights))
    assert model_digest(model) != before
    old = read_jsonl(next(cached.glob("eval/*/base.jsonl")))
    evaluate(cached, task=str(task), checkpoints=["N-0"], **QUIET)
    assert read_jsonl(next(cached.glob("eval/*/base.jsonl"))) != old


def test_items_digest_sees_content_not_order_of_keys() -> None:
    items = load_fixture("arc_easy_test")[:3]
    assert items_digest(items) == items_digest(list(items))
    assert items_digest(items) != items_digest(items[:2])
    assert items_digest(items) != items_digest(items[::-1])


def test_training_on_edited_data_is_refused_with_both_digests(run_and_task, tmp_path: Path) -> None:
    from likra.errors import LikraError

    run, _ = run_and_task
    config = read_json(run / "config.json")
    assert config["data"].startswith("sha256:")
    task = Path(config["task"])
    copy = fresh(run, tmp_path, "copy")
    edited = edit_task(task, tmp_path / "train.jsonl", lambda rows: rows[0].update(question="Edited?"))
    (copy / "config.json").write_text(json.dumps({**config, "task": str(edited)}))
    with pytest.raises(LikraError, match="trained on data with digest") as error:
        train(
            copy,
            model=config["model"],
            task=str(edited),
            max_questions=8,
            settings=TrainSettings(batch_size=4),
            progress=False,
            dtype="fp32",
        )
    assert config["data"][7:19] in str(error.value)
    # The same data resumes (a finished run returns its checkpoints).
    assert train(
        run,
        model=config["model"],
        task=config["task"],
        max_questions=8,
        settings=TrainSettings(batch_size=4),
        progress=False,
        dtype="fp32",
    ) == ["N-4", "N-8"]


# --- experiments: a complete experiment re-run after its inputs changed ---------------------------


def experiment_curve(exp: Path, train_file: Path, eval_file: Path, model: Path) -> Path:
    from likra.api import curve

    return curve(
        exp,
        str(train_file),
        [f"{eval_file}:test"],
        max_questions=4,
        model=str(model),
        seeds=(42,),
        batch_size=4,
        progress=False,
    )


@pytest.fixture
def experiment_files(tmp_path: Path, tiny_model_dir: Path) -> tuple[Path, Path, Path]:
    """A complete one-seed curve experiment of the tiny model, with its task files."""
    items = load_fixture("arc_easy_test") + load_fixture("arc_challenge_test")
    train_file = write_task_file(tmp_path / "train.jsonl", items[:8])
    eval_file = write_task_file(tmp_path / "eval.jsonl", items[8:16])
    exp = tmp_path / "exp"
    experiment_curve(exp, train_file, eval_file, tiny_model_dir)
    return exp, train_file, eval_file


@pytest.mark.parametrize(
    "change",
    [
        lambda rows: rows[0].update(answer=(rows[0]["answer"] + 1) % len(rows[0]["choices"])),
        lambda rows: rows[1]["choices"].__setitem__(0, "A new choice."),
    ],
    ids=["one-gold-answer", "one-choice"],
)
def test_a_complete_experiment_rerun_after_its_items_changed_gives_a_fresh_ones_numbers(
    experiment_files, tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture, change
) -> None:
    """Was: "experiment already complete: rebuilding the report only", from the old tables (a
    checked id list let the unconditional scores of an edited choice through as well)."""
    exp, train_file, eval_file = experiment_files
    edit_task(eval_file, eval_file, change)
    capsys.readouterr()
    experiment_curve(exp, train_file, eval_file, tiny_model_dir)
    assert "experiment complete, but its inputs changed since it completed (eval " in capsys.readouterr().out
    fresh = tmp_path / "fresh"
    experiment_curve(fresh, train_file, eval_file, tiny_model_dir)
    for name in ("report/curves.csv", "base/eval-test-0shot/uncond.jsonl", "base/eval-test-0shot/base.jsonl"):
        assert (exp / name).read_text() == (fresh / name).read_text(), name
    capsys.readouterr()
    experiment_curve(exp, train_file, eval_file, tiny_model_dir)  # unchanged since: the report only
    assert "experiment already complete: rebuilding the report only" in capsys.readouterr().out


def test_a_complete_experiment_rerun_on_other_training_data_is_refused(experiment_files, tiny_model_dir: Path) -> None:
    from likra.errors import LikraError

    exp, train_file, eval_file = experiment_files
    edit_task(train_file, train_file, lambda rows: [r.update(question=r["question"] + " (edited)") for r in rows])
    with pytest.raises(LikraError, match="this run was trained on data with digest"):
        experiment_curve(exp, train_file, eval_file, tiny_model_dir)
