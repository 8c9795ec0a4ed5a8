"""Training the two heads: they learn, checkpoints are standard peft, runs fail and resume safely.

Unit tests train the tiny random model (``conftest.tiny_model_dir``) for a few steps of 4
questions on ARC fixture items written as a user JSONL file; one integration test trains the
real SmolLM2-135M on 64 ARC questions, as the reference does (lr 1e-3, batch 32, ``first``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fixtures import load_fixture
from helpers import head_state
from likra.data.pairs import build_pairs
from likra.data.selection import load_items, training_items
from likra.errors import LikraError
from likra.io import read_json, read_jsonl
from likra.layout import eval_folder_name
from likra.metrics import MODES, all_metrics
from likra.model.heads import HEADS, attach_heads, load_head_weights, save_heads
from likra.model.load import load_base
from likra.rundir import read_manifest
from likra.score.evaluate import evaluate
from likra.score.scorer import score_items, score_requests
from likra.training import loop
from likra.training.loop import TrainSettings, complete_checkpoints
from likra.training.run import train

BATCH = 4
QUESTIONS = 20  # 5 steps: checkpoints after steps 1, 2, 4 and the last (N-4, N-8, N-16, N-20)
SETTINGS = TrainSettings(lr=1e-2, batch_size=BATCH)


@pytest.fixture(scope="module")
def arc_jsonl(tmp_path_factory) -> Path:
    """The ARC fixture items as a user data set (default context "Question: ...\\nAnswer:")."""
    path = tmp_path_factory.mktemp("data") / "arc.jsonl"
    items = load_fixture("arc_easy_test") + load_fixture("arc_challenge_test")
    with open(path, "w") as handle:
        for item in items:
            handle.write(
                json.dumps(
                    {"id": item.id, "question": item.question, "choices": list(item.choices), "answer": item.gold}
                )
                + "\n"
            )
    return path


def run_tiny(run_dir: Path, model_dir: Path, data: Path, settings: TrainSettings = SETTINGS, **kw) -> list[str]:
    return train(
        run_dir,
        model=str(model_dir),
        task=str(data),
        strategy="first",
        max_questions=QUESTIONS,
        settings=settings,
        progress=False,
        **kw,
    )


def trained_pairs(data: Path, settings: TrainSettings = SETTINGS, n: int = QUESTIONS):
    ordered = training_items(load_items(str(data), "train"), settings.seed, n)
    return build_pairs(ordered, "first", settings.seed)


def head_model(model_dir: Path, checkpoint: Path | None):
    """A fresh base with both heads attached; loaded from ``checkpoint`` unless None (B = 0)."""
    base = load_base(str(model_dir), device="cpu")
    peft_model = attach_heads(base.model)
    if checkpoint is not None:
        for head in HEADS:
            load_head_weights(peft_model, checkpoint / head, head)
    return base, peft_model


def scores_of(model, tokenizer, requests, variants):
    scores, _, _, _ = score_requests(model, tokenizer, requests, variants, progress=False)
    return scores


def adapter_tensors(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_model_dir, arc_jsonl) -> Path:
    """One completed tiny run, shared by the read-only tests below."""
    run_dir = tmp_path_factory.mktemp("run") / "run"
    run_tiny(run_dir, tiny_model_dir, arc_jsonl)
    return run_dir


def test_run_layout_log_and_manifest(tiny_run) -> None:
    assert complete_checkpoints(tiny_run) == ["N-4", "N-8", "N-16", "N-20"]
    for name in ("N-4", "N-8", "N-16", "N-20"):
        info = read_json(tiny_run / "checkpoints" / name / "checkpoint.json")
        assert info["questions"] == int(name[2:])
        for head in HEADS:
            assert (tiny_run / "checkpoints" / name / head / "adapter_config.json").exists()
    log = read_jsonl(tiny_run / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    assert [r["questions"] for r in log] == [4, 8, 12, 16, 20]
    for row in log:
        assert math.isfinite(row["pos_loss"]) and math.isfinite(row["neg_loss"])
        assert row["pos_loss"] > 0 and row["neg_loss"] > 0
        assert row["pos_answer_tokens"] > 0 and row["neg_answer_tokens"] > 0
    stage = read_manifest(tiny_run)["stages"]["train"]
    assert stage["status"] == "complete" and stage["total_steps"] == 5


def test_heads_learn_their_examples(tiny_run, tiny_model_dir, arc_jsonl) -> None:
    """pos raises the likelihood of the positives, neg that of the negatives (vs the base)."""
    pairs = trained_pairs(arc_jsonl)
    positives = [(p.positive.context, p.positive.answer) for p in pairs]
    negatives = [(n.context, n.answer) for p in pairs for n in p.negatives]
    base, model = head_model(tiny_model_dir, tiny_run / "checkpoints" / "N-20")
    pos = scores_of(model, base.tokenizer, positives, ("base", "pos"))
    neg = scores_of(model, base.tokenizer, negatives, ("base", "neg"))
    assert np.mean(pos["pos"]) > np.mean(pos["base"]) + 0.1
    assert np.mean(neg["neg"]) > np.mean(neg["base"]) + 0.1


def test_checkpoints_load_with_plain_peft(tiny_run, tiny_model_dir, arc_jsonl) -> None:
    from peft import PeftModel

    requests = [r for item in load_items(str(arc_jsonl), "x")[:6] for r in item.requests()]
    for name in ("N-4", "N-20"):
        base, model = head_model(tiny_model_dir, tiny_run / "checkpoints" / name)
        ours = scores_of(model, base.tokenizer, requests, ("base", "pos", "neg"))
        assert ours["pos"] != ours["base"] and ours["neg"] != ours["base"]
        for head in HEADS:
            plain = load_base(str(tiny_model_dir), device="cpu")
            peft_model = PeftModel.from_pretrained(plain.model, str(tiny_run / "checkpoints" / name / head))
            theirs = scores_of(peft_model, plain.tokenizer, requests, ("default",))
            assert theirs["default"] == pytest.approx(ours[head], abs=1e-6)


def test_evaluate_modes_and_untrained_ties(tiny_run, arc_jsonl) -> None:
    results = evaluate(
        tiny_run, task=str(arc_jsonl), split="test", checkpoints=["N-0", "N-20"], limit=10, progress=False
    )
    untrained, trained = results
    folder = tiny_run / "eval" / eval_folder_name(str(arc_jsonl), "test", 0, 10)
    first_choice_acc = np.mean([row["gold"] == 0 for row in read_jsonl(folder / "N-0" / "scores.jsonl")])
    for mode in ("likra", "neg-only", "pos-base"):
        assert untrained["modes"][mode]["ties"] == untrained["n_items"] == 10
        assert untrained["modes"][mode]["acc"] == pytest.approx(first_choice_acc)  # ties -> first choice
    rows = read_jsonl(folder / "N-20" / "scores.jsonl")
    for row in rows:
        for choice in row["choices"]:
            assert MODES["likra"](choice) == choice["pos"] - choice["neg"]
    predicted = [int(np.argmax([c["pos"] - c["neg"] for c in row["choices"]])) for row in rows]
    assert trained["modes"]["likra"]["acc"] == pytest.approx(np.mean([p == r["gold"] for p, r in zip(predicted, rows)]))
    assert trained["modes"]["likra"]["ties"] == 0


def test_fresh_heads_are_exactly_the_base(tiny_base) -> None:
    """Untrained LoRA (B = 0): pos = neg = base to the last bit, so every ratio ties at 0."""
    items = load_fixture("arc_easy_test")[:6] + load_fixture("winogrande_validation")[:4]
    model = attach_heads(tiny_base.model)
    rows, _ = score_items(model, tiny_base.tokenizer, items, ("base", "pos", "neg"), progress=False)
    for row in rows:
        for choice in row["choices"]:
            assert choice["pos"] == choice["base"] == choice["neg"]
    metrics = all_metrics(rows, ["likra", "neg-only", "pos-base", "base"])
    for mode in ("likra", "neg-only", "pos-base"):
        assert metrics[mode]["ties"] == len(items)
    assert metrics["base"]["ties"] < len(items)


def test_saved_and_reloaded_heads_score_identically(tiny_run, tiny_model_dir, tmp_path) -> None:
    requests = [r for item in load_fixture("hellaswag_validation")[:4] for r in item.requests()]
    base, model = head_model(tiny_model_dir, tiny_run / "checkpoints" / "N-16")
    before = scores_of(model, base.tokenizer, requests, ("pos", "neg"))
    save_heads(model, tmp_path / "copy")
    base2, model2 = head_model(tiny_model_dir, tmp_path / "copy")
    after = scores_of(model2, base2.tokenizer, requests, ("pos", "neg"))
    assert after == before
    for head in HEADS:
        saved, again = head_state(model, head), head_state(model2, head)
        assert saved.keys() == again.keys()
        assert all(torch.equal(saved[k], again[k]) for k in saved)


def test_rerun_of_completed_run_returns_without_loading(tiny_run, tiny_model_dir, arc_jsonl, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a completed run must not load the model or train")

    monkeypatch.setattr("likra.model.load.load_base", refuse)
    monkeypatch.setattr("likra.training.run.train_heads", refuse)
    assert run_tiny(tiny_run, tiny_model_dir, arc_jsonl) == ["N-4", "N-8", "N-16", "N-20"]


def test_changed_settings_on_existing_run_are_refused(tiny_run, tiny_model_dir, arc_jsonl) -> None:
    with pytest.raises(LikraError, match="different settings"):
        run_tiny(tiny_run, tiny_model_dir, arc_jsonl, settings=TrainSettings(lr=5e-3, batch_size=BATCH))


def test_same_seed_same_adapters(tiny_run, tiny_model_dir, arc_jsonl, tmp_path) -> None:
    """A run is determined by its settings: LoRA init included, whatever ran before in the process."""
    torch.manual_seed(1234)  # disturb the global RNG: must not matter
    run_tiny(tmp_path / "again", tiny_model_dir, arc_jsonl)
    for head in HEADS:
        a = adapter_tensors(tiny_run / "checkpoints" / "N-20" / head)
        b = adapter_tensors(tmp_path / "again" / "checkpoints" / "N-20" / head)
        assert a.keys() == b.keys()
        assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a)


def test_non_finite_loss_fails_run_and_keeps_last_good_checkpoint(
    tiny_model_dir, arc_jsonl, tmp_path, monkeypatch
) -> None:
    """Poison the neg head's log-probabilities at step 3 with NaN."""
    real = loop.target_logprobs
    poison = {"on": False}
    calls = {"pos": 0, "neg": 0}
    original_step = loop.HeadTrainer.step

    def step(self, examples):
        calls[self.name] += 1
        poison["on"] = self.name == "neg" and calls["neg"] == 3
        return original_step(self, examples)

    monkeypatch.setattr(loop, "target_logprobs", lambda m, b, d: real(m, b, d) * (math.nan if poison["on"] else 1.0))
    monkeypatch.setattr(loop.HeadTrainer, "step", step)
    run_dir = tmp_path / "run"
    with pytest.raises(LikraError, match=r"step 3.*neg.*N-8"):
        run_tiny(run_dir, tiny_model_dir, arc_jsonl)
    stage = read_manifest(run_dir)["stages"]["train"]
    assert stage["status"] == "failed"
    assert stage["failed_step"] == 3 and stage["last_good_checkpoint"] == "N-8"
    assert complete_checkpoints(run_dir) == ["N-4", "N-8"]
    assert [r["step"] for r in read_jsonl(run_dir / "train_log.jsonl")] == [1, 2]
    # the kept checkpoint is intact and finite
    _, model = head_model(tiny_model_dir, run_dir / "checkpoints" / "N-8")
    assert all(torch.isfinite(t).all() for h in HEADS for t in head_state(model, h).values())


