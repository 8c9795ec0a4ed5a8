"""The other ways to learn from negatives: sft, unlikelihood (likra's loop), DPO and KTO (TRL's).

All train the tiny random model on the same ARC fixture questions, negatives, batches and
checkpoint schedule as likra; every checkpoint is a plain peft adapter scored by the same packed
scorer (modes ``<method>`` and ``<method>-ratio``).
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import head_state
from likra.data.pairs import Example
from likra.errors import LikraError
from likra.io import read_json, read_jsonl
from likra.lm.packing import Group, build_batch, plan_rows
from likra.lm.tokenize import encode_requests
from likra.methods import METHODS, method_heads
from likra.metrics import all_metrics
from likra.model.heads import attach_heads, load_head_weights
from likra.model.load import load_base
from likra.score.evaluate import evaluate
from likra.training import loop
from likra.training.loop import LossTerm, TrainSettings, complete_checkpoints, unlikelihood_token_loss
from likra.training.preference import PreferenceSettings, preference_micro_batch, preference_rows
from likra.training.presets import default_lr
from test_training import QUESTIONS, SETTINGS, arc_jsonl, run_tiny, trained_pairs  # noqa: F401

EXPECTED_CHECKPOINTS = ["N-4", "N-8", "N-16", "N-20"]


def adapter_logprobs(peft_model, tokenizer, examples: list[Example], adapter: str | None) -> torch.Tensor:
    """Summed answer log-probability of each example, under ``adapter`` (None: the base model)."""
    encoded = encode_requests(tokenizer, [(e.context, e.answer) for e in examples], 512)
    groups = [Group(prefix=e.context, branches=[e.continuation], keys=[i]) for i, e in enumerate(encoded)]
    batch = build_batch(plan_rows(groups, 10_000), tokenizer.pad_token_id or 0, torch.float32)
    with torch.no_grad():
        if adapter is None:
            with peft_model.disable_adapter():
                per_token = loop.target_logprobs(peft_model, batch, torch.device("cpu"))
        else:
            peft_model.set_adapter(adapter)
            per_token = loop.target_logprobs(peft_model, batch, torch.device("cpu"))
    owner = batch.target_keys.long()
    return torch.zeros(len(examples)).index_add_(0, owner, per_token)


def test_every_method_has_its_heads():
    assert method_heads("likra") == ("pos", "neg")
    assert method_heads("sft") == ("pos",)
    for method in ("unlikelihood", "dpo", "kto"):
        assert method_heads(method) == (method,)
    with pytest.raises(LikraError, match="unknown training method"):
        method_heads("ppo")


def test_a_new_method_is_one_table_entry_plus_its_loss(tmp_path, tiny_model_dir, arc_jsonl, monkeypatch):  # noqa: F811
    """What docs/design.md promises: a method is an entry in likra.methods plus its loss; training,
    checkpoints, scoring and its modes follow. (At import the modes are derived from the table; a
    method added at run time derives them with add_method_modes.)"""
    from likra import methods, metrics
    from likra.training import loop

    entry = methods.Method("gold-only", ("gold-only",), methods.LOOP, 1e-3, ("gold-only", "gold-only-ratio"))
    monkeypatch.setitem(methods.METHODS, entry.name, entry)
    monkeypatch.setitem(loop.HEAD_LOSSES, entry.name, lambda pos, neg, alpha: {"gold-only": [loop.LossTerm(pos)]})
    for table in (metrics.MODES, metrics.MODE_NEEDS):
        monkeypatch.setattr(metrics, "MODES" if table is metrics.MODES else "MODE_NEEDS", dict(table))
    metrics.add_method_modes(entry)

    run = tmp_path / "gold-only"
    assert run_tiny(run, tiny_model_dir, arc_jsonl, method="gold-only") == EXPECTED_CHECKPOINTS
    assert json.loads((run / "config.json").read_text())["method"] == "gold-only"
    results = evaluate(run, task=str(arc_jsonl), split="train", checkpoints=["N-0", "N-20"], progress=False)
    assert {"base", "gold-only", "gold-only-ratio"} <= set(results[-1]["modes"])
    assert results[0]["modes"]["gold-only"]["acc"] == results[0]["modes"]["base"]["acc"]  # B = 0 untrained


def test_unlikelihood_token_loss_is_minus_log_one_minus_p():
    logprobs = torch.log(torch.tensor([0.1, 0.5, 0.9]))
    expected = -torch.log(1 - torch.tensor([0.1, 0.5, 0.9]))
    assert torch.allclose(unlikelihood_token_loss(logprobs), expected, atol=1e-6)
    assert torch.isfinite(unlikelihood_token_loss(torch.zeros(1))).all()  # p = 1: large but finite


@pytest.mark.parametrize("method", ["sft", "unlikelihood", "dpo", "kto"])
def test_method_checkpoints_are_plain_peft_and_scored(method, tmp_path, tiny_model_dir, arc_jsonl):  # noqa: F811
    from peft import PeftModel

    run = tmp_path / method
    checkpoints = run_tiny(run, tiny_model_dir, arc_jsonl, method=method)
    assert checkpoints == EXPECTED_CHECKPOINTS
    assert complete_checkpoints(run, method) == EXPECTED_CHECKPOINTS
    log = read_jsonl(run / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    assert [r["questions"] for r in log] == [4, 8, 12, 16, 20]
    head = method_heads(method)[0]
    assert all(math.isfinite(r[f"{method if method != 'sft' else 'pos'}_loss"]) for r in log)
    base = load_base(str(tiny_model_dir), device="cpu")
    adapter = PeftModel.from_pretrained(base.model, run / "checkpoints" / "N-20" / head)
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in adapter.named_parameters())
    adapter.unload()
    results = evaluate(run, task=str(arc_jsonl), split="train", checkpoints=["N-0", "N-20"], progress=False)
    modes = results[-1]["modes"]
    if method == "sft":
        assert {"sft", "pos-base"} <= set(modes) and "likra" not in modes
    else:
        assert {method, f"{method}-ratio", "base"} <= set(modes) and "sft" not in modes
        untrained = results[0]["modes"][f"{method}-ratio"]
        assert untrained["ties"] == results[0]["n_items"]  # B = 0: every ratio is exactly 0
        assert results[0]["modes"][method]["acc"] == results[0]["modes"]["base"]["acc"]
    rows = read_jsonl(run / "eval" / f"{arc_jsonl.stem}-train-0shot" / "N-20" / "scores.jsonl")
    assert set(rows[0]["choices"][0]) >= {"base", head}
    assert all_metrics(rows)  # the table is complete


def test_dpo_starts_at_log_2_and_learns_a_positive_margin(tmp_path, tiny_model_dir, arc_jsonl):  # noqa: F811
    run = tmp_path / "dpo"
    run_tiny(run, tiny_model_dir, arc_jsonl, method="dpo", settings=TrainSettings(lr=5e-2, batch_size=4))
    log = read_jsonl(run / "train_log.jsonl")
    # Step 1's loss is computed before any update: policy = reference, so -log sigmoid(0) = log 2.
    assert log[0]["dpo_loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert log[0]["rewards_margins"] == pytest.approx(0.0, abs=1e-5)
    # After training, the implicit reward margin on the trained pairs is positive.
    base = load_base(str(tiny_model_dir), device="cpu")
    peft_model = attach_heads(base.model, names=("dpo",))
    load_head_weights(peft_model, run / "checkpoints" / "N-20" / "dpo", "dpo")
    pairs = trained_pairs(arc_jsonl)
    chosen = [q.positive for q in pairs]
    rejected = [q.negatives[0] for q in pairs]
    margin = (
        adapter_logprobs(peft_model, base.tokenizer, chosen, "dpo")
        - adapter_logprobs(peft_model, base.tokenizer, chosen, None)
        - adapter_logprobs(peft_model, base.tokenizer, rejected, "dpo")
        + adapter_logprobs(peft_model, base.tokenizer, rejected, None)
    )
    assert margin.mean() > 0.05
    assert (margin > 0).float().mean() >= 0.75


def test_kto_starts_at_half_and_moves_the_right_way(tmp_path, tiny_model_dir, arc_jsonl):  # noqa: F811
    run = tmp_path / "kto"
    run_tiny(run, tiny_model_dir, arc_jsonl, method="kto", settings=TrainSettings(lr=5e-2, batch_size=4))
    log = read_jsonl(run / "train_log.jsonl")
    # KTO's loss at policy = reference: 1 - sigmoid(beta * (0 - KL)) with KL = 0, i.e. 0.5 per example.
    assert log[0]["kto_loss"] == pytest.approx(0.5, abs=1e-4)
    base = load_base(str(tiny_model_dir), device="cpu")
    peft_model = attach_heads(base.model, names=("kto",))
    load_head_weights(peft_model, run / "checkpoints" / "N-20" / "kto", "kto")
    pairs = trained_pairs(arc_jsonl)
    chosen, rejected = [q.positive for q in pairs], [q.negatives[0] for q in pairs]
    gold_shift = adapter_logprobs(peft_model, base.tokenizer, chosen, "kto") - adapter_logprobs(
        peft_model, base.tokenizer, chosen, None
    )
    wrong_shift = adapter_logprobs(peft_model, base.tokenizer, rejected, "kto") - adapter_logprobs(
        peft_model, base.tokenizer, rejected, None
    )
    assert (gold_shift - wrong_shift).mean() > 0.05


def test_unlikelihood_lowers_the_negative_and_nothing_else_more_than_ce(tmp_path, tiny_model_dir, arc_jsonl):  # noqa: F811
    """Same questions, same init: CE alone (sft) vs CE + unlikelihood. The UL term must lower the
    trained negatives' log-likelihood, and must not raise the gold answers' by more than CE does.

    The tiny random model gives every token p ~ 1/512, where -log(1 - p) ~ p has a gradient ~ p:
    a large alpha makes the term as strong as it is on a trained model's plausible tokens."""
    settings = TrainSettings(lr=5e-2, batch_size=4)
    sft_run, ul_run = tmp_path / "sft", tmp_path / "ul"
    run_tiny(sft_run, tiny_model_dir, arc_jsonl, method="sft", settings=settings)
    run_tiny(
        ul_run,
        tiny_model_dir,
        arc_jsonl,
        method="unlikelihood",
        settings=TrainSettings(lr=5e-2, batch_size=4, unlikelihood_alpha=300.0),
    )
    base = load_base(str(tiny_model_dir), device="cpu")
    peft_model = attach_heads(base.model, names=("pos", "unlikelihood"))
    load_head_weights(peft_model, sft_run / "checkpoints" / "N-20" / "pos", "pos")
    load_head_weights(peft_model, ul_run / "checkpoints" / "N-20" / "unlikelihood", "unlikelihood")
    pairs = trained_pairs(arc_jsonl)
    chosen, rejected = [q.positive for q in pairs], [q.negatives[0] for q in pairs]
    tokens = base.tokenizer

    def shift(examples, adapter):
        return adapter_logprobs(peft_model, tokens, examples, adapter) - adapter_logprobs(
            peft_model, tokens, examples, None
        )

    assert (shift(rejected, "unlikelihood") - shift(rejected, "pos")).mean() < -0.1
    assert shift(chosen, "unlikelihood").mean() <= shift(chosen, "pos").mean() + 0.05
    # With alpha = 0 the unlikelihood method is exactly CE: its weights equal sft's.
    zero = tmp_path / "ul0"
    run_tiny(
        zero,
        tiny_model_dir,
        arc_jsonl,
        method="unlikelihood",
        settings=TrainSettings(lr=5e-2, batch_size=4, unlikelihood_alpha=0.0),
    )
    load_head_weights(peft_model, zero / "checkpoints" / "N-20" / "unlikelihood", "unlikelihood")
    a, b = head_state(peft_model, "pos"), head_state(peft_model, "unlikelihood")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


