"""Untrusted files never execute: safetensors only, pickle files refused unread, no remote code,
and names taken from data or the command line never become paths outside the run directory.

Every "malicious" file here would create a marker file if it were ever unpickled or imported;
each test checks the marker is absent.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import likra
from likra.errors import LikraError
from likra.layout import safe_child

SRC = Path(likra.__file__).resolve().parent


class Payload:
    """Unpickling this runs ``os.system("touch MARKER")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def write_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps({"weight": Payload(marker)}))
    return path


def test_payload_really_executes_when_unpickled(tmp_path: Path) -> None:
    """The control: the payload used below does run code when unpickled."""
    marker = tmp_path / "marker"
    pickle.loads(write_pickle(tmp_path / "x.pkl", marker).read_bytes())  # noqa: S301
    assert marker.exists()


# --- pickle files are refused, never read -------------------------------------------------------


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "model.pkl"])
def test_model_folder_with_only_pickle_weights(cli: Callable, tmp_path: Path, tiny_model_dir: Path, name: str) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "marker"
    write_pickle(folder / name, marker)
    code, _, err = cli(
        "train",
        tmp_path / "run",
        "--model",
        folder,
        "--task",
        "arc",
        "--max-questions",
        "2",
        "--batch-size",
        "2",
        "--quiet",
    )
    assert code == 2
    assert (
        f"error: {folder}: no .safetensors weights in the model folder (found pickle files ['{name}']; "
        "likra never loads pickle)" in err
    )
    assert not marker.exists()


def test_pickle_next_to_safetensors_is_ignored(tmp_path: Path, tiny_model_dir: Path) -> None:
    """With both present, only the safetensors file is read."""
    from likra.model.load import load_base

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    marker = tmp_path / "marker"
    write_pickle(folder / "pytorch_model.bin", marker)
    load_base(str(folder), device="cpu")
    assert not marker.exists()


def test_adapter_folder_with_pickle_weights(tmp_path: Path, tiny_model_dir: Path) -> None:
    from likra.model.heads import attach_heads, load_head_weights, save_heads
    from likra.model.load import load_base

    peft_model = attach_heads(load_base(str(tiny_model_dir), device="cpu").model)
    save_heads(peft_model, tmp_path / "heads")
    folder = tmp_path / "heads" / "pos"
    (folder / "adapter_model.safetensors").unlink()
    marker = tmp_path / "marker"
    write_pickle(folder / "adapter_model.bin", marker)
    with pytest.raises(
        LikraError,
        match=r"adapter weights are pickle files \(adapter_model\.bin\); likra "
        r"loads only safetensors and never unpickles",
    ) as info:
        load_head_weights(peft_model, folder, "pos")
    assert info.value.file == str(folder)
    assert not marker.exists()


def test_resume_state_with_pickle_weights(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    """An interrupted run whose resume/ heads were swapped for a pickle: refused, not read."""
    run = tmp_path / "run"
    args = (
        "train",
        run,
        "--model",
        tiny_model_dir,
        "--task",
        "arc",
        "--max-questions",
        "4",
        "--batch-size",
        "2",
        "--quiet",
    )
    assert cli(*args)[0] == 0
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["stages"]["train"]["status"] = "running"  # as if interrupted before the end
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "resume" / "neg" / "adapter_model.safetensors").unlink()
    marker = tmp_path / "marker"
    write_pickle(run / "resume" / "neg" / "adapter_model.bin", marker)
    code, _, err = cli(*args)
    assert code == 2 and "adapter weights are pickle files (adapter_model.bin)" in err
    assert not marker.exists()


# --- no remote code ---------------------------------------------------------------------------


def test_model_folder_with_remote_code_is_not_executed(tmp_path: Path, tiny_model_dir: Path) -> None:
    """config.json's auto_map points at a Python file; loading must never import it."""
    from likra.model.load import load_base

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    marker = tmp_path / "marker"
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    tok_config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config))
    (folder / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('pwned')\n"
        "from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast\n"
        "class EvilConfig(LlamaConfig): pass\n"
        "class EvilModel(LlamaForCausalLM): pass\n"
        "class EvilTokenizer(PreTrainedTokenizerFast): pass\n"
    )
    try:
        base = load_base(str(folder), device="cpu")
        assert type(base.model).__name__ == "LlamaForCausalLM"  # the library's own code
    except LikraError:
        pass  # refusing is fine too; running the file is not
    assert not marker.exists()