def test_huge_learning_rate_diverges_cleanly(tiny_model_dir, arc_jsonl, tmp_path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(LikraError, match="diverged"):
        run_tiny(run_dir, tiny_model_dir, arc_jsonl, settings=TrainSettings(lr=1e6, batch_size=BATCH))
    stage = read_manifest(run_dir)["stages"]["train"]
    assert stage["status"] == "failed"
    kept = complete_checkpoints(run_dir)
    assert stage["last_good_checkpoint"] == (kept[-1] if kept else None)
    assert all(int(name[2:]) < stage["failed_step"] * BATCH for name in kept)


def test_resume_after_interruption_equals_uninterrupted_run(
    tiny_run, tiny_model_dir, arc_jsonl, tmp_path, monkeypatch
) -> None:
    """Kill the run in step 4 (resume state was last saved after step 2), then run it again."""
    original_step = loop.HeadTrainer.step
    calls = {"pos": 0, "neg": 0}

    def step(self, examples):
        calls[self.name] += 1
        if self.name == "pos" and calls["pos"] == 4:
            raise KeyboardInterrupt
        return original_step(self, examples)

    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(loop.HeadTrainer, "step", step)
        with pytest.raises(KeyboardInterrupt):
            run_tiny(run_dir, tiny_model_dir, arc_jsonl)
    assert read_json(run_dir / "resume" / "state.json")["step"] == 2
    assert [r["step"] for r in read_jsonl(run_dir / "train_log.jsonl")] == [1, 2, 3]
    assert complete_checkpoints(run_dir) == ["N-4", "N-8"]

    assert run_tiny(run_dir, tiny_model_dir, arc_jsonl) == ["N-4", "N-8", "N-16", "N-20"]
    log, reference_log = read_jsonl(run_dir / "train_log.jsonl"), read_jsonl(tiny_run / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    for a, b in zip(log, reference_log):
        assert a["pos_loss"] == pytest.approx(b["pos_loss"], abs=1e-6)
        assert a["neg_loss"] == pytest.approx(b["neg_loss"], abs=1e-6)
    for name in ("N-16", "N-20"):
        for head in HEADS:
            a = adapter_tensors(run_dir / "checkpoints" / name / head)
            b = adapter_tensors(tiny_run / "checkpoints" / name / head)
            assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a)
    assert read_manifest(run_dir)["stages"]["train"]["status"] == "complete"


def test_a_resumed_run_says_where_it_resumes(tiny_model_dir, arc_jsonl, tmp_path, monkeypatch, capsys) -> None:
    """One printed line (not tied to the progress bar): the step, N and the checkpoints done."""
    original_step = loop.HeadTrainer.step
    calls = {"pos": 0}

    def step(self, examples):
        calls[self.name] = calls.get(self.name, 0) + 1
        if self.name == "pos" and calls["pos"] == 4:
            raise KeyboardInterrupt  # in step 4; the resume state was saved after step 2
        return original_step(self, examples)

    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(loop.HeadTrainer, "step", step)
        with pytest.raises(KeyboardInterrupt):
            run_tiny(run_dir, tiny_model_dir, arc_jsonl)
    assert "resuming" not in capsys.readouterr().out  # a fresh start says nothing
    run_tiny(run_dir, tiny_model_dir, arc_jsonl)
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("resuming")]
    assert said == ["resuming after step 2 of 5 (8 questions trained; 2 of 4 checkpoints done, the last N-8)"]


