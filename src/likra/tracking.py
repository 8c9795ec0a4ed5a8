"""``--report-to``: training and evaluation you can watch in TensorBoard.

The names follow transformers' ``report_to``. ``none`` (the default) writes nothing;
``tensorboard`` writes event files to ``RUN/tensorboard/``: every row of the training log (each
head's loss, the learning rate, examples/s, ...; TRL's DPO/KTO rows too) at its optimiser step, and
every evaluated checkpoint's acc and acc_norm per mode at its N, with the run's config as text.
Only the main process writes. Hand-written over ``torch.utils.tensorboard`` because likra's own
loop is not a transformers Trainer, whose callbacks would otherwise do it.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from likra import distributed
from likra.errors import LikraError

REPORT_TO = ("none", "tensorboard")
REPORT_TO_HELP = "Also log to: none or tensorboard (event files in RUN/tensorboard/; pip install 'likra[tensorboard]')."
FOLDER = "tensorboard"

_writer: Any = None  # the active SummaryWriter, if any


def check_report_to(value: str) -> str:
    """``value`` if it is a known destination, else a one-line error listing them."""
    if value not in REPORT_TO:
        raise LikraError(f"--report-to must be one of {', '.join(REPORT_TO)}, got {value!r}", field="report_to")
    return value


@contextlib.contextmanager
def tracking(report_to: str, run_dir: Path, config: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Send what is logged inside the block to ``report_to`` (``none``: nowhere)."""
    global _writer
    check_report_to(report_to)
    if report_to == "none" or not distributed.is_main():
        yield
        return
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise LikraError(
            "--report-to tensorboard needs the tensorboard package: pip install 'likra[tensorboard]'",
            field="report_to",
        ) from None
    _writer = SummaryWriter(log_dir=str(Path(run_dir) / FOLDER))
    if config is not None:
        _writer.add_text("config", "```\n" + json.dumps(config, indent=2, sort_keys=True) + "\n```")
    try:
        yield
    finally:
        _writer.close()
        _writer = None


def log_scalars(prefix: str, step: int, values: Mapping[str, Any]) -> None:
    """Each finite number of ``values`` as ``prefix/name`` at ``step`` (nothing outside ``tracking``)."""
    if _writer is None:
        return
    for name, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            _writer.add_scalar(f"{prefix}/{name}", value, step)  # the writer flushes every 2 min and on close