@pytest.mark.parametrize("method", ["sft", "unlikelihood"])
def test_own_loop_methods_resume_exactly(method, tmp_path, tiny_model_dir, arc_jsonl, monkeypatch):  # noqa: F811
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    run_tiny(whole, tiny_model_dir, arc_jsonl, method=method)
    real_step = loop.HeadTrainer.step
    calls = {"n": 0}

    def dying_step(self, terms):
        calls["n"] += 1
        if calls["n"] == 4:  # one head per method: the 4th step
            raise KeyboardInterrupt
        return real_step(self, terms)

    monkeypatch.setattr(loop.HeadTrainer, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        run_tiny(broken, tiny_model_dir, arc_jsonl, method=method)
    monkeypatch.setattr(loop.HeadTrainer, "step", real_step)
    run_tiny(broken, tiny_model_dir, arc_jsonl, method=method)
    head = method_heads(method)[0]
    base = load_base(str(tiny_model_dir), device="cpu")
    peft_model = attach_heads(base.model, names=("a", "b"))
    load_head_weights(peft_model, whole / "checkpoints" / "N-20" / head, "a")
    load_head_weights(peft_model, broken / "checkpoints" / "N-20" / head, "b")
    a, b = head_state(peft_model, "a"), head_state(peft_model, "b")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6


@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_preference_methods_resume_from_trl_state(method, tmp_path, tiny_model_dir, arc_jsonl):  # noqa: F811
    """Kill after step 3 (the resume point is step 2's), resume: the final adapter equals an
    uninterrupted run's as closely as TRL's own resume allows (measured: within 1e-6 here)."""
    from transformers import TrainerCallback

    from likra.training import preference

    whole, broken = tmp_path / "whole", tmp_path / "broken"
    run_tiny(whole, tiny_model_dir, arc_jsonl, method=method)

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt

    original = preference._CheckpointWriter.on_step_end

    def writer_then_kill(self, args, state, control, **kwargs):
        original(self, args, state, control, **kwargs)
        Kill().on_step_end(args, state, control, **kwargs)

    preference._CheckpointWriter.on_step_end = writer_then_kill
    try:
        with pytest.raises(KeyboardInterrupt):
            run_tiny(broken, tiny_model_dir, arc_jsonl, method=method)
    finally:
        preference._CheckpointWriter.on_step_end = original
    assert (broken / "trainer-state").is_dir()
    # The experiment's plan counts the two steps done (its ETA does not start the run over).
    from likra.experiments.planner import steps_done as _steps_done
    from likra.layout import RunLayout

    assert _steps_done(RunLayout(broken)) == 2
    run_tiny(broken, tiny_model_dir, arc_jsonl, method=method)
    assert not (broken / "trainer-state").exists()  # finished runs drop the optimiser state
    assert [r["step"] for r in read_jsonl(broken / "train_log.jsonl")] == [1, 2, 3, 4, 5]
    base = load_base(str(tiny_model_dir), device="cpu")
    peft_model = attach_heads(base.model, names=("a", "b"))
    load_head_weights(peft_model, whole / "checkpoints" / "N-20" / method, "a")
    load_head_weights(peft_model, broken / "checkpoints" / "N-20" / method, "b")
    a, b = head_state(peft_model, "a"), head_state(peft_model, "b")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6


def test_preference_run_resumes_past_incomplete_trainer_checkpoints(tmp_path, tiny_model_dir, arc_jsonl, capsys):  # noqa: F811
    """A kill while transformers saves ``trainer-state/checkpoint-K/`` leaves it empty or
    half-written; the re-run skips and removes it and resumes from the newest complete one (or
    starts over) instead of failing with "Can't find a valid checkpoint"."""
    from likra.training import preference

    run = tmp_path / "run"
    original = preference._CheckpointWriter.on_step_end

    def writer_then_kill(self, args, state, control, **kwargs):
        original(self, args, state, control, **kwargs)
        if state.global_step == 3:
            raise KeyboardInterrupt

    preference._CheckpointWriter.on_step_end = writer_then_kill
    try:
        with pytest.raises(KeyboardInterrupt):
            run_tiny(run, tiny_model_dir, arc_jsonl, method="dpo")
    finally:
        preference._CheckpointWriter.on_step_end = original
    state = run / "trainer-state"
    assert sorted(p.name for p in state.glob("checkpoint-*")) == ["checkpoint-2"]
    (state / "checkpoint-4").mkdir()  # killed as the folder was made
    (state / "checkpoint-3").mkdir()  # killed while writing trainer_state.json, which comes last
    shutil.copy(state / "checkpoint-2" / "adapter_model.safetensors", state / "checkpoint-3")
    (state / "checkpoint-3" / "trainer_state.json").write_text('{"global_step": 3, "log_hi')
    for step, damaged in ((5, "optimizer.pt"), (6, "adapter_model.safetensors")):  # every file there, one cut short
        shutil.copytree(state / "checkpoint-2", state / f"checkpoint-{step}")
        path = state / f"checkpoint-{step}" / damaged
        path.write_bytes(path.read_bytes()[: path.stat().st_size - 64])
    assert preference.resume_checkpoint(state) == str(state / "checkpoint-2")
    logged = (run / "train_log.jsonl").read_text().splitlines()

    capsys.readouterr()
    assert run_tiny(run, tiny_model_dir, arc_jsonl, method="dpo") == EXPECTED_CHECKPOINTS
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("resuming")]
    assert said == ["resuming after step 2 of 5 (8 questions trained; 2 of 4 checkpoints done, the last N-8)"]
    rows = (run / "train_log.jsonl").read_text().splitlines()
    assert rows[:2] == logged[:2]  # resumed after step 2: steps 1-2 are not redone
    assert [json.loads(r)["step"] for r in rows] == [1, 2, 3, 4, 5]

    fresh = tmp_path / "fresh"
    (fresh / "trainer-state" / "checkpoint-1").mkdir(parents=True)  # killed during the first save
    assert run_tiny(fresh, tiny_model_dir, arc_jsonl, method="dpo") == EXPECTED_CHECKPOINTS


