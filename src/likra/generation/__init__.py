"""Generation with both heads: ``likra generate`` and ``likra.generation.generate``.

Modes (``likra.generation.decoding.MODES``): base, pos (= sft), neg, contrastive, experts, rerank,
and a one-adapter run's own adapter (dpo, kto, unlikelihood). See docs/generation.md.

    from likra.generation import generate
    rows = generate("runs/arc", ["Question: Which gas do plants take in?\\nAnswer:"], mode="contrastive")

``Generator`` keeps the model loaded between calls (``Generator.load(run).generate(prompts, settings)``).
"""

from likra.generation.decoding import MODES, GenerateSettings
from likra.generation.run import Generation, Generator, Target, generate, resolve_target

__all__ = ["MODES", "GenerateSettings", "Generation", "Generator", "Target", "generate", "resolve_target"]
