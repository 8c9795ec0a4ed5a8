"""The user JSONL reader: valid records parse back; every bad input is a LikraError naming
file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from likra.data import jsonl
from likra.data.jsonl import read_jsonl_items, resolve_items
from likra.errors import LikraError

GOOD = {"question": "What is 2 + 2?", "choices": ["3", "4", "5"], "answer": 1}


def write(tmp_path: Path, lines: list, name: str = "data.jsonl") -> Path:
    """A JSONL file of ``lines`` (dicts are dumped, str/bytes written as they are)."""
    out = b""
    for line in lines:
        if isinstance(line, bytes):
            out += line + b"\n"
        elif isinstance(line, str):
            out += line.encode("utf-8") + b"\n"
        else:
            out += json.dumps(line).encode("utf-8") + b"\n"
    path = tmp_path / name
    path.write_bytes(out)
    return path


def expect_error(path: Path, line: int | None, field: str | None, *words: str) -> LikraError:
    with pytest.raises(LikraError) as info:
        read_jsonl_items(path)
    error = info.value
    message = str(error)
    assert error.file == str(path) and str(path) in message
    assert error.line == line
    if line is not None:
        assert f"{path}:{line}" in message
    assert error.field == field
    if field is not None:
        assert f"'{field}'" in message
    for word in words:
        assert word in message, message
    return error


# --- valid input ---------------------------------------------------------------------------------


def test_reads_default_format(tmp_path: Path) -> None:
    path = write(tmp_path, [GOOD, "", "   ", {**GOOD, "id": 7, "context": "Q: sum?\nA:"}])
    first, second = read_jsonl_items(path)
    assert first.id == "data-1"  # default id: file stem and 1-based line
    assert first.contexts == ("Question: What is 2 + 2?\nAnswer:",) * 3
    assert first.continuations == (" 3", " 4", " 5")
    assert first.gold == 1 and first.choices == ("3", "4", "5")
    assert second.id == "7" and second.contexts[0] == "Q: sum?\nA:"


def test_bom_and_crlf_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\r\n" + json.dumps(GOOD).encode() + b"\r\n")
    assert [i.id for i in read_jsonl_items(path)] == ["bom-1", "bom-2"]


def test_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(GOOD))
    assert len(read_jsonl_items(path)) == 1


texts = st.text(min_size=1, max_size=30).filter(lambda s: s.strip())


@st.composite
def records(draw: st.DrawFn) -> dict:
    choices = draw(st.lists(texts, min_size=2, max_size=6, unique_by=lambda s: s.strip()))
    record = {
        "question": draw(texts),
        "choices": choices,
        "answer": draw(st.integers(0, len(choices) - 1)),
    }
    if draw(st.booleans()):
        record["context"] = draw(texts)
    return record


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(records(), min_size=1, max_size=5), ascii_only=st.booleans())
def test_valid_records_parse_back(tmp_path: Path, rows: list[dict], ascii_only: bool) -> None:
    path = tmp_path / "gen.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in rows), encoding="utf-8")
    items = read_jsonl_items(path)
    assert len(items) == len(rows)
    for item, row in zip(items, rows):
        assert item.question == row["question"]
        assert item.choices == tuple(row["choices"])
        assert item.gold == row["answer"]
        assert item.continuations == tuple(" " + c for c in row["choices"])
        assert set(item.contexts) == {row.get("context", f"Question: {row['question']}\nAnswer:")}


garbage_line = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=60).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["question", "choices", "answer", "id", "context", "meta", "x"]),
                inner,
                max_size=5,
            )
        ),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(garbage_line, max_size=4))
def test_garbage_raises_only_likra_error(tmp_path: Path, lines: list[bytes]) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b"\n".join(lines))
    try:
        read_jsonl_items(path)
    except LikraError as error:
        assert error.file == str(path)


# --- one test per bad input ----------------------------------------------------------------------


def test_invalid_json(tmp_path: Path) -> None:
    expect_error(write(tmp_path, [GOOD, '{"question": "q", ']), 2, None, "invalid JSON")


def test_not_an_object(tmp_path: Path) -> None:
    expect_error(write(tmp_path, [[1, 2]]), 1, None, "expected a JSON object", "list")


@pytest.mark.parametrize("field", ["question", "choices", "answer"])
def test_missing_field(tmp_path: Path, field: str) -> None:
    record = {k: v for k, v in GOOD.items() if k != field}
    expect_error(write(tmp_path, [GOOD, record]), 2, field, "missing required field")


@pytest.mark.parametrize("answer", ["1", 1.0, None, True, False, [1]])
def test_answer_not_integer(tmp_path: Path, answer: object) -> None:
    expect_error(write(tmp_path, [{**GOOD, "answer": answer}]), 1, "answer", "expected an integer")


@pytest.mark.parametrize("answer", [-1, 3, 100])
def test_answer_out_of_range(tmp_path: Path, answer: int) -> None:
    expect_error(write(tmp_path, [{**GOOD, "answer": answer}]), 1, "answer", "from 0 to 2", str(answer))


@pytest.mark.parametrize("choices", [[], ["only"]])
def test_fewer_than_two_choices(tmp_path: Path, choices: list) -> None:
    expect_error(write(tmp_path, [{**GOOD, "choices": choices, "answer": 0}]), 1, "choices", "at least 2")


def test_choices_not_a_list(tmp_path: Path) -> None:
    expect_error(write(tmp_path, [{**GOOD, "choices": "3, 4"}]), 1, "choices", "expected a list of strings")


def test_choice_not_a_string(tmp_path: Path) -> None:
    expect_error(write(tmp_path, [{**GOOD, "choices": ["3", 4, "5"]}]), 1, "choices[1]", "expected a string")


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_blank_choice(tmp_path: Path, blank: str) -> None:
    expect_error(
        write(tmp_path, [{**GOOD, "choices": ["3", "4", blank]}]),
        1,
        "choices[2]",
        "empty or whitespace",
    )


@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_question(tmp_path: Path, blank: str) -> None:
    expect_error(write(tmp_path, [{**GOOD, "question": blank}]), 1, "question", "empty or whitespace")


def test_question_not_a_string(tmp_path: Path) -> None:
    expect_error(write(tmp_path, [{**GOOD, "question": 5}]), 1, "question", "expected a string")


def test_gold_repeated_among_wrong_choices(tmp_path: Path) -> None:
    expect_error(write(tmp_path, [{**GOOD, "choices": ["3", "4", "4 "]}]), 1, "choices[2]", "repeated")


def test_duplicate_ids(tmp_path: Path) -> None:
    error = expect_error(write(tmp_path, [{**GOOD, "id": "a"}, GOOD, {**GOOD, "id": "a"}]), 3, "id", "duplicate id")
    assert "line 1" in str(error)


def test_explicit_id_colliding_with_default_id(tmp_path: Path) -> None:
    expect_error(write(tmp_path, [{**GOOD, "id": "data-2"}, GOOD]), 2, "id", "duplicate id")


@pytest.mark.parametrize("bad_id", [True, 1.5, [], ""])
def test_bad_id_type(tmp_path: Path, bad_id: object) -> None:
    expect_error(write(tmp_path, [{**GOOD, "id": bad_id}]), 1, "id", "expected a")


def test_bad_context(tmp_path: Path) -> None:
    expect_error(write(tmp_path, [{**GOOD, "context": 3}]), 1, "context", "expected a string")


def test_unknown_field(tmp_path: Path) -> None:
    expect_error(write(tmp_path, [{**GOOD, "anwser": 1}]), 1, "anwser", "unknown field")


def test_lone_surrogate(tmp_path: Path) -> None:
    expect_error(
        write(tmp_path, ['{"question": "a\\ud800", "choices": ["x", "y"], "answer": 0}']),
        1,
        "question",
        "surrogate",
    )


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, [GOOD, b'{"question": "caf\xe9", "choices": ["a", "b"], "answer": 0}'])
    first_line = len(json.dumps(GOOD)) + 1
    expect_error(
        path,
        2,
        None,
        "not valid UTF-8",
        "0xe9",
        "byte 17 of the line",
        f"byte offset {first_line + 17}",
    )


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    expect_error(path, None, None, "no items")
    expect_error(write(tmp_path, ["", "  "], "blank.jsonl"), None, None, "no items")


def test_huge_line_refused_without_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.jsonl"
    big = 10 * 1024 * 1024 + 10
    with open(path, "wb") as handle:
        handle.write(json.dumps(GOOD).encode() + b"\n")
        handle.write(b'{"question": "' + b"x" * big + b'", "choices": ["a", "b"], "answer": 0}\n')
    sizes: list[int] = []
    real_open = open

    class Spy:
        def __init__(self, handle):  # noqa: ANN001
            self.handle = handle

        def __enter__(self):  # noqa: ANN204
            return self

        def __exit__(self, *exc):  # noqa: ANN002, ANN204
            self.handle.close()

        def readline(self, limit: int = -1) -> bytes:
            assert limit > 0, "reads must be bounded"
            data = self.handle.readline(limit)
            sizes.append(len(data))
            return data

    monkeypatch.setattr(jsonl, "open", lambda p, mode: Spy(real_open(p, mode)), raising=False)
    expect_error(path, 2, None, "longer than the limit")
    assert max(sizes) <= jsonl.MAX_LINE_BYTES + 2


def test_line_at_the_limit_is_fine(tmp_path: Path) -> None:
    line = json.dumps(GOOD).encode()
    path = tmp_path / "edge.jsonl"
    # line 1 is exactly the limit (plus CRLF); line 2 is one byte over it
    path.write_bytes(line + b"\r\n" + line[:-1] + b" }\n")
    with pytest.raises(LikraError, match="longer than the limit"):
        read_jsonl_items(path, max_line_bytes=len(line))
    assert len(read_jsonl_items(path, max_line_bytes=len(line) + 1)) == 2


# --- resolve_items -------------------------------------------------------------------------------


def test_resolve_items_reads_jsonl_paths(tmp_path: Path) -> None:
    path = write(tmp_path, [GOOD])
    assert resolve_items(str(path), "ignored")[0].id == "data-1"


def test_resolve_items_missing_path(tmp_path: Path) -> None:
    for name in (str(tmp_path / "nope.jsonl"), "some/dir/task"):
        with pytest.raises(LikraError, match="file not found"):
            resolve_items(name, "test")


def test_resolve_items_wrong_suffix(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(GOOD))
    with pytest.raises(LikraError, match="expected a .jsonl file"):
        resolve_items(str(path), "test")


def test_resolve_items_task_names() -> None:
    with pytest.raises(LikraError, match="Did you mean 'piqa'"):
        resolve_items("piqaa", "validation")
    with pytest.raises(LikraError, match="unknown split"):
        resolve_items("sciq", "train")


@pytest.mark.parametrize(
    "line",
    ["[" * 100_000, '{"question": "q", "choices": ["a", "b"], "answer": ' + "1" * 5000 + "}"],
)
def test_pathological_json(tmp_path: Path, line: str) -> None:
    """Deep nesting (RecursionError) and 5000-digit ints (ValueError) are user errors too."""
    expect_error(write(tmp_path, [line]), 1, None, "invalid JSON")
