"""The training methods: one entry each, in one table.

A method is how a run learns from the same questions and negatives. Its entry says what every
layer needs to know about it: the adapters each checkpoint holds, which trainer trains them, its
default learning rate, the settings it adds to a run's config, and the scoring modes a report
shows for it. What it optimises lives with its trainer (``likra.training.loop.HEAD_LOSSES`` for
likra's own loop, ``likra.training.preference.TRL_RECIPES`` for TRL's); adding a method is an
entry here plus that (docs/design.md, "Adding things").
"""

from __future__ import annotations

from dataclasses import dataclass

from likra.errors import unknown_name

LOOP = "loop"  # likra's own training loop (likra.training.loop)
TRL = "trl"  # TRL's trainers (likra.training.preference)


@dataclass(frozen=True)
class Method:
    """One training method and what the rest of likra needs to know about it."""

    name: str
    heads: tuple[str, ...]  # the adapters each checkpoint holds: the score table's columns
    trainer: str  # LOOP or TRL
    lr: float  # default learning rate (chosen by benchmarks/lr_sweep.py on ARC-C validation)
    report_modes: tuple[str, ...]  # the scoring modes a report shows for a run of this method
    lr_is_likras: bool = False  # trained at likra's --lr (its heads are likra's), not --method-lr
    settings: tuple[str, ...] = ()  # its own training settings, kept in its run's config only
    about: str = ""

    @property
    def single_adapter(self) -> bool:
        """One adapter named after the method, scored as ``<method>`` and ``<method>-ratio``."""
        return self.heads == (self.name,)


def _single(name: str, trainer: str, lr: float, about: str, settings: tuple[str, ...] = ()) -> Method:
    return Method(name, (name,), trainer, lr, (name, f"{name}-ratio"), settings=settings, about=about)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "likra",
            ("pos", "neg"),
            LOOP,
            1e-3,
            ("likra", "neg-only", "pos-base"),
            lr_is_likras=True,
            about="a positive head on the gold answers and a negative head on the wrong ones",
        ),
        # sft's one head is likra's pos head, so the sft modes apply unchanged.
        Method("sft", ("pos",), LOOP, 1e-3, ("sft", "pos-base"), lr_is_likras=True, about="the gold answers only"),
        _single(
            "unlikelihood",
            LOOP,
            1e-2,
            "one adapter: cross-entropy on the gold plus unlikelihood on the negatives (Welleck et al. 2019)",
            settings=("unlikelihood_alpha",),
        ),
        _single("dpo", TRL, 1e-2, "one adapter: TRL's DPO, the gold chosen over each negative"),
        _single("kto", TRL, 1e-2, "one adapter: TRL's KTO, the gold desirable and each negative not"),
    )
}
DEFAULT_METHOD = "likra"
# Settings some method owns: a run's config keeps only its own method's.
METHOD_SETTINGS = tuple(dict.fromkeys(s for m in METHODS.values() for s in m.settings))


def get_method(name: str) -> Method:
    """The method called ``name``; an unknown name suggests the closest one."""
    if name not in METHODS:
        raise unknown_name("training method", name, list(METHODS), field="method")
    return METHODS[name]


def methods_trained_by(trainer: str) -> tuple[str, ...]:
    """The names of the methods ``trainer`` (LOOP or TRL) trains, in table order."""
    return tuple(m.name for m in METHODS.values() if m.trainer == trainer)


def method_heads(method: str) -> tuple[str, ...]:
    """The adapters a checkpoint of ``method`` holds (the score table's columns)."""
    return get_method(method).heads


PREFERENCE_METHODS = methods_trained_by(TRL)  # trained by TRL's trainers (likra.training.preference)
