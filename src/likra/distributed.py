"""Several processes on one job (``accelerate launch`` or ``torchrun``): who writes, who scores what.

With one process every function here is a no-op. With several (``WORLD_SIZE`` > 1, set by the
launcher), ``setup`` joins accelerate's process group (NCCL on GPUs, gloo on CPU). Then:
- scoring shards the items across processes and gathers the score table on every process;
- training splits each batch's examples across processes and sums their gradients, so the
  global batch, and so N, keeps its meaning;
- only the main process writes files (``likra.io`` checks ``is_main``) and holds the run lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def launched() -> bool:
    """True when a launcher started several processes for this job."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup() -> None:
    """Join the launcher's process group (gloo when there is no GPU)."""
    if not launched():
        return
    import torch
    from accelerate import PartialState

    PartialState(cpu=not torch.cuda.is_available())
    if not is_main():  # one process reports; the others' errors still reach stderr
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)


def _dist() -> Any | None:
    if "torch" not in sys.modules:  # no torch yet: no process group either (and no slow import)
        return None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def world() -> int:
    dist = _dist()
    return dist.get_world_size() if dist else 1


def rank() -> int:
    dist = _dist()
    return dist.get_rank() if dist else 0


def is_main() -> bool:
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def barrier() -> None:
    dist = _dist()
    if dist:
        dist.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """The main process runs the block first (e.g. a one-time conversion), then the others."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def shard(items: Sequence[T]) -> list[T]:
    """This process's share: every world()-th item, starting at rank()."""
    return list(items[rank() :: world()])


def agree(value: T) -> T:
    """The main process's ``value``, on every process."""
    dist = _dist()
    if not dist:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_tensors(tensors: Sequence[Any]) -> None:
    """Sum each tensor over processes, in place."""
    dist = _dist()
    if dist:
        for tensor in tensors:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
