"""likra heads inside lm-evaluation-harness, without a fork.

``LikraLM`` is registered with lm-eval as the model ``likra``. It is lm-eval's own ``HFLM``
(tokeniser, batching and bookkeeping come from there) holding the frozen base model with the
run's two LoRA heads, and it answers ``loglikelihood`` requests with likra's packed scorer (one
pass per head) combined per mode. The combination happens on the log-likelihoods lm-eval asks
for, not inside the model call, so lm-eval never re-normalises a ratio of logits (why the
authors had to fork it).

    likra harness --model likra --model_args run=runs/arc,checkpoint=N-64,mode=likra --tasks arc_challenge

or from Python: ``lm_eval.simple_evaluate(model=LikraLM(run="runs/arc", mode="likra"), tasks=[...])``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from likra.errors import LikraError, unknown_name
from likra.generation.decoding import GenerateSettings, needed_adapters
from likra.layout import RunLayout
from likra.lm.packing import BATCH_TOKENS
from likra.metrics import MODE_NEEDS, MODES, weighted
from likra.model.precision import DTYPE_CHOICES, SCORING, dtype_name, resolve_dtype
from likra.score.evaluate import choose_checkpoints, lora_settings, match_adapter_dtype, read_run_config, run_heads

# The columns each mode needs; answer-prior needs unconditional scores lm-eval does not ask for.
MODE_VARIANTS = {m: needs for m, needs in MODE_NEEDS.items() if m != "answer-prior"} | {"weighted": ("pos", "neg")}
# lm-eval's dtype names, accepted beside likra's own.
DEFAULT_DECODING = GenerateSettings()
DTYPE_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "auto": "auto", "fp32": "fp32", "bf16": "bf16"}


@dataclass(frozen=True)
class HarnessModel:
    """What one ``likra`` model in lm-eval scores with: everything its answers depend on."""

    model: str  # the base model (likra name or folder)
    run: str | None  # the run directory (None: a bare base model, mode base only)
    checkpoint: str | None  # resolved checkpoint name (N-64, ...)
    mode: str
    w_pos: float
    w_neg: float
    dtype: str
    decoding: str = ""  # generation requests: the decoding mode and its knobs, as JSON ("" = none)

    @property
    def key(self) -> str:
        """Names lm-eval's request cache: one cache per model, checkpoint, mode and weights."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]
        return f"likra-{self.mode}-{self.checkpoint or 'base'}-{digest}"


def resolve_model(
    run: str | None = None,
    pretrained: str | None = None,
    checkpoint: str = "final",
    mode: str = "likra",
    w_pos: float | str = 1.0,
    w_neg: float | str = 1.0,
    dtype: str = "auto",
    gen_mode: str | None = None,
    alpha: float | str = DEFAULT_DECODING.alpha,
    beta: float | str = DEFAULT_DECODING.beta,
    k: int | str = DEFAULT_DECODING.k,
) -> HarnessModel:
    """Check and resolve the model_args (the checkpoint ``final`` becomes its N-... name)."""
    model = _resolve_scoring(run, pretrained, checkpoint, mode, w_pos, w_neg, dtype)
    return replace(model, decoding=_decoding(model, run, gen_mode, alpha, beta, k))


def default_generation(mode: str) -> str | None:
    """The decoding that generates with what scoring ``mode`` ranks by; None where nothing does
    (neg-only and pos-base compare with the base model, a ``-ratio`` with the reference)."""
    from likra.generation.decoding import MODES as DECODINGS

    if mode in ("likra", "weighted"):
        return "contrastive"
    if mode == "sft":
        return "pos"
    return mode if mode in DECODINGS and mode != "neg" else None


def _decoding(model: HarnessModel, run: str | None, gen_mode: str | None, alpha, beta, k) -> str:
    chosen = gen_mode or default_generation(model.mode)
    if chosen is None:
        return ""
    weight = model.w_neg / model.w_pos if model.mode == "weighted" and model.w_pos > 0 else 1.0
    try:
        settings = GenerateSettings(mode=chosen, alpha=float(alpha), beta=float(beta), k=int(k), weight=weight)
    except ValueError:
        raise LikraError(
            f"alpha and beta must be numbers and k a whole number, got {alpha!r}, {beta!r}, {k!r}"
        ) from None
    if run is None and chosen != "base":
        raise LikraError(f"gen_mode {chosen} needs a run's heads: give run=<run directory>", field="gen_mode")
    if run is not None:
        heads = run_heads(read_run_config(Path(run)))
        missing = [a for a in needed_adapters(chosen) if a not in heads]
        if missing:
            raise LikraError(
                f"gen_mode {chosen} needs the {', '.join(missing)} adapter; this run has {', '.join(heads)}",
                field="gen_mode",
            )
    shown = settings.describe()
    return json.dumps(
        {key: shown[key] for key in ("mode", "alpha", "weight", "beta", "k") if key in shown}, sort_keys=True
    )


