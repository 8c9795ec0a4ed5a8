"""Generation with both heads (likra.generation): every mode against an independent reference.

On the tiny random model with random LoRA heads (B drawn, so pos, neg and base all differ):
pos greedy is transformers' own ``generate`` token for token; the cached, left-padded, batched
loop is a loop that recomputes a full unpadded forward per prompt and step; the modes reduce to
each other where their formulas say so; stop strings, max_new_tokens, seeds and every invalid
option behave; and the CLI runs on a trained tiny run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from likra.errors import LikraError
from likra.generation import MODES, GenerateSettings, Generator, Target, generate
from likra.generation.decoding import choose, top_p_filter
from likra.generation.loop import STRATEGIES
from likra.generation.rerank import likra_per_char
from likra.model.heads import HEADS, attach_heads
from likra.score.scorer import variant_contexts

PROMPTS = [
    "Question: Which gas do plants take in? Answer:",
    "The cat sat",
    "Question: Which of these animals is a mammal that lives in water?\nAnswer:",
]


def random_heads(model, seed: int = 0, std: float = 0.5):
    """Both heads with random B (a fresh head has B = 0: it would equal the base model)."""
    peft_model = attach_heads(model)
    generator = torch.Generator().manual_seed(seed)
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            param.data = torch.randn(param.shape, generator=generator) * std
    return peft_model.eval()


@pytest.fixture(params=["no-bos", "bos"])
def generator(request, tiny_base, tiny_bos_base) -> Generator:
    """A Generator over a tiny model (without and with a BOS token) and two random heads."""
    base = tiny_base if request.param == "no-bos" else tiny_bos_base
    return Generator(Target(model=base.path, heads=HEADS), base, random_heads(base.model))


def run(generator: Generator, prompts=PROMPTS, strategy: str = "separate", **options) -> list:
    options.setdefault("max_new_tokens", 10)
    return generator.generate(prompts, GenerateSettings(**options), strategy=strategy)


def tokens(generator: Generator, prompts=PROMPTS, **options) -> list[list[int]]:
    return [g.tokens for g in run(generator, prompts, **options)]


# --- against transformers and an uncached reference -------------------------------------------


def test_pos_greedy_equals_transformers_generate_with_the_pos_adapter(generator: Generator) -> None:
    """Batched prompts of different lengths, left padded: the same tokens as peft + transformers."""
    tokenizer, model = generator.tokenizer, generator.model
    tokenizer.padding_side = "left"
    batch = tokenizer(PROMPTS, return_tensors="pt", padding=True)
    assert len({len(ids) for ids in tokenizer(PROMPTS)["input_ids"]}) == len(PROMPTS)  # all different
    model.set_adapter("pos")
    eos = sorted(generator.eos_ids())
    with torch.inference_mode():
        expected = model.generate(
            **batch, max_new_tokens=12, do_sample=False, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id
        )
    width = batch["input_ids"].shape[1]
    for row, got in zip(expected[:, width:].tolist(), tokens(generator, mode="pos", max_new_tokens=12)):
        cut = next((i for i, t in enumerate(row) if t in eos), len(row))
        assert got == row[:cut]
    assert any(len(t) == 12 for t in tokens(generator, mode="pos", max_new_tokens=12))


def reference(generator: Generator, prompt: str, settings: GenerateSettings) -> list[int]:
    """Greedy decoding without a cache, padding or batch: a full forward of the whole sequence per
    variant at every step, the variants switched by peft's adapter calls."""
    model, mode = generator.model, MODES[settings.mode]
    sequence = generator.encode([prompt], settings.max_new_tokens)[0]
    contexts = variant_contexts(model, mode.variants)
    generated: list[int] = []
    with torch.inference_mode():
        for _ in range(settings.max_new_tokens):
            logits = {}
            for variant in mode.variants:
                with contexts[variant]():
                    logits[variant] = model(input_ids=torch.tensor([sequence + generated])).logits[:, -1]
            token = int(choose(mode.rule(logits, settings), settings, None).item())
            if token in generator.eos_ids():
                break
            generated.append(token)
    return generated


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("mode", ["contrastive", "experts", "base", "neg"])
def test_cached_batched_loop_equals_an_uncached_reference(generator: Generator, mode: str, strategy: str) -> None:
    settings = GenerateSettings(mode=mode, max_new_tokens=10, alpha=0.05, weight=0.7, beta=1.5)
    got = tokens(generator, strategy=strategy, **{k: v for k, v in vars(settings).items() if k != "stop"})
    assert got == [reference(generator, prompt, settings) for prompt in PROMPTS]


