"""The per-step rules of generation: which variants a mode runs, and how it picks the next token.

Every mode is one entry in ``MODES``: the model variants it needs at each step (``base`` = the
frozen model with the adapters off, ``pos``/``neg`` = a head) and the function that turns their
next-token logits into one score per vocabulary entry (log domain; ``-inf`` = never chosen).
Greedy decoding takes the best score; sampling draws from ``softmax(score / temperature)`` after
top-p filtering. The sources (docs/generation.md):

- ``contrastive`` (Li et al., ACL 2023): keep the tokens with ``p_pos(v) >= alpha * max p_pos``
  (the adaptive plausibility constraint), score them by ``log p_pos - w * log p_neg``;
- ``experts`` (DExperts, Liu et al., ACL 2021): ``z_base + beta * (z_pos - z_neg)``;
- ``rerank``: k candidates from the positive head (this module's rule for each of them), ranked
  afterwards by the likra score per character (``likra.generation.rerank``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch

from likra.errors import LikraError, unknown_name
from likra.methods import METHODS, method_heads

Logits = Mapping[str, torch.Tensor]  # variant -> [batch, vocab] next-token logits
Rule = Callable[[Logits, "GenerateSettings"], torch.Tensor]


def _head(name: str) -> Rule:
    """One variant alone: its log-probabilities (argmax = the variant's own greedy token)."""

    def rule(logits: Logits, settings: GenerateSettings) -> torch.Tensor:
        return torch.log_softmax(logits[name].float(), dim=-1)

    return rule


def contrastive(logits: Logits, settings: GenerateSettings) -> torch.Tensor:
    """log p_pos - w log p_neg on the tokens the positive head finds plausible (p >= alpha max p)."""
    log_pos = torch.log_softmax(logits["pos"].float(), dim=-1)
    log_neg = torch.log_softmax(logits["neg"].float(), dim=-1)
    cutoff = log_pos.max(dim=-1, keepdim=True).values + math.log(settings.alpha)
    scores = log_pos - settings.weight * log_neg
    return scores.masked_fill(log_pos < cutoff, -math.inf)


def experts(logits: Logits, settings: GenerateSettings) -> torch.Tensor:
    """DExperts' product of experts: z_base + beta (z_pos - z_neg), normalised."""
    z = logits["base"].float() + settings.beta * (logits["pos"].float() - logits["neg"].float())
    return torch.log_softmax(z, dim=-1)


@dataclass(frozen=True)
class Mode:
    """A decoding mode: the variants each step runs, and the rule that scores the next token."""

    name: str
    variants: tuple[str, ...]
    rule: Rule
    about: str


# One entry per mode. A single-adapter method's run (dpo, kto, unlikelihood) decodes with its
# one adapter under the method's name, like ``pos`` for likra and sft runs.
MODES: dict[str, Mode] = {
    "base": Mode("base", ("base",), _head("base"), "the base model, adapters off"),
    "pos": Mode("pos", ("pos",), _head("pos"), "the positive head alone (= sft)"),
    "neg": Mode("neg", ("neg",), _head("neg"), "the negative head alone (for debugging)"),
    "contrastive": Mode("contrastive", ("pos", "neg"), contrastive, "log p_pos - w log p_neg, plausible tokens"),
    "experts": Mode("experts", ("base", "pos", "neg"), experts, "z_base + beta (z_pos - z_neg)"),
    "rerank": Mode("rerank", ("pos",), _head("pos"), "k candidates of pos, best likra score per char"),
}
for _method in METHODS:
    for _adapter in method_heads(_method):
        if _adapter not in MODES:
            MODES[_adapter] = Mode(_adapter, (_adapter,), _head(_adapter), f"the {_adapter} adapter alone")
# Variants that rerank's sequence score needs beside those it decodes with.
RERANK_SCORED = ("pos", "neg")


def needed_adapters(mode: str) -> tuple[str, ...]:
    """The adapters (heads) a target must have for ``mode``."""
    needed = MODES[mode].variants + (RERANK_SCORED if mode == "rerank" else ())
    return tuple(dict.fromkeys(v for v in needed if v != "base"))


@dataclass(frozen=True)
class GenerateSettings:
    """How to decode: the mode, greedy or sampling, lengths, stop strings and each mode's knobs.

    Checked on creation; each bad value is a one-line error naming its field."""

    mode: str = "contrastive"
    max_new_tokens: int = 64
    sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    alpha: float = 0.1  # contrastive: plausibility cutoff, a fraction of the top pos probability
    weight: float = 1.0  # contrastive: w in log p_pos - w log p_neg
    beta: float = 1.0  # experts: strength of (z_pos - z_neg)
    k: int = 4  # rerank: candidates per prompt
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise unknown_name("mode", self.mode, list(MODES))
        checks = (
            ("max_new_tokens", _is_int(self.max_new_tokens) and self.max_new_tokens >= 1, "an integer >= 1"),
            ("temperature", _finite(self.temperature) and self.temperature > 0, "> 0"),
            ("top_p", _finite(self.top_p) and 0 < self.top_p <= 1, "in (0, 1]"),
            ("alpha", _finite(self.alpha) and 0 < self.alpha <= 1, "in (0, 1]"),
            ("weight", _finite(self.weight) and self.weight >= 0, ">= 0"),
            ("beta", _finite(self.beta), "a finite number"),
            ("k", _is_int(self.k) and self.k >= 1, "an integer >= 1"),
            ("seed", _is_int(self.seed), "an integer"),
        )
        for field, ok, expected in checks:
            if not ok:
                raise LikraError(f"{field} must be {expected}, got {getattr(self, field)!r}", field=field)
        object.__setattr__(self, "stop", tuple(self.stop))
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise LikraError(f"stop strings must be non-empty text, got {list(self.stop)!r}", field="stop")

    def describe(self) -> dict[str, Any]:
        """The settings the mode's output depends on (what a JSONL row records)."""
        shown = asdict(self)
        shown["stop"] = list(self.stop)
        samples = self.sample or self.mode == "rerank"  # rerank samples its extra candidates
        unused = {
            "temperature": not samples,
            "top_p": not samples,
            "seed": not samples,
            "alpha": self.mode != "contrastive",
            "weight": self.mode != "contrastive",
            "beta": self.mode != "experts",
            "k": self.mode != "rerank",
        }
        return {key: value for key, value in shown.items() if not unused.get(key, False)}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def top_p_filter(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability reaches ``top_p`` (nucleus)."""
    if top_p >= 1.0:
        return scores
    ordered, order = torch.sort(scores, dim=-1, descending=True)
    probs = torch.softmax(ordered, dim=-1)
    before = probs.cumsum(dim=-1) - probs  # the mass of the better tokens
    drop = before >= top_p
    drop[..., 0] = False  # the best token always stays
    return scores.masked_fill(drop.scatter(-1, order, drop), -math.inf)


def choose(
    scores: torch.Tensor,
    settings: GenerateSettings,
    generator: torch.Generator | None,
    greedy_rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """The next token of each row: the best score (greedy), or a draw from softmax(score / T)
    after top-p. ``greedy_rows`` (bool per row) mixes both in one batch (rerank's candidates)."""
    greedy = scores.argmax(dim=-1)
    if not settings.sample and greedy_rows is None:
        return greedy
    filtered = top_p_filter(scores / settings.temperature, settings.top_p)
    drawn = torch.multinomial(torch.softmax(filtered, dim=-1), 1, generator=generator).squeeze(-1)
    return drawn if greedy_rows is None else torch.where(greedy_rows, greedy, drawn)