def test_resume_note_counts_checkpoints_across_epochs() -> None:
    # 10 questions, batch 4, 2 epochs of 3 steps; N after each step as the loop names its checkpoints.
    questions_at = {1: 4, 2: 8, 3: 10, 4: 16, 5: 20, 6: 22}.__getitem__
    note = loop.resume_note(3, 6, questions_at, ["N-4", "N-8"])
    assert note == "resuming after step 3 of 6 (10 questions trained; 2 of 4 checkpoints done, the last N-8)"
    assert [loop._questions_after(s, 10, 4) for s in range(1, 7)] == [4, 8, 10, 16, 20, 22]
    assert loop.resume_note(1, 6, questions_at, []).endswith("(4 questions trained; 0 of 4 checkpoints done)")


@pytest.mark.integration
def test_real_model_64_arc_questions(real_base, tmp_path) -> None:
    """SmolLM2-135M, 64 ARC training questions, lr 1e-3, batch 32, first wrong choice."""
    from peft import PeftModel

    settings = TrainSettings(lr=1e-3)
    run_dir = tmp_path / "run"
    checkpoints = train(
        run_dir,
        model="smollm2-135m",
        task="arc",
        split="train",
        strategy="first",
        max_questions=64,
        settings=settings,
        progress=False,
        loaded=real_base,
    )
    assert checkpoints == ["N-32", "N-64"]
    log = read_jsonl(run_dir / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2]
    assert all(math.isfinite(r["pos_loss"]) and math.isfinite(r["neg_loss"]) for r in log)

    # The heads learned what they were shown (means over the 64 trained examples each).
    ordered = training_items(load_items("arc", "train"), settings.seed, 64)
    pairs = build_pairs(ordered, "first", settings.seed)
    positives = [(p.positive.context, p.positive.answer) for p in pairs]
    negatives = [(p.negatives[0].context, p.negatives[0].answer) for p in pairs]
    tokenizer = real_base.tokenizer
    model = attach_heads(real_base.model)
    try:
        fresh = scores_of(model, tokenizer, positives[:16], ("base", "pos", "neg"))
        assert fresh["pos"] == fresh["base"] == fresh["neg"]  # B = 0 heads through peft: exactly base
        for head in HEADS:
            load_head_weights(model, run_dir / "checkpoints" / "N-64" / head, head)
        pos = scores_of(model, tokenizer, positives, ("base", "pos"))
        neg = scores_of(model, tokenizer, negatives, ("base", "neg"))
        ours = {"N-64": scores_of(model, tokenizer, positives[:8], HEADS)}
        for head in HEADS:
            load_head_weights(model, run_dir / "checkpoints" / "N-32" / head, head)
        ours["N-32"] = scores_of(model, tokenizer, positives[:8], HEADS)
    finally:
        model.unload()
    assert np.mean(pos["pos"]) > np.mean(pos["base"])
    assert np.mean(neg["neg"]) > np.mean(neg["base"])

    # Each checkpoint's heads load with plain peft and score as likra's loader does.
    for name in ("N-32", "N-64"):
        for head in HEADS:
            peft_model = PeftModel.from_pretrained(real_base.model, str(run_dir / "checkpoints" / name / head))
            try:
                theirs = scores_of(peft_model, tokenizer, positives[:8], ("default",))["default"]
            finally:
                peft_model.unload()
            assert theirs == pytest.approx(ours[name][head], abs=1e-5)

    # Evaluation: untrained heads tie everything; likra = pos - neg for the trained ones.
    untrained, trained = evaluate(
        run_dir,
        task="arc_challenge",
        split="test",
        checkpoints=["N-0", "N-64"],
        limit=20,
        progress=False,
        loaded=real_base,
    )
    for mode in ("likra", "neg-only", "pos-base"):
        assert untrained["modes"][mode]["ties"] == untrained["n_items"] == 20
    assert trained["modes"]["likra"]["ties"] == 0
    assert read_manifest(run_dir)["stages"]["train"]["status"] == "complete"


