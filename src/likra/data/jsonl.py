"""User data sets as JSONL: one multiple-choice question per line, checked strictly.

Each line is ``{"question": str, "choices": [str, ...], "answer": int}`` with optional ``id``
(str or int), ``context`` (the prompt; default ``"Question: {question}\\nAnswer:"``) and
``meta`` (an object, kept as is). Each choice is scored as ``" " + choice`` after the context,
as lm-evaluation-harness does. Every problem is a :class:`LikraError` naming file, line and field.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from likra.data.items import Item
from likra.data.registry import TASKS, get_task
from likra.errors import LikraError

MAX_LINE_BYTES = 10 * 1024 * 1024
DEFAULT_CONTEXT = "Question: {question}\nAnswer:"
_BOM = b"\xef\xbb\xbf"
_FIELDS = ("id", "question", "choices", "answer", "context", "meta")


def read_jsonl_items(path: str | Path, max_line_bytes: int = MAX_LINE_BYTES) -> list[Item]:
    """Read and validate a user JSONL file of multiple-choice questions.

    Lines are read one at a time with a size cap, so an oversized line is refused without
    loading it. Blank lines are skipped; a UTF-8 byte-order mark at the start is accepted.
    """
    path = Path(path)
    if not path.is_file():
        raise LikraError("file not found" if not path.exists() else "not a regular file", file=path)
    items: list[Item] = []
    first_line_of_id: dict[str, int] = {}
    # Opened here rather than in _text_lines so the file is closed as soon as an error is raised.
    with open(path, "rb") as handle:
        for line_no, text in _text_lines(handle, path, max_line_bytes):
            if not text.strip():
                continue
            item = _parse_record(_decode_json(text, path, line_no), path, line_no)
            _check_new_id(item.id, first_line_of_id, path, line_no)
            first_line_of_id[item.id] = line_no
            items.append(item)
    if not items:
        raise LikraError("no items: expected at least one JSON object line", file=path)
    return items


# --- reading lines ---------------------------------------------------------------------------


def _text_lines(handle: BinaryIO, path: Path, max_line_bytes: int) -> Iterator[tuple[int, str]]:
    """Each line as (1-based line number, text without its line ending), read lazily.

    Refuses a line over ``max_line_bytes`` or not valid UTF-8; drops a byte-order mark on line 1.
    """
    offset = 0  # byte offset of the current line in the file, for error messages
    for line_no in itertools.count(1):
        # +2 leaves room for "\r\n" so a line of exactly max_line_bytes is still accepted.
        raw = handle.readline(max_line_bytes + 2)
        if not raw:
            return
        start, offset = offset, offset + len(raw)
        body = raw.rstrip(b"\r\n") if raw.endswith(b"\n") else raw
        if len(body) > max_line_bytes:
            raise LikraError(
                f"line is longer than the limit of {max_line_bytes} bytes; "
                "each question must fit on one line of at most 10 MB",
                file=path,
                line=line_no,
            )
        if line_no == 1 and body.startswith(_BOM):
            body = body[len(_BOM) :]
            start += len(_BOM)
        yield line_no, _decode_utf8(body, start, path, line_no)


def _decode_utf8(body: bytes, start: int, path: Path, line_no: int) -> str:
    """The line as text; an error names the bad byte and its offset (``start``: line's offset)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LikraError(
            f"not valid UTF-8: byte {body[error.start]:#04x} at byte {error.start} of the "
            f"line (byte offset {start + error.start} in the file); save the file as UTF-8",
            file=path,
            line=line_no,
        ) from None