def test_the_modes_really_differ_on_these_heads(generator: Generator) -> None:
    """Otherwise the equalities below would hold trivially."""
    outputs = {mode: tokens(generator, mode=mode, max_new_tokens=8) for mode in ("base", "pos", "neg", "contrastive")}
    outputs["experts"] = tokens(generator, mode="experts", max_new_tokens=8, beta=3.0)
    assert len({json.dumps(v) for v in outputs.values()}) == len(outputs)


# --- the modes reduce to each other -------------------------------------------------------------


def test_experts_with_beta_0_is_base_greedy(generator: Generator) -> None:
    for strategy in STRATEGIES:
        assert tokens(generator, strategy=strategy, mode="experts", beta=0.0) == tokens(generator, mode="base")


def test_contrastive_with_weight_0_is_pos_greedy(generator: Generator) -> None:
    for strategy in STRATEGIES:
        assert tokens(generator, strategy=strategy, mode="contrastive", weight=0.0) == tokens(generator, mode="pos")


def test_contrastive_with_alpha_1_keeps_only_the_top_token_of_pos(generator: Generator) -> None:
    assert tokens(generator, mode="contrastive", alpha=1.0, weight=5.0) == tokens(generator, mode="pos")


def test_rerank_with_k_1_is_pos_greedy(generator: Generator) -> None:
    assert tokens(generator, mode="rerank", k=1) == tokens(generator, mode="pos")


def test_rerank_keeps_the_best_likra_score_per_character(generator: Generator) -> None:
    outputs = run(generator, mode="rerank", k=4, max_new_tokens=6)
    greedy = run(generator, mode="pos", max_new_tokens=6)
    for prompt, output, first in zip(PROMPTS, outputs, greedy):
        texts = [c["text"] for c in output.candidates]
        assert texts[0] == first.text  # without --sample, the first candidate is pos greedy
        assert len(set(texts)) > 1  # the others are samples
        scores = likra_per_char(
            generator.model, generator.tokenizer, [prompt] * 4, texts, generator.loaded.max_length, generator.device
        )
        assert [c["score"] for c in output.candidates] == pytest.approx(scores, abs=1e-6)  # packed differently
        assert output.text == texts[scores.index(max(scores))]


# --- stopping, sampling -------------------------------------------------------------------------


def test_max_new_tokens_is_honoured(generator: Generator) -> None:
    for n in (1, 5):
        outputs = run(generator, mode="contrastive", max_new_tokens=n)
        assert all(len(o.tokens) <= n for o in outputs)
        assert [o.finish for o in outputs if len(o.tokens) == n] and all(
            o.finish == "length" for o in outputs if len(o.tokens) == n
        )


def test_stop_string_ends_the_row_at_its_first_occurrence_and_is_dropped(generator: Generator) -> None:
    full = run(generator, mode="pos", max_new_tokens=12)
    text = full[0].text
    stop = text[4:6]  # two characters from inside the first output
    assert stop.strip() and len(text) > 8
    stopped = run(generator, mode="pos", max_new_tokens=12, stop=(stop, "a string that never occurs"))
    assert stopped[0].text == text[: text.index(stop)]
    assert stopped[0].finish == "stop"
    assert len(stopped[0].tokens) < len(full[0].tokens)
    assert stopped[0].tokens == full[0].tokens[: len(stopped[0].tokens)]
    for before, after in zip(full[1:], stopped[1:]):  # other rows stop only where the string occurs
        assert after.text == before.text.split(stop)[0]


