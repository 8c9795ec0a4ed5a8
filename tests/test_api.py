"""The public Python API: ``import likra`` is cheap and gives one function per CLI command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import likra
from likra.errors import LikraError

# Each CLI command and the function of ``likra`` that does the same.
COMMANDS = {
    "data list": "tasks",
    "data show": "items",
    "train": "train",
    "eval": "evaluate",
    "generate": "generate",
    "reproduce": "reproduce",
    "curve": "curve",
    "negatives": "negatives",
    "likelihoods": "likelihoods",
    "report": "report",
    "harness": "LikraLM",
}


def test_import_likra_loads_neither_torch_nor_transformers() -> None:
    code = "import sys, likra; print(sorted(m for m in ('torch', 'transformers', 'lm_eval') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_cli_command_has_its_function() -> None:
    from likra.cli import app

    commands = {c.name for c in app.registered_commands} | {
        f"{g.name} {c.name}" for g in app.registered_groups for c in g.typer_instance.registered_commands
    }
    assert commands == set(COMMANDS)
    for name in COMMANDS.values():
        assert name in likra.__all__ and callable(getattr(likra, name)), name
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        likra.trian  # noqa: B018


def test_tasks_and_items_are_what_the_data_commands_print(cli) -> None:
    code, out, _ = cli("data", "list", "--json")
    assert code == 0 and json.loads(out) == likra.tasks()
    shown = likra.items("arc_challenge", "test", limit=2, shots=1)
    assert len(shown) == 2 and shown[0].contexts[0].count("Question: ") == 2  # one demonstration first
    code, out, _ = cli("data", "show", "arc_challenge", "--split", "test", "-n", "2", "--shots", "1")
    assert code == 0 and out.startswith("arc_challenge [test]: 1172 items, showing 2")
    assert shown[1].contexts[0].splitlines()[-2] in out


def test_reproduce_takes_a_profile_name_and_refuses_an_unknown_one(tmp_path) -> None:
    with pytest.raises(LikraError, match="unknown profile 'quik'.*quick"):
        likra.reproduce(tmp_path / "exp", "quik")
    assert not (tmp_path / "exp").exists()


def test_negatives_is_a_curve_of_every_strategy(monkeypatch, tmp_path) -> None:
    import likra.api as api

    seen = {}
    monkeypatch.setattr(api, "reproduce", lambda exp, profile, **kw: seen.setdefault("profile", profile))
    api.negatives(tmp_path / "exp", max_questions=64, seeds=(1, 2))
    profile = seen["profile"]
    assert profile.negative_strategies == api.NEGATIVE_STRATEGIES[1:] and profile.seeds == (1, 2)
    assert profile.ablation is False
