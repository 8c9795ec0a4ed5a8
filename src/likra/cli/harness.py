"""``likra harness``: lm-evaluation-harness's own CLI with the ``likra`` model registered."""

from __future__ import annotations

import typer


def harness_command(ctx: typer.Context) -> None:
    """Run lm-eval with likra heads: every argument goes to lm-eval's CLI, e.g.
    `likra harness --model likra --model_args run=RUN,checkpoint=N-64,mode=likra --tasks arc_challenge`.
    Modes: base, sft, likra, neg-only, pos-base, weighted (w_pos, w_neg). `--use_cache PATH` is keyed
    on the run, checkpoint, mode and weights, so cached answers of two modes never mix."""
    try:
        from likra.harness import harness_main
    except ImportError as error:
        from likra.errors import LikraError

        raise LikraError(
            f"`likra harness` needs lm-evaluation-harness: pip install 'likra[harness]' ({error})"
        ) from None
    harness_main(list(ctx.args))