def test_preference_rows_pair_each_negative_with_the_gold(arc_jsonl):  # noqa: F811
    pairs = trained_pairs(arc_jsonl, n=3)
    rows, per_question = preference_rows("dpo", pairs)
    assert per_question == 1 and len(rows) == 3
    assert rows[0] == {
        "prompt": pairs[0].positive.context,
        "chosen": pairs[0].positive.answer,
        "rejected": pairs[0].negatives[0].answer,
    }
    rows, per_question = preference_rows("kto", pairs)
    assert per_question == 2 and [r["label"] for r in rows] == [True, False] * 3


def test_uneven_negatives_are_refused_for_preference_methods():
    from likra.data.pairs import QuestionExamples

    gold = Example("Question: q\nAnswer:", " a")
    pairs = [
        QuestionExamples("1", gold, (Example(gold.context, " b"), Example(gold.context, " c"))),
        QuestionExamples("2", gold, (Example(gold.context, " b"),)),
    ]
    for method in ("dpo", "kto"):
        with pytest.raises(LikraError, match="same number of negatives"):
            preference_rows(method, pairs)


def test_a_likra_run_config_is_unchanged_by_methods(tmp_path, tiny_model_dir, arc_jsonl):  # noqa: F811
    run_tiny(tmp_path / "likra", tiny_model_dir, arc_jsonl)
    config = read_json(tmp_path / "likra" / "config.json")
    assert "method" not in config and "unlikelihood_alpha" not in config["train"]
    run_tiny(tmp_path / "ul", tiny_model_dir, arc_jsonl, method="unlikelihood")
    assert read_json(tmp_path / "ul" / "config.json")["method"] == "unlikelihood"
    assert set(METHODS) == {"likra", "sft", "unlikelihood", "dpo", "kto"}
    assert PreferenceSettings().beta == 0.1
    shutil.rmtree(tmp_path / "ul")


