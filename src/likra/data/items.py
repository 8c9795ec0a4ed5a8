"""The multiple-choice item: what every loader produces and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Item:
    """One multiple-choice question, already formatted the way lm-evaluation-harness scores it.

    ``contexts[i]`` is the text the model is conditioned on for choice ``i`` and
    ``continuations[i]`` the text whose log-likelihood is summed (it carries its leading
    delimiter, usually a space). Most tasks share one context across choices; Winogrande's
    "partial" scoring has one context per choice and a shared continuation.
    ``train_contexts``/``train_continuations`` hold the form heads are trained on when it
    differs from the scored form (Winogrande: prefix as context, option + rest as answer).
    """

    id: str
    question: str
    choices: tuple[str, ...]
    gold: int
    contexts: tuple[str, ...]
    continuations: tuple[str, ...]
    train_contexts: tuple[str, ...] | None = None
    train_continuations: tuple[str, ...] | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def shared(
        cls,
        id: str,
        question: str,
        context: str,
        choices: list[str] | tuple[str, ...],
        gold: int,
        delimiter: str = " ",
    ) -> Item:
        """An item whose choices all follow one context (ARC, HellaSwag, PIQA, ...)."""
        choices = tuple(choices)
        return cls(
            id=str(id),
            question=question,
            choices=choices,
            gold=int(gold),
            contexts=(context,) * len(choices),
            continuations=tuple(delimiter + c for c in choices),
        )

    @property
    def n_choices(self) -> int:
        return len(self.choices)

    def requests(self) -> list[tuple[str, str]]:
        """(context, continuation) for every choice, in choice order: what is scored."""
        return list(zip(self.contexts, self.continuations))

    def train_requests(self) -> list[tuple[str, str]]:
        """(context, answer) for every choice, in the form the heads are trained on."""
        if self.train_contexts is None or self.train_continuations is None:
            return self.requests()
        return list(zip(self.train_contexts, self.train_continuations))

    def n_chars(self, choice: int) -> int:
        """Character length used by acc_norm: the choice text without its delimiter (lm-eval)."""
        cont = self.continuations[choice]
        return len(cont[1:]) if cont.startswith(" ") else len(cont)

    def demonstration(self) -> str:
        """This item solved, as a k-shot demonstration (context + gold continuation)."""
        return self.contexts[self.gold] + self.continuations[self.gold]

    def with_prefix(self, prefix: str) -> Item:
        """The same item with ``prefix`` (e.g. k-shot demonstrations) before every context."""
        return replace(self, contexts=tuple(prefix + c for c in self.contexts))