def test_no_trust_remote_code_anywhere() -> None:
    """Every from_pretrained call in likra passes trust_remote_code=False; none passes True."""
    calls = []
    for path in SRC.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "trust_remote_code=True" not in source.replace(" ", ""), path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "from_pretrained":
                keywords = {k.arg: k.value for k in node.keywords}
                value = keywords.get("trust_remote_code")
                calls.append(f"{path.name}:{node.lineno}")
                assert isinstance(value, ast.Constant) and value.value is False, f"{path}:{node.lineno}"
    assert calls  # the scan saw the loaders


# --- names from data never become paths outside the run directory ------------------------------


@pytest.mark.parametrize("name", ["..", ".", "", "../x", "a/b", "/etc", "a\\b", "x\x00y", "../../outside"])
def test_safe_child_refuses_escapes(tmp_path: Path, name: str) -> None:
    with pytest.raises(LikraError, match="unsafe name"):
        safe_child(tmp_path, name)


def test_safe_child_accepts_plain_names(tmp_path: Path) -> None:
    assert safe_child(tmp_path, "N-32") == (tmp_path / "N-32").resolve()
    assert safe_child(tmp_path, "..hidden").parent == tmp_path.resolve()


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def test_ids_with_path_parts_stay_data(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    """Item ids like '../../escape' or '/tmp/x' are kept as data; they never name a file."""
    box = tmp_path / "box"
    box.mkdir()
    data = box / "evil.jsonl"
    ids = ["../../escape", "/tmp/likra-escape", "..", "a/../../b", "C:\\evil"]
    rows = [
        {"id": i, "question": f"Which gas do plants take in {n}?", "choices": ["oxygen", "carbon dioxide"], "answer": 1}
        for n, i in enumerate(ids)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = box / "run"
    before = files_under(tmp_path)
    assert cli("train", run, "--model", tiny_model_dir, "--task", data, "--batch-size", "5", "--quiet")[0] == 0
    code, _, err = cli("eval", run, "--task", data, "--quiet")
    assert code == 0, err
    new = files_under(tmp_path) - before
    assert new and all(p == run or run in p.parents for p in new), sorted(new)
    assert not Path("/tmp/likra-escape").exists()
    scores = run / "eval" / "evil-test-0shot" / "N-5" / "scores.jsonl"
    assert [json.loads(line)["id"] for line in scores.read_text().splitlines()] == ids


@pytest.mark.parametrize("checkpoint", ["../../x", "../config.json", "/tmp/x", "N-0/../../y"])
def test_checkpoint_names_cannot_escape(cli: Callable, tmp_path: Path, tiny_model_dir: Path, checkpoint: str) -> None:
    run = tmp_path / "box" / "run"
    assert (
        cli(
            "train",
            run,
            "--model",
            tiny_model_dir,
            "--task",
            "arc",
            "--max-questions",
            "2",
            "--batch-size",
            "2",
            "--quiet",
        )[0]
        == 0
    )
    before = files_under(tmp_path)
    code, _, err = cli(
        "eval", run, "--task", "arc_easy", "--split", "test", "--limit", "2", "--checkpoint", checkpoint, "--quiet"
    )
    assert code == 2 and f"no checkpoint {checkpoint} in this run" in err
    assert files_under(tmp_path) == before


def test_split_name_cannot_escape(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    """A .jsonl task ignores --split, but the split is part of the output folder's name."""
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"question": "q?", "choices": ["a", "b"], "answer": 0}) + "\n")
    out = tmp_path / "box" / "out"
    before = files_under(tmp_path)
    code, _, err = cli(
        "eval", tiny_model_dir, "--task", data, "--split", "../../../../escaped", "--out", out, "--quiet"
    )
    assert code == 2 and "unsafe name for a file or folder" in err
    assert files_under(tmp_path) - before <= {out, out / ".lock"}
    assert not list(tmp_path.rglob("escaped*"))


@pytest.mark.parametrize("task", ["../../etc/passwd", "/etc/passwd", "..\\..\\x"])
def test_task_names_that_are_paths(cli: Callable, tmp_path: Path, tiny_model_dir: Path, task: str) -> None:
    code, _, err = cli("train", tmp_path / "run", "--model", tiny_model_dir, "--task", task, "--quiet")
    assert code == 2
    assert "file not found" in err or "expected a .jsonl file" in err
    assert not (tmp_path / "run").exists()