def test_sampling_with_a_seed_is_reproducible(generator: Generator) -> None:
    for mode in ("pos", "contrastive", "experts", "rerank"):
        first = tokens(generator, mode=mode, sample=True, seed=7, temperature=1.5)
        assert first == tokens(generator, mode=mode, sample=True, seed=7, temperature=1.5)
        assert first != tokens(generator, mode=mode, sample=True, seed=8, temperature=1.5)


def test_sampling_with_a_tiny_top_p_is_greedy(generator: Generator) -> None:
    for mode in ("pos", "contrastive"):
        assert tokens(generator, mode=mode, sample=True, top_p=1e-9) == tokens(generator, mode=mode)


def test_top_p_keeps_the_smallest_set_that_reaches_the_mass() -> None:
    scores = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = lambda top_p: torch.isfinite(top_p_filter(scores, top_p)).tolist()[0]  # noqa: E731
    assert kept(0.5) == [True, False, False, False]
    assert kept(0.79) == [True, True, False, False]
    assert kept(0.81) == [True, True, True, False]
    assert kept(1.0) == [True] * 4


# --- invalid options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("alpha", 0.0),
        ("alpha", 1.5),
        ("alpha", math.nan),
        ("weight", -0.1),
        ("weight", math.inf),
        ("beta", math.nan),
        ("temperature", 0.0),
        ("temperature", -1.0),
        ("top_p", 0.0),
        ("top_p", 1.01),
        ("max_new_tokens", 0),
        ("k", 0),
        ("stop", ("",)),
    ],
)
def test_each_invalid_option_is_a_one_line_error_naming_its_field(field: str, value) -> None:
    with pytest.raises(LikraError) as error:
        GenerateSettings(**{field: value})
    assert error.value.field == field
    assert f"field '{field}'" in str(error.value) and "\n" not in str(error.value)


def test_unknown_mode() -> None:
    with pytest.raises(LikraError, match="unknown mode 'contrastiv'.*Did you mean 'contrastive'"):
        GenerateSettings(mode="contrastiv")


def test_a_mode_needs_the_adapters_of_its_variants() -> None:
    sft = Target(model="m", run="runs/sft", checkpoint="N-4", heads=("pos",), run_config={"method": "sft"})
    assert sft.modes == ["base", "pos"] and sft.default_mode() == "pos"
    with pytest.raises(LikraError, match="mode contrastive needs the neg adapter; this run \\(sft\\) has pos"):
        sft.check_mode("contrastive")
    with pytest.raises(LikraError, match="mode rerank needs the neg adapter"):
        sft.check_mode("rerank")
    assert Target(model="m", run="r", heads=("dpo",)).modes == ["base", "dpo"]
    with pytest.raises(LikraError, match="a model without adapters supports only base"):
        Target(model="m").check_mode("pos")


def test_a_prompt_too_long_for_the_model(generator: Generator) -> None:
    with pytest.raises(LikraError, match="prompt 2 has .* tokens; with max_new_tokens 250 it needs more"):
        run(generator, ["A", "The cat sat on the mat"], mode="pos", max_new_tokens=250)


