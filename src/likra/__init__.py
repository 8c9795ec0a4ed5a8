"""likra: likelihood-ratio (Likra) models -- how much do LLMs learn from negative examples?

    import likra
    likra.train("runs/arc-256", task="arc", max_questions=256)
    for metrics in likra.evaluate("runs/arc-256", task="arc_challenge", limit=200): ...
    likra.reproduce("runs/quick", "quick")

One function per command (``likra.api``), the settings and config classes, and the lm-eval model
``LikraLM`` (needs ``likra[harness]``). Everything is imported on first use, so ``import likra``
loads neither torch nor transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it
_PUBLIC = {
    **dict.fromkeys(
        ("tasks", "items", "train", "evaluate", "generate", "reproduce", "curve", "negatives", "likelihoods", "report"),
        "likra.api",
    ),
    "TrainSettings": "likra.training.loop",
    # Each command's options as one object: ``likra.train(run, **TrainConfig(lr=3e-3).resolved().train_arguments())``.
    "TrainConfig": "likra.training.config",
    "EvalConfig": "likra.score.config",
    "GenerateConfig": "likra.generation.config",
    "ReproduceConfig": "likra.experiments.config",
    "CurveConfig": "likra.experiments.config",
    "GenerateSettings": "likra.generation.decoding",
    "Profile": "likra.experiments.profiles",
    "get_profile": "likra.experiments.profiles",
    "LikraLM": "likra.harness",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'likra' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