def test_every_optimiser_step_of_every_head_returns_freed_memory(
    tiny_model_dir, arc_jsonl, tmp_path, monkeypatch
) -> None:
    # Without it resident memory grew with N (docs/notes/memory_vs_n_malloc_trim_intel-amx_2026-11-30.json).
    calls = []
    monkeypatch.setattr(loop, "release_freed_memory", lambda: calls.append(1) or True)
    run_tiny(tmp_path / "run", tiny_model_dir, arc_jsonl)
    steps = len(read_jsonl(tmp_path / "run" / "train_log.jsonl"))
    assert steps == math.ceil(QUESTIONS / BATCH)
    assert len(calls) == 2 * steps  # the pos and the neg head


def test_training_without_activation_checkpointing_gives_the_same_heads(tiny_model_dir, arc_jsonl, tmp_path, cli):
    common = ("--model", tiny_model_dir, "--task", arc_jsonl, "--max-questions", "8", "--batch-size", "4", "--quiet")
    assert cli("train", tmp_path / "kept", *common)[0] == 0
    assert cli("train", tmp_path / "recomputed", "--no-activation-checkpointing", *common)[0] == 0
    assert read_json(tmp_path / "kept" / "config.json")["train"]["activation_checkpointing"] is True
    assert read_json(tmp_path / "recomputed" / "config.json")["train"]["activation_checkpointing"] is False
    for head in HEADS:
        kept = adapter_tensors(tmp_path / "kept" / "checkpoints" / "N-8" / head)
        other = adapter_tensors(tmp_path / "recomputed" / "checkpoints" / "N-8" / head)
        assert kept.keys() == other.keys()
        changed = max(float((kept[k] - other[k]).abs().max()) for k in kept)
        assert changed < 1e-6, f"{head}: adapters differ by {changed}"
        assert max(float(t.abs().max()) for t in kept.values()) > 0  # trained, not all-zero