def _decode_json(text: str, path: Path, line_no: int) -> Any:
    """The line's JSON value (not yet checked to be a record)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise LikraError(
            f"invalid JSON: {error.msg} at column {error.colno}; expected one JSON object per line",
            file=path,
            line=line_no,
        ) from None
    except (ValueError, RecursionError) as error:  # e.g. 5000-digit ints, deep nesting
        raise LikraError(f"invalid JSON: {error}", file=path, line=line_no) from None


def _check_new_id(item_id: str, first_line_of_id: dict[str, int], path: Path, line_no: int) -> None:
    """Ids must be unique within the file: score rows and k-shot exclusion go by id."""
    if item_id in first_line_of_id:
        raise LikraError(
            f"duplicate id {item_id!r} (first used on line {first_line_of_id[item_id]})",
            file=path,
            line=line_no,
            field="id",
        )


# --- checking one record ---------------------------------------------------------------------


class _ErrorAt(Protocol):
    """Builds the LikraError for a problem on the current line, optionally naming a field."""

    def __call__(self, message: str, field: str | None = None) -> LikraError: ...


def _parse_record(record: Any, path: Path, line_no: int) -> Item:
    """Validate one decoded line, field by field in a fixed order, and build its item."""

    def err(message: str, field: str | None = None) -> LikraError:
        return LikraError(message, file=path, line=line_no, field=field)

    _check_fields(record, err)
    question = _check_text(record["question"], err, "question")
    choices = _check_choices(record["choices"], err)
    answer = _check_answer(record["answer"], choices, err)
    explicit_id = _check_id(record.get("id"), err)
    context = DEFAULT_CONTEXT.format(question=question)
    if "context" in record:
        context = _check_text(record["context"], err, "context")
    meta = record.get("meta", {})
    if not isinstance(meta, dict):
        raise err(f"expected a JSON object, got {type(meta).__name__}", "meta")

    item_id = str(explicit_id) if explicit_id is not None else f"{path.stem}-{line_no}"
    item = Item.shared(id=item_id, question=question, context=context, choices=choices, gold=answer)
    item.meta.update(meta)
    return item


def _check_fields(record: Any, err: _ErrorAt) -> None:
    """A JSON object with only known fields and every required one."""
    if not isinstance(record, dict):
        raise err(
            f'expected a JSON object like {{"question": ..., "choices": [...], "answer": 0}}, '
            f"got a JSON {type(record).__name__}"
        )
    unknown = sorted(set(record) - set(_FIELDS))
    if unknown:
        raise err(f"unknown field; valid fields are {', '.join(_FIELDS)}", unknown[0])
    for name in ("question", "choices", "answer"):
        if name not in record:
            raise err("missing required field", name)


def _check_text(value: Any, err: _ErrorAt, field: str) -> str:
    """A non-blank string that can be encoded as UTF-8 (tokenizers need that)."""
    if not isinstance(value, str):
        raise err(f"expected a string, got {type(value).__name__}", field)
    if not value.strip():
        raise err("expected a non-empty string, got an empty or whitespace-only one", field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise err("contains a lone surrogate escape (\\ud800-\\udfff): not valid text", field) from None
    return value


def _check_choices(choices: Any, err: _ErrorAt) -> list[str]:
    """At least two choices, each a valid text."""
    if not isinstance(choices, list):
        raise err(f"expected a list of strings, got {type(choices).__name__}", "choices")
    if len(choices) < 2:
        raise err(f"expected at least 2 choices, got {len(choices)}", "choices")
    for i, choice in enumerate(choices):
        _check_text(choice, err, f"choices[{i}]")
    return choices


def _check_answer(answer: Any, choices: list[str], err: _ErrorAt) -> int:
    """An index into ``choices`` whose text no wrong choice repeats (it could not be told apart)."""
    # bool is an int subclass in Python, but true/false is almost surely a mistake here.
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise err(f"expected an integer index into choices, got {json.dumps(answer)}", "answer")
    if not 0 <= answer < len(choices):
        raise err(f"expected an index from 0 to {len(choices) - 1}, got {answer}", "answer")
    gold_text = choices[answer].strip()
    for i, choice in enumerate(choices):
        if i != answer and choice.strip() == gold_text:
            raise err(
                f"the correct answer {choices[answer]!r} (choice {answer}) is repeated as a wrong choice",
                f"choices[{i}]",
            )
    return answer


def _check_id(explicit_id: Any, err: _ErrorAt) -> str | int | None:
    """An optional non-blank string or integer id (None when absent or null)."""
    if explicit_id is None:
        return None
    if isinstance(explicit_id, bool) or not isinstance(explicit_id, (str, int)):
        raise err(f"expected a string or integer, got {json.dumps(explicit_id)}", "id")
    if isinstance(explicit_id, str) and not explicit_id.strip():
        raise err("expected a non-empty id", "id")
    return explicit_id


TASK_FILE_FORMATS = "a .jsonl file (one JSON object per line) or a task name (see 'likra data list')"


def looks_like_path(name: str) -> bool:
    """True when a task argument is meant as a file rather than a registered task name: it has
    a folder part or a file suffix (``data.jsonl``, ``train.csv``), or it is no task name and
    exists here (a file or folder called ``mydata``). A task name always means the task."""
    if name in TASKS:
        return False
    path = Path(name)
    return "/" in name or "\\" in name or bool(path.suffix) or path.exists()


def resolve_items(task_or_path: str, split: str) -> list[Item]:
    """Items of a registered task's split, or of a ``.jsonl`` file (``split`` is then ignored)."""
    if looks_like_path(task_or_path):
        path = Path(task_or_path)
        if not path.exists():
            raise LikraError(
                "file not found (a task argument that looks like a path must be an existing .jsonl file)",
                file=path,
            )
        if path.is_dir():
            raise LikraError(f"a folder, not a task file: expected {TASK_FILE_FORMATS}", file=path)
        if path.suffix != ".jsonl":
            kind = f"{path.suffix} files" if path.suffix else "files without the .jsonl suffix"
            raise LikraError(f"not a task file (likra does not read {kind}): expected {TASK_FILE_FORMATS}", file=path)
        return read_jsonl_items(path)
    return get_task(task_or_path).load(split)
