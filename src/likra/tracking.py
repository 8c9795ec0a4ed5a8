"""``--report-to``: training and evaluation you can watch in TensorBoard, W&B or MLflow.

The names follow transformers' ``report_to``. ``none`` (the default) writes nothing; the others
get every row of the training log (each head's loss, the learning rate, tokens/s, ...; TRL's
DPO/KTO rows too) at its optimiser step, every evaluated checkpoint's acc and acc_norm per mode at
its N, and the run's resolved config, each inside the run folder and never over the network:

- ``tensorboard``: event files in ``RUN/tensorboard/``, the config as text;
- ``wandb``: an offline W&B run in ``RUN/wandb/`` (``wandb sync`` uploads it), the config as its
  config; training and evaluation are one W&B run, resumed by the id kept in ``RUN/wandb/``;
- ``mlflow``: a local file store in ``RUN/mlruns/``, experiment ``likra``, one MLflow run per
  run folder, the config as flattened params (``lora.r``, ``train.lr``, ...).

Only the main process writes. Hand-written over each library's own writer because likra's loop is
not a transformers Trainer, whose callbacks would otherwise do it. A destination is one class with
``log_config``, ``log_scalars`` and ``close``, listed in ``WRITERS``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from likra import distributed
from likra.errors import LikraError

REPORT_TO = ("none", "tensorboard", "wandb", "mlflow")
REPORT_TO_HELP = (
    "Also log to: none, tensorboard (RUN/tensorboard/), wandb (offline, RUN/wandb/) or mlflow "
    "(local store RUN/mlruns/); each needs its extra: pip install 'likra[NAME]'."
)
FOLDER = "tensorboard"  # RUN/FOLDER holds the TensorBoard event files
WANDB_FOLDER = "wandb"
MLFLOW_FOLDER = "mlruns"
PROJECT = "likra"  # the W&B project and the MLflow experiment
_MODULES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # what each extra installs

_writer: Writer | None = None  # the active destination, if any


class Writer(Protocol):
    """One destination: opened on a run folder, then given the config and scalars, then closed."""

    def log_config(self, config: Mapping[str, Any]) -> None: ...

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None: ...

    def close(self, failed: bool = False) -> None: ...


def check_report_to(value: str) -> str:
    """``value`` if it is a known destination whose package is installed, else a one-line error."""
    if value not in REPORT_TO:
        raise LikraError(f"--report-to must be one of {', '.join(REPORT_TO)}, got {value!r}", field="report_to")
    # Checked here, before a run folder is made or a model loaded, not only when the writer opens.
    if value != "none" and not _installed(_MODULES[value]):
        raise _missing(value)
    return value


@contextlib.contextmanager
def tracking(report_to: str, run_dir: Path, config: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Send what is logged inside the block to ``report_to`` (``none``: nowhere)."""
    global _writer
    check_report_to(report_to)
    if report_to == "none" or not distributed.is_main():
        yield
        return
    writer = WRITERS[report_to](Path(run_dir))
    failed = True
    try:
        if config is not None:
            writer.log_config(config)
        _writer = writer
        yield
        failed = False
    finally:
        _writer = None
        writer.close(failed)


def log_scalars(prefix: str, step: int, values: Mapping[str, Any]) -> None:
    """Each finite number of ``values`` as ``prefix/name`` at ``step`` (nothing outside ``tracking``)."""
    if _writer is None:
        return
    scalars = {
        f"{prefix}/{name}": float(value)
        for name, value in values.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }
    if scalars:
        _writer.log_scalars(step, scalars)


class TensorBoardWriter:
    """Event files in ``RUN/tensorboard/``; a later ``tracking`` adds a file beside the others."""

    def __init__(self, run_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise _missing("tensorboard") from None
        self.writer = SummaryWriter(log_dir=str(run_dir / FOLDER))

    def log_config(self, config: Mapping[str, Any]) -> None:
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2, sort_keys=True) + "\n```")

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)  # the writer flushes every 2 min and on close

    def close(self, failed: bool = False) -> None:
        self.writer.close()


