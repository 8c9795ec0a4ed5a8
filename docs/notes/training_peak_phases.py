"""Where a training step's peak memory is: resident memory by phase of likra's own loop.

Trains one run in this process (``likra.training.run.train``) while a thread samples the resident
set size every 5 ms, labelled by phase: ``forward`` (inside ``target_logprobs``), ``loss+backward``
(after it, until the optimiser step returns) and ``between`` (between steps, after the step's
``malloc_trim``). Run it once per allocator setting, each in its own process, e.g.

    OMP_NUM_THREADS=1 python docs/notes/training_peak_phases.py --method unlikelihood
    OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=4194304 python docs/notes/training_peak_phases.py ...

``--head-checkpoint`` recomputes each LM-head chunk in backward instead of keeping its logits
(a one-off patch of ``likra.lm.forward``, not kept in likra). Prints one JSON line; the results of
2026-12-06 are in ``training_peak_phases_hellaswag_amd-avx512bf16_2026-12-06.json``: the first
three rows ran on the tree before ``large_blocks_mapped``, the A/B after it on the tree with it
(there ``MALLOC_MMAP_THRESHOLD_=33554432`` stands for the old default).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

from likra.job_progress import resident_mb


def resident_gb() -> float:
    return resident_mb() * 2**20 / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="hellaswag")
    parser.add_argument("--method", default="unlikelihood")
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--head-checkpoint", action="store_true")
    args = parser.parse_args()

    import torch

    import likra.training.loop as loop
    from likra.training.loop import TrainSettings
    from likra.training.run import train

    phase, peaks = ["load"], {}

    def sample() -> None:
        while True:
            now = resident_gb()
            peaks[phase[0]] = max(peaks.get(phase[0], 0.0), now)
            time.sleep(0.005)

    threading.Thread(target=sample, daemon=True).start()

    if args.head_checkpoint:
        from torch.utils.checkpoint import checkpoint

        import likra.lm.forward as forward

        plain_chunk = forward._chunk_logprobs

        def recomputed_chunk(head, hidden, targets, softcap):
            if torch.is_grad_enabled():
                return checkpoint(plain_chunk, head, hidden, targets, softcap, use_reentrant=False)
            return plain_chunk(head, hidden, targets, softcap)

        forward._chunk_logprobs = recomputed_chunk

    plain_logprobs, plain_step = loop.target_logprobs, loop.HeadTrainer.step
    before_steps: list[float] = []

    def labelled_logprobs(*a, **k):
        phase[0] = "forward"
        out = plain_logprobs(*a, **k)
        phase[0] = "loss+backward"
        return out

    def labelled_step(self, terms):
        before_steps.append(resident_gb())
        out = plain_step(self, terms)
        phase[0] = "between"
        return out

    loop.target_logprobs, loop.HeadTrainer.step = labelled_logprobs, labelled_step
    run_dir = Path(tempfile.mkdtemp(prefix="likra-phases-")) / "run"
    started = time.perf_counter()
    train(
        run_dir,
        task=args.task,
        method=args.method,
        max_questions=args.questions,
        dtype=args.dtype,
        settings=TrainSettings(batch_size=args.batch_size),
        progress=False,
    )
    seconds = time.perf_counter() - started
    shutil.rmtree(run_dir.parent)
    print(
        json.dumps(
            {
                "task": args.task,
                "method": args.method,
                "questions": args.questions,
                "dtype": args.dtype,
                "head_checkpoint": args.head_checkpoint,
                "MALLOC_MMAP_THRESHOLD_": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                "seconds": round(seconds, 1),
                "peak_gb_by_phase": {k: round(v, 3) for k, v in peaks.items()},
                "resident_gb_before_each_step": [round(b, 3) for b in before_steps],
                "ru_maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            }
        )
    )


if __name__ == "__main__":
    main()