def test_loss_terms_default_to_cross_entropy():
    term = LossTerm([Example("Q", " a")])
    assert term.kind == "ce" and term.weight == 1.0


@pytest.mark.parametrize("method", ["dpo", "unlikelihood"])
def test_the_shared_base_model_comes_back_unchanged(method, tmp_path, tiny_model_dir, arc_jsonl):  # noqa: F811
    """Experiments reuse one loaded base model for every run: after training any method it must
    score exactly as before (no adapter left, eval mode, no activation checkpointing)."""
    from likra.data.selection import load_items
    from likra.score.scorer import score_items

    base = load_base(str(tiny_model_dir), device="cpu")
    items = load_items(str(arc_jsonl), "train")[:6]
    before, _ = score_items(base.model, base.tokenizer, items, ("base",), max_length=512, progress=False)
    run_tiny(tmp_path / method, tiny_model_dir, arc_jsonl, method=method, loaded=base)
    assert not any("lora_" in name for name, _ in base.model.named_parameters())
    assert not base.model.training
    after, _ = score_items(base.model, base.tokenizer, items, ("base",), max_length=512, progress=False)
    assert after == before


def test_cli_trains_a_method_and_applies_the_reference_preset(cli, tmp_path, tiny_model_dir, arc_jsonl):  # noqa: F811
    common = ["--model", tiny_model_dir, "--task", arc_jsonl, "--quiet", "--dtype", "fp32"]
    code, out, err = cli(
        "train", tmp_path / "ul", "--method", "unlikelihood", "--max-questions", "8", "--batch-size", "4", *common
    )
    assert code == 0, err
    assert "N-4, N-8" in out
    config = read_json(tmp_path / "ul" / "config.json")
    assert config["method"] == "unlikelihood" and config["train"]["lr"] == pytest.approx(default_lr("unlikelihood"))
    code, out, err = cli(
        "train", tmp_path / "ref", "--method", "dpo", "--preset", "reference", "--max-questions", "4", *common
    )
    assert code == 0, err
    config = read_json(tmp_path / "ref" / "config.json")
    assert config["lora"]["r"] == 16 and len(config["lora"]["target_modules"]) == 7
    assert config["train"]["lr"] == 5e-5 and config["train"]["epochs"] == 3 and config["train"]["batch_size"] == 4
    assert config["preference"] == {"beta": 0.1, "lr_scheduler": "cosine"}
    assert [r["step"] for r in read_jsonl(tmp_path / "ref" / "train_log.jsonl")] == [1, 2, 3]
    code, _, err = cli("train", tmp_path / "bad", "--method", "sft", "--preset", "reference", *common)
    assert code != 0 and "preset" in err and "dpo or kto" in err
    code, _, err = cli("train", tmp_path / "bad", "--method", "ppo", *common)
    assert code != 0 and "method" in err