def _resolve_scoring(
    run: str | None,
    pretrained: str | None,
    checkpoint: str,
    mode: str,
    w_pos: float | str,
    w_neg: float | str,
    dtype: str,
) -> HarnessModel:
    if mode not in MODE_VARIANTS:
        raise unknown_name("mode", mode, list(MODE_VARIANTS))
    if str(dtype) not in DTYPE_ALIASES:
        raise LikraError(f"dtype must be one of {', '.join(DTYPE_CHOICES)}, got {dtype!r}", field="dtype")
    # Resolved here ("auto" scores in fp32 on every device), so lm-eval's cache key names the precision.
    dtype = dtype_name(resolve_dtype("cpu", DTYPE_ALIASES[str(dtype)], SCORING))
    if run is None:
        if pretrained is None:
            raise LikraError("give model_args run=<run directory> (or pretrained=<model> with mode=base)")
        if mode != "base":
            raise LikraError(f"mode {mode} needs a run's heads: give run=<run directory>", field="mode")
        return HarnessModel(str(pretrained), None, None, mode, 1.0, 0.0, DTYPE_ALIASES[str(dtype)])
    config = read_run_config(Path(run))
    if config is None:
        raise LikraError("not a likra run directory (no config.json with lora settings)", file=Path(run))
    heads = run_heads(config)
    missing = [v for v in MODE_VARIANTS[mode] if v != "base" and v not in heads]
    if missing:
        raise LikraError(
            f"mode {mode} needs the {', '.join(missing)} adapter; this run ({config.get('method', 'likra')}) "
            f"has {', '.join(heads)}",
            field="mode",
        )
    chosen = choose_checkpoints(RunLayout(Path(run)), "final" if checkpoint == "final" else [checkpoint], heads)
    return HarnessModel(
        str(pretrained or config["model"]),
        str(Path(run).resolve()),
        chosen[0],
        mode,
        _number("w_pos", w_pos) if mode == "weighted" else 1.0,
        _number("w_neg", w_neg) if mode == "weighted" else 1.0,
        DTYPE_ALIASES[str(dtype)],
    )