class WandbWriter:
    """An offline W&B run in ``RUN/wandb/``, named after the run folder.

    Each ``tracking`` (train, then eval, or a resumed train) reopens the same W&B run by the id
    kept in ``RUN/wandb/likra-run-id``, so that ``wandb sync RUN/wandb/offline-run-*`` uploads one run.
    """

    ID_FILE = "likra-run-id"

    def __init__(self, run_dir: Path) -> None:
        wandb = _import("wandb")
        id_file = run_dir / WANDB_FOLDER / self.ID_FILE
        run_id = id_file.read_text().strip() if id_file.exists() else ""
        self.run = wandb.init(
            mode="offline",  # always: likra never sends anything over the network
            dir=run_dir,
            project=PROJECT,
            name=run_dir.resolve().name,
            id=run_id or None,
            resume="allow",
            # A W&B run the caller has open (likra called from the caller's own script) stays open
            # and stays wandb.run: likra's run is a second one beside it, never in its place.
            reinit="create_new",
            # likra's own progress bars stay on the terminal: W&B's console capture would wrap them;
            # quiet: W&B says where the run is saved, without its closing summary of every scalar.
            settings=wandb.Settings(console="off", quiet=True),
        )
        if not run_id:
            id_file.write_text(self.run.id + "\n")
        self.sections: set[str] = set()

    def log_config(self, config: Mapping[str, Any]) -> None:
        self.run.config.update(dict(config), allow_val_change=True)

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        # W&B's own step may only grow, but evaluation (at N = 0, 32, ...) follows training (at its
        # optimiser steps) in the same run: each section gets its own x-axis, ``train/step`` or
        # ``eval/step``, logged beside its values.
        sections = {name.split("/", 1)[0] for name in scalars}
        for section in sections - self.sections:
            self.run.define_metric(f"{section}/step")
            self.run.define_metric(f"{section}/*", step_metric=f"{section}/step")
            self.sections.add(section)
        self.run.log(dict(scalars) | {f"{section}/step": step for section in sections})

    def close(self, failed: bool = False) -> None:
        self.run.finish(exit_code=1 if failed else 0)
        wandb = _import("wandb")
        # finish() returns before wandb-core has written the run's .wandb file; tearing the service
        # down waits for it, so the run folder is whole when train() or evaluate() returns. Not
        # while the caller's own run needs the service: then the file is written in the background.
        if wandb.run is None:
            wandb.teardown()


class MlflowWriter:
    """One MLflow run (named after the run folder) in experiment ``likra`` of the local store ``RUN/mlruns/``.

    The store is MLflow's file store: it needs no database packages and opens in milliseconds,
    where a new SQLite store takes seconds of schema migrations. ``mlflow ui --backend-store-uri
    RUN/mlruns`` shows it (with ``MLFLOW_ALLOW_FILE_STORE=true``).
    """

    BATCH = 100  # MLflow takes at most 100 params in one log_batch

    def __init__(self, run_dir: Path) -> None:
        _import("mlflow")
        from mlflow.tracking import MlflowClient

        # MLflow 3 keeps the file store in maintenance mode and refuses it unless this is set.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=(run_dir / MLFLOW_FOLDER).resolve().as_uri())
        experiment = self.client.get_experiment_by_name(PROJECT)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(PROJECT)
        runs = self.client.search_runs([experiment_id], max_results=1, order_by=["attributes.start_time ASC"])
        if runs:  # eval after train, or a resumed train: the same MLflow run
            self.run_id = runs[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            self.run_id = self.client.create_run(experiment_id, run_name=run_dir.resolve().name).info.run_id

    def log_config(self, config: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        logged = self.client.get_run(self.run_id).data.params
        # MLflow refuses to change a param, and a resumed run's config is the same: log new ones only.
        params = [Param(key, value) for key, value in flatten(config).items() if key not in logged]
        for start in range(0, len(params), self.BATCH):
            self.client.log_batch(self.run_id, params=params[start : start + self.BATCH])

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(name, value, now, step) for name, value in scalars.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def close(self, failed: bool = False) -> None:
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


WRITERS: dict[str, Callable[[Path], Writer]] = {
    "tensorboard": TensorBoardWriter,
    "wandb": WandbWriter,
    "mlflow": MlflowWriter,
}


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings as dotted keys (``train.lr``), values as text (JSON unless a string)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return flat


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules as None: its import is blocked
        return False


def _import(report_to: str) -> Any:
    """The package behind ``report_to``, or the one-line error naming its extra."""
    try:
        return importlib.import_module(_MODULES[report_to])
    except ImportError:
        raise _missing(report_to) from None


def _missing(report_to: str) -> LikraError:
    return LikraError(
        f"--report-to {report_to} needs the {_MODULES[report_to]} package: pip install 'likra[{report_to}]'",
        field="report_to",
    )