@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_lean_trl_on_cpu_trains_as_trls_own_path(method, tmp_path, tiny_model_dir, arc_jsonl, monkeypatch):  # noqa: F811
    """likra adjusts TRL on CPU (completion positions only, narrower vocabulary tiles, a model
    fingerprint without copies): the losses, reward margins and adapter weights equal TRL's own
    path within float rounding, and TRL's module is restored afterwards."""
    import trl.trainer.dpo_trainer as trl_dpo
    import trl.trainer.utils as trl_utils
    from safetensors.torch import load_file

    from likra.training import preference

    originals = (trl_utils._use_triton, trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE, trl_dpo.hash_module)
    assert originals[0](torch.device("cpu")) is False  # TRL's own choice on this machine: every position
    # The tiny vocabulary (512) spans six tiles of 100 columns, so the tiling is exercised too.
    monkeypatch.setattr(preference, "CPU_LM_HEAD_COLUMNS", 100)
    tiles = []
    real_apply = trl_utils._ChunkedLogProbFunction.apply
    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply", lambda *a: tiles.append(a[5]) or real_apply(*a))
    settings = TrainSettings(lr=1e-2, batch_size=4)
    run_tiny(tmp_path / "lean", tiny_model_dir, arc_jsonl, method=method, settings=settings)
    assert set(tiles) == {100}
    assert (trl_utils._use_triton, trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE, trl_dpo.hash_module) == originals

    monkeypatch.setattr(preference, "lean_trl_on_cpu", contextlib.nullcontext)
    tiles.clear()
    run_tiny(tmp_path / "trl", tiny_model_dir, arc_jsonl, method=method, settings=settings)
    assert set(tiles) == {originals[1]}
    lean, trl = (read_jsonl(tmp_path / name / "train_log.jsonl") for name in ("lean", "trl"))
    assert len(lean) == len(trl) == 5  # 20 questions, 4 a step
    # Equal at step 1; then float rounding (gradients agree to ~1e-6 relative), which Adam's
    # normalisation amplifies in the weights whose gradients are near zero.
    assert lean[0][f"{method}_loss"] == pytest.approx(trl[0][f"{method}_loss"], abs=1e-6)
    for mine, theirs in zip(lean, trl, strict=True):
        assert mine[f"{method}_loss"] == pytest.approx(theirs[f"{method}_loss"], abs=5e-5)
        for key in ("rewards_margins", "kl"):
            if key in theirs:
                assert mine[key] == pytest.approx(theirs[key], abs=1e-4)
    for name in EXPECTED_CHECKPOINTS:
        mine = load_file(tmp_path / "lean" / "checkpoints" / name / method / "adapter_model.safetensors")
        theirs = load_file(tmp_path / "trl" / "checkpoints" / name / method / "adapter_model.safetensors")
        for key, value in theirs.items():
            torch.testing.assert_close(mine[key], value, atol=1e-3, rtol=1e-2)


