"""The documentation: every relative link resolves, the README stays a front page, and the CLI
reference (docs/cli.md) is what scripts/cli_reference.py generates from the CLI today."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"""<a\s+(?:name|id)=["']([^"']+)["']""")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # https:, mailto:, ...


def documents() -> list[Path]:
    docs = sorted((ROOT / "docs").rglob("*.md"))
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *docs]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text of any links, lowercased, punctuation dropped except
    hyphens, underscores and spaces, and each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a Markdown file: headings (GitHub numbers repeats -1, -2, ...) and HTML anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        found.update(HTML_ANCHOR.findall(line))
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every inline link, image and link definition outside code."""
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        line = INLINE_CODE.sub("", line)
        found += [(number, target) for target in LINK.findall(line)]
        found += [(number, target) for target in REFERENCE.findall(line)]
    return found


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not linked.exists():
            problems.append(f"{where} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{where} (no heading #{anchor} in {linked.relative_to(ROOT)})")
    return problems


def test_slug_follows_githubs_rules() -> None:
    assert slug("Where to add ...") == "where-to-add-"
    assert slug("Other ways to learn from the same negatives (`--method`)") == (
        "other-ways-to-learn-from-the-same-negatives---method"
    )
    assert slug("A second model: Gemma-3-270M base") == "a-second-model-gemma-3-270m-base"
    assert slug("Negative strategies, modes and metrics.json") == "negative-strategies-modes-and-metricsjson"
    assert slug("Use [the API](api.md) now") == "use-the-api-now"


def test_the_link_checker_finds_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "b.md").write_text("# B\n\n## Part two\n\n```\n## not a heading\n```\n", encoding="utf-8")
    page = tmp_path / "a.md"
    page.write_text(
        "[ok](b.md) [ok](b.md#part-two) [self](#a) ![img](missing.png) [bad](b.md#not-a-heading)\n"
        "`[in code](nowhere.md)` [web](https://example.com)\n\n# A\n\n```\n[fenced](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "a.md:1: missing.png (no such file)",
        "a.md:1: b.md#not-a-heading (no heading #not-a-heading in b.md)",
    ]


def test_every_relative_link_resolves() -> None:
    pages = documents()
    assert {"README.md", "CHANGELOG.md"} <= {p.name for p in pages} and len(pages) > 5
    assert len(links(ROOT / "README.md")) > 10  # the check below looks at real links
    problems = [problem for page in pages for problem in broken_links(page)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_readme_is_a_front_page() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail into docs/"
    )


def test_cli_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = module.render()
    assert "## likra train" in generated and "| `--model` |" in generated
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == generated, "docs/cli.md is stale: run python scripts/cli_reference.py"


# benchmarks/README.md: every result file is named <what>_<machine>_<YYYY-MM-DD>.json.
RESULT_FOLDERS = ("benchmarks/results", "docs/notes")
RESULT_NAME = re.compile(r"^[a-z0-9_]+_[a-z0-9]+(?:-[a-z0-9]+)*_\d{4}-\d{2}-\d{2}\.json$")
RESULT_MENTION = re.compile(r"(?:benchmarks/results|docs/notes)/[\w.-]+\.json")


def test_result_files_name_their_machine_and_day() -> None:
    files = [path for folder in RESULT_FOLDERS for path in sorted((ROOT / folder).glob("*.json"))]
    assert len(files) > 20
    misnamed = [str(path.relative_to(ROOT)) for path in files if not RESULT_NAME.match(path.name)]
    assert not misnamed, "not <what>_<machine>_<YYYY-MM-DD>.json:\n" + "\n".join(misnamed)


def test_every_result_file_named_in_the_tree_exists() -> None:
    """Links are checked above; result files are mostly named in code spans, docstrings and comments."""
    sources = documents() + [
        path
        for folder in ("src", "tests", "benchmarks", "scripts", "docs/notes")
        for path in (ROOT / folder).rglob("*.py")
    ]
    missing = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources
        for name in set(RESULT_MENTION.findall(path.read_text(encoding="utf-8")))
        if not (ROOT / name).exists()
    )
    assert not missing, "no such result file:\n" + "\n".join(missing)


HELP_RUNNER = """
import contextlib, io, runpy, sys
from pathlib import Path
for name in sys.argv[1:]:
    path = Path(name)
    sys.argv, sys.path[0] = [name, "--help"], str(path.parent)  # as `python path --help` runs it
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            runpy.run_path(name, run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code or 0
    except Exception as error:  # the script's imports or argument parser are broken
        code = repr(error)
    print(f"{name}\\t{code}\\t{'usage:' in out.getvalue()}")
"""


def test_every_benchmark_and_script_answers_help():
    """The scripts the docs tell readers to run still import and parse their arguments (one
    process for all of them: each alone would import torch again)."""
    import subprocess
    import sys

    scripts = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("benchmarks/*.py"), *ROOT.glob("scripts/*.py")])
    done = subprocess.run(
        [sys.executable, "-c", HELP_RUNNER, *scripts], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("\t") for line in done.stdout.splitlines() if line.count("\t") == 2]
    assert [r[0] for r in rows] == scripts
    broken = [f"{name}: {code}" for name, code, usage in rows if code != "0" or usage != "True"]
    assert not broken, broken