# --- the CLI and the one-call API on a trained run -------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A trained tiny run (2 questions, checkpoint N-2) whose heads are then replaced by random
    ones, so that the modes differ."""
    from likra.model.heads import save_heads
    from likra.model.load import load_base
    from likra.training.loop import TrainSettings
    from likra.training.run import train

    run_dir = tmp_path_factory.mktemp("generate") / "run"
    train(
        run_dir,
        model=str(tiny_model_dir),
        task="arc",
        max_questions=2,
        settings=TrainSettings(batch_size=2),
        progress=False,
    )
    heads = random_heads(load_base(str(tiny_model_dir), device="cpu").model, seed=1)
    save_heads(heads, run_dir / "checkpoints" / "N-2")
    return run_dir


def test_cli_prompts_print_blocks_and_write_jsonl_rows(cli: Callable, tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "gen.jsonl"
    code, stdout, err = cli(
        "generate",
        tiny_run,
        "--prompt",
        PROMPTS[0],
        "--prompt",
        PROMPTS[2].replace("\n", "\\n"),  # as typed in a shell: backslash n
        "--max-new-tokens",
        "5",
        "--out",
        out,
        "--quiet",
    )
    assert code == 0, err
    assert "=== 1/2 prompt-0 (contrastive, N-2)" in stdout and PROMPTS[2] in stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["prompt-0", "prompt-1"]
    assert [r["prompt"] for r in rows] == [PROMPTS[0], PROMPTS[2]]
    assert set(rows[0]) == {"id", "prompt", "text", "mode", "settings", "finish", "n_tokens"}
    assert rows[0]["settings"] == {
        "max_new_tokens": 5,
        "sample": False,
        "alpha": 0.1,
        "weight": 1.0,
        "stop": [],
        "model": json.loads((tiny_run / "config.json").read_text())["model"],
        "run": str(tiny_run),
        "checkpoint": "N-2",
        "dtype": "fp32",  # the precision it decoded in (auto: the scoring precision)
    }
    api = generate(tiny_run, [PROMPTS[0], PROMPTS[2]], max_new_tokens=5)
    assert [r["text"] for r in api] == [r["text"] for r in rows]


def test_cli_task_questions_without_choices_as_json(cli: Callable, tiny_run: Path) -> None:
    from likra.data.selection import eval_items

    code, stdout, err = cli(
        "generate",
        tiny_run,
        "--task",
        "arc_easy",
        "--limit",
        "2",
        "--mode",
        "rerank",
        "--k",
        "2",
        "--json",
        "--max-new-tokens",
        "4",
    )
    assert code == 0, err
    rows = json.loads(stdout)
    items = eval_items("arc_easy", "test", 2, 0)
    assert [r["id"] for r in rows] == [item.id for item in items]
    assert [r["prompt"] for r in rows] == [item.contexts[0] for item in items]
    assert all(r["mode"] == "rerank" and len(r["candidates"]) == 2 for r in rows)
    assert rows[0]["settings"]["stop"] == ["\n"] and all("\n" not in r["text"] for r in rows)


def test_cli_every_mode_of_the_run_generates(cli: Callable, tiny_run: Path) -> None:
    texts = {}
    for mode in ("base", "pos", "neg", "contrastive", "experts", "rerank"):
        code, stdout, err = cli(
            "generate", tiny_run, "--prompt", "The cat", "--mode", mode, "--max-new-tokens", "4", "--json"
        )
        assert code == 0, err
        texts[mode] = json.loads(stdout)[0]["text"]
    assert len(set(texts.values())) >= 4


def expect_error(cli: Callable, *args, words: tuple[str, ...]) -> None:
    code, out, err = cli(*args)
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, out, err)
    print(lines[0])  # shown with -s: the messages listed in docs/errors.md
    assert all(word in lines[0] for word in words), lines[0]


def test_cli_errors_are_one_line(cli: Callable, tiny_run: Path, tiny_model_dir: Path) -> None:
    expect_error(cli, "generate", tiny_run, "--prompt", "A", "--alpha", "0", words=("field 'alpha'", "in (0, 1]"))
    expect_error(cli, "generate", tiny_run, "--prompt", "A", "--top-p", "2", words=("field 'top_p'",))
    expect_error(cli, "generate", tiny_run, "--prompt", "A", "--k", "0", words=("field 'k'",))
    expect_error(cli, "generate", tiny_run, "--prompt", "A", "--mode", "nope", words=("unknown mode 'nope'",))
    expect_error(cli, "generate", tiny_run, words=("give either prompts (--prompt) or a task (--task)",))
    expect_error(cli, "generate", tiny_run, "--prompt", "A", "--checkpoint", "N-9", words=("no checkpoint N-9", "N-2"))
    expect_error(
        cli, "generate", tiny_model_dir, "--prompt", "A", "--mode", "contrastive", words=("supports only base",)
    )
    expect_error(cli, "generate", tiny_run.parent / "missing", "--prompt", "A", words=("no such run folder",))


def test_a_plain_model_generates_base(cli: Callable, tiny_model_dir: Path) -> None:
    code, stdout, err = cli("generate", tiny_model_dir, "--prompt", "The cat", "--max-new-tokens", "3", "--json")
    assert code == 0, err
    row = json.loads(stdout)[0]
    assert row["mode"] == "base" and row["settings"]["checkpoint"] is None