def test_lean_trl_narrows_the_lm_head_tiles_on_cpu_only():
    import trl.trainer.utils as trl_utils

    from likra.training.preference import CPU_LM_HEAD_COLUMNS, lean_trl_on_cpu

    trls = trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE
    with lean_trl_on_cpu(torch.device("cpu")):
        assert trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE == CPU_LM_HEAD_COLUMNS < trls
    with lean_trl_on_cpu(torch.device("cuda")):  # TRL's Triton kernel keeps its own width
        assert trls == trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE
        assert trl_utils._use_triton(torch.device("cpu"))  # completion positions only, as on CUDA
    assert trls == trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_weights_fingerprint_changes_with_any_weight_and_copies_nothing(dtype):
    from likra.testing import tiny_model
    from likra.training.preference import weights_fingerprint

    model = tiny_model(vocab_size=64).to(dtype)
    twin = tiny_model(vocab_size=64).to(dtype)
    assert weights_fingerprint(model) == weights_fingerprint(twin)
    weight = dict(twin.named_parameters())["model.layers.1.mlp.down_proj.weight"]
    with torch.no_grad():
        weight[3, 5] = torch.nextafter(weight[3, 5], torch.tensor(float("inf"), dtype=dtype))  # one ulp
    assert weights_fingerprint(model) != weights_fingerprint(twin)
    assert weights_fingerprint(model) != weights_fingerprint(tiny_model(vocab_size=64).to(torch.float16))