def _number(name: str, value: float | str) -> float:
    """A model_arg that must be a number (lm-eval passes them as text): one line, not a ValueError."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise LikraError(f"{name} must be a number, got {value!r}", field=name) from None


def _batch_tokens(value: int | str) -> int:
    try:
        tokens = int(value)
    except (TypeError, ValueError):
        tokens = 0
    if tokens < 1 or str(tokens) != str(value).strip():
        raise LikraError(f"batch_tokens must be a whole number >= 1, got {value!r}", field="batch_tokens")
    return tokens


def _available(device: str | None) -> str | None:
    """lm-eval's CLI asks for cuda:0 by default; like lm-eval's HFLM, fall back to the best
    available device when that one is not there (None = likra picks)."""
    import torch

    if device in (None, "", "auto"):
        return None
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        return None
    return str(device)


def cache_path(base: str, model: HarnessModel) -> str:
    """The ``use_cache`` path lm-eval should get for this model (keyed on what it scores)."""
    return f"{base}-{model.key}"


@register_model("likra")
class LikraLM(HFLM):
    """lm-eval model ``likra``: model_args run, checkpoint (final, N-64, ...), mode (base, sft,
    likra, neg-only, pos-base, weighted with w_pos/w_neg; for a dpo/kto/unlikelihood run, the
    method's name and ``<method>-ratio``), dtype (fp32, bf16, auto), pretrained
    (a bare base model, mode base), batch_tokens (the packed scorer's batch size); for generation
    tasks gen_mode (contrastive, experts, rerank, pos, base, a method's adapter; default from
    mode) with alpha, beta and k (docs/generation.md)."""

    def __init__(
        self,
        run: str | None = None,
        pretrained: str | None = None,
        checkpoint: str = "final",
        mode: str = "likra",
        w_pos: float | str = 1.0,
        w_neg: float | str = 1.0,
        dtype: str = "auto",
        device: str | None = None,
        batch_size: int | str | None = 1,
        max_batch_size: int | None = 64,
        batch_tokens: int | str = BATCH_TOKENS,
        gen_mode: str | None = None,
        alpha: float | str = DEFAULT_DECODING.alpha,
        beta: float | str = DEFAULT_DECODING.beta,
        k: int | str = DEFAULT_DECODING.k,
        **unknown: Any,
    ) -> None:
        from likra.model.load import load_base, pick_device

        if unknown:  # a misspelt model_arg (chekpoint=...): one line, not lm-eval's TypeError traceback
            known = [name for name in inspect.signature(LikraLM.__init__).parameters if name not in ("self", "unknown")]
            raise unknown_name("model_arg", next(iter(unknown)), known)
        self.likra = resolve_model(run, pretrained, checkpoint, mode, w_pos, w_neg, dtype, gen_mode, alpha, beta, k)
        self.batch_tokens = _batch_tokens(batch_tokens)
        device = _available(device)
        # Scoring precision, as `likra eval` resolves it ("auto" is fp32: a likelihood ratio needs it).
        scoring_dtype = resolve_dtype(pick_device(device), self.likra.dtype, SCORING)
        self.base = load_base(self.likra.model, device=device, dtype=dtype_name(scoring_dtype))
        self.scoring_model = self.base.model
        wanted = set(MODE_VARIANTS[mode]) | set(self._decoding_adapters())
        if self.likra.run is not None and wanted - {"base"}:
            self.scoring_model = self._attach_heads()
        super().__init__(
            pretrained=self.base.model,
            tokenizer=self.base.tokenizer,
            batch_size=batch_size,
            max_batch_size=max_batch_size,
            max_length=self.base.max_length,
            device=str(self.base.device),
        )

    def _attach_heads(self) -> Any:
        from likra.model.heads import attach_heads, load_head_weights

        run = RunLayout(Path(self.likra.run))
        config = read_run_config(run.root)
        heads = run_heads(config)
        peft_model = attach_heads(self.base.model, lora_settings(config), heads)
        for head in heads:
            load_head_weights(peft_model, run.head(self.likra.checkpoint, head), head)
        match_adapter_dtype(peft_model, self.base.dtype)
        peft_model.eval()  # no dropout; peft's mixed-adapter batches (generation) need it too
        return peft_model

    def _decoding_adapters(self) -> tuple[str, ...]:
        return needed_adapters(json.loads(self.likra.decoding)["mode"]) if self.likra.decoding else ()

    def score(self, log: dict[str, float]) -> float:
        """One continuation's score in this mode, from its log-likelihood under each variant."""
        if self.likra.mode == "weighted":
            return weighted(self.likra.w_pos, self.likra.w_neg)(log)
        return MODES[self.likra.mode](log)

    def loglikelihood(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """The mode's score of each (context, continuation); ``is_greedy`` is always False
        (a ratio of two heads has no greedy continuation), so tasks scored by it are refused."""
        from likra.score.scorer import score_requests

        pairs = [tuple(request.args) for request in requests]
        if not pairs:
            return []
        variants = MODE_VARIANTS[self.likra.mode]
        logs, _, _, _ = score_requests(
            self.scoring_model,
            self.base.tokenizer,
            pairs,
            variants,
            max_length=self.base.max_length,
            batch_tokens=self.batch_tokens,
            device=self.base.device,
            progress=not disable_tqdm,
        )
        answers = []
        for index, pair in enumerate(pairs):
            answer = (self.score({v: logs[v][index] for v in variants}), False)
            answers.append(answer)
            self.cache_hook.add_partial("loglikelihood", pair, answer)
        return answers

    def loglikelihood_rolling(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[float]:
        raise LikraError(
            "the likra model scores given continuations (multiple-choice loglikelihood tasks); "
            "loglikelihood_rolling (perplexity tasks) is not defined for a pair of heads"
        )

    def generate_until(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[str]:
        """Each (context, gen_kwargs) decoded with both heads in this model's decoding (model_arg
        ``gen_mode``; by default likra and weighted decode contrastively, sft with the positive
        head, base with the base model, a DPO/KTO/unlikelihood run with its adapter). lm-eval's
        ``until``, ``max_gen_toks``, ``do_sample``, ``temperature`` and ``top_p`` are honoured;
        the context is left-truncated as lm-eval's HFLM does."""
        from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs

        from likra.generation.run import Generator, Target

        if not self.likra.decoding:
            raise LikraError(
                f"mode {self.likra.mode} ranks given answers against the base model or a reference and "
                "generates nothing; give model_arg gen_mode (contrastive, experts, rerank, pos or base)",
                field="gen_mode",
            )
        decoding = json.loads(self.likra.decoding)
        config = read_run_config(Path(self.likra.run)) if self.likra.run else None
        target = Target(
            model=self.likra.model,
            run=self.likra.run,
            checkpoint=self.likra.checkpoint,
            heads=run_heads(config) if config else (),
            run_config=config,
        )
        generator = Generator(target, self.base, self.scoring_model)
        groups: dict[str, list[int]] = {}  # one decoding per distinct gen_kwargs, as lm-eval batches
        for index, request in enumerate(requests):
            groups.setdefault(json.dumps(request.args[1], sort_keys=True, default=str), []).append(index)
        texts = [""] * len(requests)
        for indices in groups.values():
            kwargs = normalize_gen_kwargs(dict(requests[indices[0]].args[1]), self.max_gen_toks)
            sample = bool(kwargs.get("do_sample")) and float(kwargs.get("temperature") or 0) > 0
            settings = GenerateSettings(
                **decoding,
                max_new_tokens=int(kwargs["max_gen_toks"]),
                sample=sample,
                temperature=float(kwargs["temperature"]) if sample else 1.0,
                top_p=float(kwargs.get("top_p") or 1.0) if sample else 1.0,
                seed=int(kwargs.get("seed") or 0),
                stop=tuple(s for s in handle_stop_sequences(kwargs.get("until"), eos=None) if s),
            )
            contexts = [requests[i].args[0] for i in indices]
            for index, generation in zip(indices, generator.generate(contexts, settings, truncate=True)):
                texts[index] = generation.text
                self.cache_hook.add_partial("generate_until", requests[index].args, generation.text)
        return texts

    def set_cache_hook(self, cache_hook: Any) -> None:
        """Refuse an lm-eval request cache that is not keyed on this model, mode and checkpoint:
        lm-eval keys cached answers on the request text alone, so it would mix modes silently."""
        filename = str(getattr(getattr(cache_hook, "dbdict", None), "filename", "") or "")
        if filename and self.likra.key not in filename:
            raise LikraError(
                f"lm-eval's request cache {filename} is not keyed on this likra model ({self.likra.key}); "
                "use `likra harness` (it keys --use_cache for you) or "
                "use_cache=likra.harness.cache_path(path, lm.likra)"
            )
        super().set_cache_hook(cache_hook)


def harness_main(args: list[str]) -> None:
    """``likra harness``: lm-eval's own CLI with the ``likra`` model registered and
    ``--use_cache`` keyed on the likra model it evaluates."""
    from lm_eval._cli.harness import HarnessCLI
    from lm_eval.utils import setup_logging

    args = _keyed_cache_args(list(args))
    setup_logging()
    with tempfile.TemporaryDirectory(prefix="likra-lm-eval-tasks-") as folder:
        args = _offline_task_args(args, Path(folder))
        sys.argv = ["lm-eval", *args]
        cli = HarnessCLI()
        cli.execute(cli.parse_args())


def _option(args: list[str], name: str) -> tuple[int, str] | None:
    """(index of the value, value) of ``--name value`` or ``--name=value``."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return i + 1, args[i + 1]
        if arg.startswith(name + "="):
            return i, arg.split("=", 1)[1]
    return None


def _offline_task_args(args: list[str], folder: Path) -> list[str]:
    """Serve the packaged tasks among ``--tasks`` from ``folder`` (see :mod:`likra.harness_tasks`)."""
    from likra.harness_tasks import plan_offline, quiet_overrides, write_offline_tasks

    tasks = _option(args, "--tasks")
    if tasks is None:
        return args
    plan = plan_offline([name.strip() for name in tasks[1].split(",") if name.strip()])
    for name in plan.passed_on:
        print(
            f"likra harness: '{name}' is not packaged with likra; lm-eval resolves it (a Hub task needs the network)",
            file=sys.stderr,
        )
    if not plan.served:  # said above, also when no task is served (it was not said then)
        return args
    fewshot = _option(args, "--num_fewshot")
    try:
        num_fewshot = int(fewshot[1]) if fewshot else None
    except ValueError:
        raise LikraError(f"--num_fewshot must be a whole number, got {fewshot[1]!r}", field="num_fewshot") from None
    write_offline_tasks(plan, folder, num_fewshot)
    include = _option(args, "--include_path")
    if include is not None:
        # lm-eval takes one include path: the user's tasks are reached through a link in ours.
        (folder / "user-tasks").symlink_to(Path(include[1]).resolve(), target_is_directory=True)
        args[include[0]] = str(folder) if args[include[0]] == include[1] else f"--include_path={folder}"
    else:
        args += ["--include_path", str(folder)]
    quiet_overrides()
    shown = ", ".join(plan.served) if len(plan.served) <= 4 else f"{len(plan.served)} tasks"
    print(f"likra harness: {shown} from likra's packaged data (no download)", file=sys.stderr)
    return args


def _keyed_cache_args(args: list[str]) -> list[str]:
    from lm_eval.utils import simple_parse_args_string

    cache, model = _option(args, "--use_cache"), _option(args, "--model")
    if cache is None or model is None or model[1] != "likra":
        return args
    model_args = _option(args, "--model_args")
    settings = simple_parse_args_string(model_args[1]) if model_args else {}
    known = {
        k: v
        for k, v in settings.items()
        if k in ("run", "pretrained", "checkpoint", "mode", "w_pos", "w_neg", "dtype", "gen_mode", "alpha", "beta", "k")
    }
    keyed = cache_path(cache[1], resolve_model(**known))
    index, _ = cache
    args[index] = keyed if args[index] == cache[1] else f"--use_cache={keyed}"
    return args
