"""Shared test fixtures: tiny random models (with and without BOS) and the real SmolLM2.

Fixtures (use them from any test file):

- ``fixture_texts``: every context/continuation text of the item fixtures (tokenizer corpus).
- ``tiny_model_dir`` / ``tiny_bos_model_dir`` (session): folders holding a tiny random Llama and
  a tokenizer trained on ``fixture_texts``; without BOS (GPT-2/SmolLM-like) and with a prepended
  BOS (SentencePiece-like). Pass the folder to ``load_base`` or use it as a ``model`` name.
- ``tiny_base`` / ``tiny_bos_base`` (function): a freshly loaded ``BaseModel`` from those folders
  (~0.05 s), so a test may attach heads or train without affecting other tests.
- ``real_base`` (function, backed by the session-scoped ``real_base_session``): the packaged
  ``smollm2-135m`` on CPU, loaded once per session (first load on a fresh machine converts the
  GGUF, ~20 s, into ``$LIKRA_CACHE`` or ``~/.cache/likra``). peft injects LoRA layers into the
  model object in place; ``real_base`` strips any such layers before and after each test, so
  every test sees the plain base model. Use it only in ``@pytest.mark.integration`` tests.
- ``strip_peft(model)``: that clean-up, for tests that wrap a shared model themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fixtures import fixture_names, load_fixture

# Tests ship their own tokenizer corpus: all fixture texts, so the tiny tokenizers see real words.


def _fixture_texts() -> list[str]:
    texts = []
    for name in fixture_names():
        for item in load_fixture(name):
            texts += list(item.contexts) + list(item.continuations)
            texts += list(item.train_contexts or ()) + list(item.train_continuations or ())
    return texts


@pytest.fixture(scope="session")
def fixture_texts() -> list[str]:
    return _fixture_texts()


def _save_tiny(tmp_path_factory: pytest.TempPathFactory, texts: list[str], bos: bool) -> Path:
    from likra.testing import save_tiny_model

    folder = tmp_path_factory.mktemp("tiny-bos" if bos else "tiny")
    return save_tiny_model(folder, texts, bos=bos, seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, fixture_texts: list[str]) -> Path:
    """Tiny random Llama + byte-level BPE tokenizer that adds no special tokens (like SmolLM2)."""
    return _save_tiny(tmp_path_factory, fixture_texts, bos=False)


@pytest.fixture(scope="session")
def tiny_bos_model_dir(tmp_path_factory: pytest.TempPathFactory, fixture_texts: list[str]) -> Path:
    """The same, but the tokenizer prepends a BOS token to every encoding (like Llama/Mistral)."""
    return _save_tiny(tmp_path_factory, fixture_texts, bos=True)


@pytest.fixture
def tiny_base(tiny_model_dir: Path):
    """A fresh ``BaseModel`` of the no-BOS tiny model, on CPU (free to mutate)."""
    from likra.model.load import load_base

    return load_base(str(tiny_model_dir), device="cpu")


@pytest.fixture
def tiny_bos_base(tiny_bos_model_dir: Path):
    """A fresh ``BaseModel`` of the BOS tiny model, on CPU (free to mutate)."""
    from likra.model.load import load_base

    return load_base(str(tiny_bos_model_dir), device="cpu")


def strip_peft(model) -> None:
    """Replace every peft tuner layer inside ``model`` by its base layer (in place).

    ``get_peft_model`` and ``PeftModel.from_pretrained`` modify the model they are given; this
    undoes that without needing the PeftModel object (like ``PeftModel.unload``).
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    names = [name for name, module in model.named_modules() if isinstance(module, BaseTunerLayer)]
    # Outermost first; nested tuner layers disappear with their parent.
    for name in sorted(names, key=lambda n: n.count(".")):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        module = getattr(parent, child, None)
        if isinstance(module, BaseTunerLayer):
            setattr(parent, child, module.get_base_layer())
    if hasattr(model, "peft_config"):
        del model.peft_config
    model.eval()
    model.requires_grad_(False)


@pytest.fixture(scope="session")
def real_base_session():
    """The packaged SmolLM2-135M on CPU, loaded once per test session."""
    from likra.model.load import load_base

    return load_base("smollm2-135m", device="cpu")


@pytest.fixture
def real_base(real_base_session) -> Iterator:
    """The session's SmolLM2-135M, guaranteed free of LoRA layers before and after the test."""
    strip_peft(real_base_session.model)
    yield real_base_session
    strip_peft(real_base_session.model)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Callable:
    """Run ``likra ARGS`` in-process (the console script's code path, without a ~3 s interpreter
    start); returns (exit code, stdout, stderr)."""
    from likra.cli import main

    def run(*args: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["likra", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run