def test_dpo_micro_batches_fit_the_token_budget():
    # 4 rows a step: 2 rows of at most 50 tokens fit 100; the longest row alone does not fit 100.
    assert preference_micro_batch([50, 40, 30, 20], per_step=4, batch_tokens=100) == 2
    assert preference_micro_batch([50, 40, 30, 20], per_step=4, batch_tokens=200) == 4
    assert preference_micro_batch([150, 40, 30, 20], per_step=4, batch_tokens=100) == 1
    # A divisor of the step: 6 rows a step never split into micro-batches of 4.
    assert preference_micro_batch([10] * 12, per_step=6, batch_tokens=40) == 3


@given(
    st.lists(st.integers(1, 300), min_size=1, max_size=60),
    st.integers(1, 24),
    st.integers(1, 4000),
)
def test_dpo_micro_batch_is_the_largest_step_divisor_that_fits(row_tokens, per_step, budget):
    rows = preference_micro_batch(row_tokens, per_step, budget)

    def fits(m: int) -> bool:
        return all(
            len(row_tokens[i : i + m]) * max(row_tokens[i : i + m]) <= budget for i in range(0, len(row_tokens), m)
        )

    assert per_step % rows == 0
    assert rows == 1 or fits(rows)
    assert not any(fits(m) for m in range(rows + 1, per_step + 1) if per_step % m == 0)


def test_dpo_in_micro_batches_trains_as_in_whole_steps(tmp_path, tiny_model_dir, arc_jsonl, monkeypatch):  # noqa: F811
    """DPO's step split into micro-batches (gradient accumulation, to bound memory) trains as the
    whole step: the same first gradient, steps, losses, reward margins and adapter weights.

    In float64 the first step's gradients agree to 1e-8 (float32 rounding of a near-zero gradient
    moves a weight by up to the learning rate at Adam's first, sign-like step). Not exactly: TRL
    caches the reference log-probabilities in float32, computed in batches of each arm's rows, so
    they match bit for bit on one CPU (Intel Xeon) and by float32 rounding on another (AMD EPYC:
    gradients 1.3e-10 apart). Later steps agree to 1e-5 only. The gradient is compared because
    Adam's update barely changes if the gradient is scaled; a 4x gradient is far outside 1e-8."""
    from safetensors.torch import load_file

    from likra.training import preference

    passes: list[int] = []
    first_gradient: dict[str, torch.Tensor] = {}

    class Recording(preference._CheckpointWriter):
        def on_substep_end(self, args, state, control, **kwargs):
            passes[-1] += 1

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            passes[-1] += 1
            passes.append(0)
            if state.global_step == 0:
                first_gradient.update({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})

    monkeypatch.setattr(preference, "_CheckpointWriter", Recording)
    counted, logs, gradients = {}, {}, {}
    for name, budget in (("whole", 10**6), ("micro", 1)):  # budget 1: one row per forward pass
        passes[:] = [0]
        base = load_base(str(tiny_model_dir), device="cpu")
        base.model.double()
        settings = TrainSettings(lr=5e-2, batch_size=4, batch_tokens=budget)
        run_tiny(tmp_path / name, tiny_model_dir, arc_jsonl, method="dpo", settings=settings, loaded=base)
        counted[name], logs[name] = passes[:-1], read_jsonl(tmp_path / name / "train_log.jsonl")
        gradients[name] = dict(first_gradient)
    rows_per_step = 4 * len(trained_pairs(arc_jsonl)[0].negatives)
    assert counted == {"whole": [1] * 5, "micro": [rows_per_step] * 5}  # 20 questions, 4 a step
    assert [r["questions"] for r in logs["micro"]] == [r["questions"] for r in logs["whole"]] == [4, 8, 12, 16, 20]
    assert abs(logs["whole"][-1]["dpo_loss"] - math.log(2)) > 1e-3  # it moved: there is something to compare
    assert gradients["micro"].keys() == gradients["whole"].keys() and gradients["whole"]
    for key, whole in gradients["whole"].items():
        torch.testing.assert_close(gradients["micro"][key], whole, atol=1e-8, rtol=1e-5)
    for mine, theirs in zip(logs["micro"], logs["whole"], strict=True):
        assert mine["dpo_loss"] == pytest.approx(theirs["dpo_loss"], abs=1e-5)
        assert mine["rewards_margins"] == pytest.approx(theirs["rewards_margins"], abs=1e-5)
    for name in EXPECTED_CHECKPOINTS:
        mine = load_file(tmp_path / "micro" / "checkpoints" / name / "dpo" / "adapter_model.safetensors")
        theirs = load_file(tmp_path / "whole" / "checkpoints" / name / "dpo" / "adapter_model.safetensors")
        for key, value in theirs.items():
            torch.testing.assert_close(mine[key], value, atol=1e-5, rtol=1e-3)
