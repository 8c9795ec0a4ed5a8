"""The experiment report: REPORT.md with tables and plots, plus CSV/JSON of every number."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from statistics import fmean

from likra.experiments.analysis import (
    CURVE_MODES,
    ExperimentResults,
    curve_table,
    likelihood_table,
    main_key,
    weighting_table,
)
from likra.experiments.findings import assess
from likra.experiments.open_ended import empty_matrix, grade_matrix
from likra.experiments.profiles import Profile, method_lr
from likra.experiments.rules import NEAR_MARGIN, mean_of
from likra.experiments.stats import Estimate
from likra.generation.grading import DECIDING_GRADER, F1_THRESHOLD, GRADERS, GRADES
from likra.io import atomic_write_json, atomic_write_text
from likra.layout import ABLATED_SUFFIX, curve_group, eval_set_title, task_label
from likra.methods import DEFAULT_METHOD, METHODS, get_method
from likra.metrics import MODES, predictions
from likra.reporting.plots import learning_curves, weighting_plot

# Read off the reference's figures (ARC-Challenge test, acc_norm, most likely Mistral-7B, 5-shot).
PAPER_ARC_C = [
    (0, 0.600, None, None),
    (64, 0.613, 0.631, 0.595),
    (128, 0.612, 0.764, 0.742),
    (256, 0.624, 0.799, 0.793),
    (512, 0.639, 0.800, 0.774),
    (1024, 0.627, 0.801, 0.783),
    (2048, 0.640, 0.812, 0.784),
    (4096, 0.648, 0.812, 0.767),
    (6615, 0.663, 0.818, 0.775),
]

# The one line of REPORT.md that records the invocation (wall time, CPU), not the data: a report
# rebuilt from its score tables differs from the committed one there only.
RUN_FACTS = "Run facts: "


def without_run_facts(text: str) -> list[str]:
    """REPORT.md's lines without the run-facts line: what a rebuild must reproduce."""
    return [line for line in text.splitlines() if not line.startswith(RUN_FACTS)]


def _cell(value: Estimate | None) -> str:
    return "" if value is None else value.fmt()


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def eval_title(profile: Profile, eval_key: str) -> str:
    """The evaluation set's name in titles (``test``, not ``test-test``); ``eval_key`` stays the
    name of files, folders and CSV columns, which existing experiments already use."""
    for study in profile.studies:
        for eval_set in study.eval_sets:
            if eval_set.key == eval_key:
                return eval_set_title(eval_set.task, eval_set.split, eval_set.limit)
    return eval_key


def _points(table: list[dict], mode: str) -> list[tuple[int, float, float, float]]:
    return [(r["N"], r[mode].value, r[mode].lo, r[mode].hi) for r in table if mode in r]


def write_report(out: Path, results: ExperimentResults, facts: dict | None = None) -> Path:
    """Write ``out/REPORT.md`` with its plots, ``curves.csv``, ``per_item.csv`` and
    ``findings.json``; return the path of REPORT.md."""
    out.mkdir(parents=True, exist_ok=True)
    main = main_key(results.profile)
    findings = assess(results)
    atomic_write_json(out / "findings.json", [f.to_dict() for f in findings])
    curve_md, csv_rows = _curve_sections(results, out)
    md = (
        _configuration(results.profile, facts)
        + _incomplete(results)
        + _findings(findings, underpowered_note(results, main))
        + curve_md
        + _likelihoods(results, main)
        + _weighting(results, main, out)
        + _value(findings)
        + _selective(findings)
        + _open_ended(results)
        + _paper_comparison(results, main)
        + _files()
    )
    _write_csv(out / "curves.csv", csv_rows)
    _per_item(out / "per_item.csv", results, main)
    path = out / "REPORT.md"
    atomic_write_text(path, "\n".join(md) + "\n")
    return path


def _incomplete(results: ExperimentResults) -> list[str]:
    """A warning above the verdicts when planned runs have no score tables (an experiment still
    running, a part not yet run, or folders deleted by hand): the verdicts rest on what is there."""
    if not results.missing_runs:
        return []
    names = ", ".join(f"`{name}`" for name in results.missing_runs)
    return [
        f"**Incomplete: {len(results.missing_runs)} planned run(s) have no score tables** ({names}); "
        "every number below rests on the runs that have them. `likra reproduce` with this profile "
        "runs the missing ones.",
        "",
    ]


def _configuration(profile, facts: dict | None) -> list[str]:
    points = (
        "checkpoints of one run per seed (the reference’s way)"
        if profile.points == "checkpoints"
        else "independent runs on nested subsets"
    )
    md = [
        f"# likra experiment report: profile `{profile.name}`",
        "",
        profile.description,
        "",
        "## Configuration",
        "",
        f"- model: `{profile.model}`; learning rate {profile.lr} (constant AdamW); batch {profile.batch_size} "
        f"questions; seeds {list(profile.seeds)} (each seed = a different question order); {profile.shots}-shot",
        f"- curve points: **{points}**",
        f"- negative types: {', '.join(profile.negative_strategies)} (seeds {list(profile.negatives_seeds)}, "
        f"up to N={profile.negatives_max_questions or 'all'}); question-ablated control: {profile.ablation}",
        *(
            [
                "- other methods on the main curve's questions, negatives and seeds: "
                + ", ".join(f"{m} (lr {method_lr(profile, m)})" for m in profile.methods)
                + f", up to N={profile.methods_max_questions or 'as the main curve'}"
            ]
            if profile.methods
            else []
        ),
        "- metric: acc_norm (log-likelihood / characters, lm-eval's definition) unless stated; every interval is "
        "a 95% two-level bootstrap (training seeds, then items; paired across the quantities of one comparison; "
        "docs/method.md)",
        '- `answer-prior` = log P(a|q) - log P(a|"Answer:") of the untrained model, per character, 0-shot '
        "denominator; it is *not* lm-eval's acc_mutual_info (empty context, no length normalisation)",
        "- N = 0 is the base model for sft/base; untrained likra/neg-only/pos-base tie every score at 0 "
        "(marked ×: the tie rule picks the first choice)",
        "",
    ]
    if facts:
        md += [RUN_FACTS + "; ".join(f"{k}: {v}" for k, v in facts.items()), ""]
    return md


# The default profile is sized for a main-curve 95% half-width of about 0.05 (0.052 for likra at
# N = 256 with the t-based seed level). Half again as wide, a rule can resolve only effects half
# again as large, and "inconclusive" says little.
POWERED_HALF_WIDTH = 0.075


def underpowered_note(results: ExperimentResults, key) -> list[str]:
    """A bold line opening the findings when the main curve, at its largest N, is too noisy to
    decide (computed from the data, whatever the profile is called)."""
    sizes = results.sizes(key) if results.tables.get(key) else []
    if not sizes:
        return []
    n = sizes[-1]
    return power_note(n, {m: results.point(key, n, MODES[m]) for m in ("sft", "likra")})


def power_note(n: int, estimates: dict[str, Estimate]) -> list[str]:
    """The note when the widest of ``estimates`` (accuracy at N = ``n``), as the report prints it
    (3 decimals), is wider than ``POWERED_HALF_WIDTH``; nothing otherwise."""
    mode, widest = max(estimates.items(), key=lambda kv: kv[1].half_width)
    if not round(widest.half_width, 3) > POWERED_HALF_WIDTH:
        return []
    return [
        f"**Underpowered: at the main curve's largest N ({n}) the 95% half-width of {mode}'s accuracy is "
        f"±{widest.half_width:.3f}, wider than ±{POWERED_HALF_WIDTH:.3f} (the default profile: about ±0.05). "
        "Only effects larger than that can decide a rule, so inconclusive here says little.**",
        "",
    ]


def _findings(findings: list, note: list[str] | None = None) -> list[str]:
    rules = []
    for f in findings:
        for t in f.tests:
            rules.append([f.number, t.name, t.rule.describe(), t.verdict_text()])
    md = [
        "## Findings",
        "",
        *(note or []),
        "Each verdict is decided by a rule declared before the data (below): a statistic T, the side of a "
        "margin the paper predicts, and T's 95% interval. holds: the whole interval is on the paper's side; "
        "does not hold: the whole interval is on the other side; inconclusive: otherwise. A finding with "
        "several parts holds only where every part holds. Per-seed values of T follow each estimate. "
        f"A part whose interval ends within {NEAR_MARGIN:g} of its width from the margin is marked near the "
        "margin: a re-run on another CPU or training precision may turn it.",
        "",
        _md_table(
            ["#", "claim", "verdict", "deciding numbers"],
            [
                [f.number, f.claim, f"**{f.verdict}**" + (" (near the margin)" if f.near_margin else ""), f.evidence]
                for f in findings
            ],
        ),
        "",
    ]
    if rules:
        md += ["### The rules", "", _md_table(["#", "part", "rule", "verdict"], rules), ""]
    return md


def _curve_sections(results: ExperimentResults, out: Path) -> tuple[list[str], list[dict]]:
    """A learning-curve section (plot + table) per study and eval set, and the CSV rows."""
    md: list[str] = []
    csv_rows: list[dict] = []
    for study in results.profile.studies:
        for eval_set in study.eval_sets:
            key = (study.train_task, eval_set.key, "first")
            table = curve_table(results, key)
            if not table:
                continue
            md += _curve_section(results, key, table, out)
            csv_rows += _curve_csv_rows(results, key, table)
            md += _negative_types(results, study.train_task, eval_set.key, out, csv_rows)
            md += _methods(results, key, out, csv_rows)
    return md, csv_rows


METHOD_ORDER = tuple(m for m in METHODS if m != DEFAULT_METHOD)  # the methods' table order


def _methods(results: ExperimentResults, key, out: Path, csv_rows: list[dict]) -> list[str]:
    """One curve per training method on the same questions and negatives (finding 10)."""
    train_task, eval_key, _ = key
    others = results.method_keys(train_task, eval_key)
    if not others:
        return []
    columns = _method_columns(results, key, others, csv_rows)
    method_columns = [name for name in columns if name not in ("base", "sft", "likra")]
    sizes = sorted({n for name in method_columns for n in columns[name]})
    curves = {
        name: [(n, e.value, e.lo, e.hi) for n, e in sorted(column.items()) if n in sizes]
        for name, column in columns.items()
        if not name.endswith("-ratio") and name != "sft run: pos-base"
    }
    title = eval_title(results.profile, eval_key)
    plot = learning_curves(
        curves,
        f"methods on the same negatives: {train_task} -> {title} ({len(results.seeds[key])} seeds)",
        out / f"methods-{task_label(train_task)}-{eval_key}.png",
    )
    header = ["N", *columns]
    rows = [[n, *(_cell(col.get(n)) for col in columns.values())] for n in sizes]
    return [
        f"### Methods that learn from the same negatives ({title})",
        "",
        "Each method trains one model (a LoRA adapter) on the main curve's questions, `first` negatives, seeds and "
        "batches; `<method>` scores with log P under the adapter (the model as deployed), `<method>-ratio` with "
        "log P_adapter - log P_base (for DPO, its implicit reward up to beta). likra and sft are the main curve's. "
        "Finding 10 decides on `<method>`.",
        "",
        f"![methods]({plot.name})",
        "",
        _md_table(header, rows),
        "",
    ]


def _method_columns(results: ExperimentResults, key, others: dict, csv_rows: list[dict]) -> dict[str, dict]:
    """``{column: {N: Estimate}}``: base, sft and likra of the main curve, then each method's two
    modes (their points also go to ``csv_rows``)."""
    train_task, eval_key, _ = key
    main = curve_table(results, key, modes=("base", "sft", "likra"))
    columns: dict[str, dict[int, Estimate]] = {m: {r["N"]: r[m] for r in main} for m in ("base", "sft", "likra")}
    for method in [m for m in METHOD_ORDER if m in others]:
        modes = get_method(method).report_modes
        table = curve_table(results, others[method], modes=modes)
        # sft's run shares a mode name with the main curve's columns: then say whose they are.
        clash = any(mode in columns for mode in modes)
        for mode in modes:
            columns[f"{method} run: {mode}" if clash else mode] = {r["N"]: r[mode] for r in table}
            csv_rows += [
                {
                    "train": train_task,
                    "eval": eval_key,
                    "negatives": f"first ({method})",
                    "N": r["N"],
                    "mode": mode,
                    "acc_norm": r[mode].value,
                    "lo": r[mode].lo,
                    "hi": r[mode].hi,
                    "acc": float(results.correct(others[method], r["N"], MODES[mode], normalise=False).mean()),
                }
                for r in table
            ]
    return columns


def _curve_section(results: ExperimentResults, key, table: list[dict], out: Path) -> list[str]:
    train_task, eval_key, _ = key
    noq = curve_table(results, (train_task, eval_key, curve_group("first", ablated=True)), modes=("likra",))
    curves = {m: _points(table, m) for m in CURVE_MODES if m != "pos-base"}
    curves["pos-base"] = _points(table, "pos-base")
    if noq:
        curves["likra (no question)"] = _points(noq, "likra")
    tie = float(results.correct(key, 0, MODES["likra"]).mean()) if 0 in results.tables[key] else None
    model = Path(results.profile.model).name
    eval_name = eval_title(results.profile, eval_key)
    title = f"{task_label(train_task)} -> {eval_name} ({model}, {len(results.seeds[key])} seeds)"
    plot = learning_curves(curves, title, out / f"curve-{task_label(train_task)}-{eval_key}.png", tie)
    modes = [m for m in CURVE_MODES if m in table[-1]]
    overlap = {r["N"]: results.overlap(key, r["N"]) for r in table}
    rows = [
        [r["N"]]
        + [_cell(r.get(m)) for m in modes]
        + ([_cell(next((q["likra"] for q in noq if q["N"] == r["N"]), None))] if noq else [])
        + ["?" if overlap[r["N"]] is None else overlap[r["N"]]]
        for r in table
    ]
    leaked = max((v or 0) for v in overlap.values())
    warning = (
        [
            f"**Leakage: up to {leaked} of these evaluation items are among the training questions** "
            "(column `in training`); no finding uses this set.",
            "",
        ]
        if leaked
        else []
    )
    return [
        f"## Learning curve: train `{train_task}`, evaluate `{eval_name}`",
        "",
        f"![learning curve]({plot.name})",
        "",
        *warning,
        _md_table(["N"] + modes + (["likra (no question)"] if noq else []) + ["in training"], rows),
        "",
        "`in training`: evaluation items among the first N training questions of any seed's run.",
        "",
    ]


def _curve_csv_rows(results: ExperimentResults, key, table: list[dict]) -> list[dict]:
    train_task, eval_key, _ = key
    modes = [m for m in CURVE_MODES if m in table[-1]]
    return [
        {
            "train": train_task,
            "eval": eval_key,
            "negatives": "first",
            "N": r["N"],
            "mode": m,
            "acc_norm": r[m].value,
            "lo": r[m].lo,
            "hi": r[m].hi,
            "acc": float(results.correct(key, r["N"], MODES[m], normalise=False).mean()),
        }
        for r in table
        for m in modes
    ]


def _paper_comparison(results: ExperimentResults, main) -> list[str]:
    ours = {r["N"]: r for r in curve_table(results, main)} if results.tables.get(main) else {}

    def cell(n: int, mode: str) -> str:
        return _cell(ours[n][mode]) if n in ours else ""

    rows = [
        [
            n,
            f"{s:.3f}",
            f"{lk:.3f}" if lk else "tie",
            f"{no:.3f}" if no else "tie",
            cell(n, "sft"),
            cell(n, "likra"),
            cell(n, "neg-only"),
        ]
        for n, s, lk, no in PAPER_ARC_C
    ]
    train_task, eval_set, _ = main
    # The paper draws its learning curve for ARC-Challenge only.
    other = (
        ""
        if train_task == "arc" and eval_set.startswith("arc_challenge")
        else (
            f" **The paper reports this curve for ARC-Challenge only; ours here is "
            f"{eval_title(results.profile, eval_set)}, so the columns "
            "compare two benchmarks.**"
        )
    )
    return [
        "## The paper's numbers beside ours",
        "",
        "The paper's ARC-Challenge curve (read off its figures) used a 7B model (most likely Mistral-7B-v0.1), "
        "5-shot prompts, batch 32 and the whole ARC pool; ours is the configuration above. Compare shapes, "
        "not levels." + other,
        "",
        _md_table(["N", "paper sft", "paper likra", "paper neg-only", "ours sft", "ours likra", "ours neg-only"], rows),
        "",
    ]


def _files() -> list[str]:
    return [
        "## Files",
        "",
        "- `curves.csv`: every curve point (acc_norm with CI, and acc)",
        "- `findings.json`: the verdicts and their numbers",
        "- `per_item.csv`: per item, seed and N, whether each mode was right (main curve)",
        "- per-choice log-likelihoods under base/pos/neg: `runs/<task>/<run>/eval/<set>/<N>/scores.jsonl`",
        "",
    ]


def _negative_types(results, train_task, eval_key, out, csv_rows) -> list[str]:
    groups = sorted(
        {
            g
            for (t, e, g) in results.tables
            if t == train_task
            and e == eval_key
            and not g.endswith(ABLATED_SUFFIX)
            and results.method((t, e, g)) == "likra"
        }
    )
    if len(groups) < 2:
        return []
    curves, rows = {}, []
    for group in groups:
        table = curve_table(results, (train_task, eval_key, group), modes=("likra", "neg-only"))
        curves[f"likra, {group}"] = _points(table, "likra")
        for r in table:
            rows.append([group, r["N"], _cell(r["likra"]), _cell(r["neg-only"])])
            csv_rows.append(
                {
                    "train": train_task,
                    "eval": eval_key,
                    "negatives": group,
                    "N": r["N"],
                    "mode": "likra",
                    "acc_norm": r["likra"].value,
                    "lo": r["likra"].lo,
                    "hi": r["likra"].hi,
                    "acc": "",
                }
            )
    title = eval_title(results.profile, eval_key)
    plot = learning_curves(
        curves,
        f"negative types: {train_task} -> {title}",
        out / f"negatives-{task_label(train_task)}-{eval_key}.png",
    )
    return [
        f"### Negative types ({title})",
        "",
        f"![negative types]({plot.name})",
        "",
        _md_table(["negatives", "N", "likra", "neg-only"], rows),
        "",
    ]


def _likelihoods(results, key) -> list[str]:
    if not results.tables.get(key):
        return []
    table = likelihood_table(results, key)
    md = [
        "## Likelihood of plausible wrong answers",
        "",
        "Mean log-likelihood per character of the gold answer, the most plausible wrong answer (highest base "
        "likelihood per character) and the other wrong answers, under each head (± the 95% half-width); and the "
        "share of items where the plausible wrong answer outranks the gold one under each mode, with its interval. "
        "Finding 3 decides on these at the largest N, against pos-base.",
        "",
    ]
    header = [
        "N",
        "gold base/pos/neg",
        "plausible base/pos/neg",
        "other base/pos/neg",
        "outranks: base",
        "sft",
        "likra",
        "neg-only",
    ]
    rows = []
    for r in table:
        trip = lambda k: " / ".join(  # noqa: E731
            f"{r[f'{k}/{v}'].value:.3f}±{r[f'{k}/{v}'].half_width:.3f}" if f"{k}/{v}" in r else "—"
            for v in ("base", "pos", "neg")
        )
        rows.append(
            [r["N"], trip("gold"), trip("plausible"), trip("other")]
            + [r[f"outranks/{m}"].fmt() for m in ("base", "sft", "likra", "neg-only")]
        )
    return md + [_md_table(header, rows), ""]


def _weighting(results, key, out) -> list[str]:
    sizes = [n for n in results.sizes(key) if n > 0]
    if not sizes:
        return []
    chosen = sorted({sizes[0], sizes[len(sizes) // 2], sizes[-1]} | ({0} & set(results.sizes(key))))
    rows = weighting_table(results, key, results.profile.weights, chosen)
    plot = weighting_plot(rows, f"negative-head weight ({eval_title(results.profile, key[1])})", out / "weighting.png")
    return [
        "## Negative-head weighting",
        "",
        "From stored scores, no re-scoring: acc_norm of "
        "log P_pos - w_neg log P_neg, and of log P_base - w_neg log P_neg (neg-only analogue). "
        "N = 0 (untrained heads, pos = neg = base) shows the arithmetic: pos - w neg = (1 - w) log P_base, so "
        "every w < 1 ranks like the base model, w = 1 ties every choice and w > 1 ranks like the reversed base "
        "model. That is why finding 5 tunes w on one half of the items and scores it on the other.",
        "",
        f"![weighting]({plot.name})",
        "",
        _md_table(
            ["N", "w_neg", "likra", "neg-only"],
            [[r["N"], r["w_neg"], _cell(r["likra"]), _cell(r["neg-only"])] for r in rows],
        ),
        "",
    ]


def _value(findings: list) -> list[str]:
    first = next((f for f in findings if f.number == 1 and f.numbers), None)
    if first is None:
        return []
    slopes, match = first.numbers["slopes"], first.numbers["examples_to_match"]
    ratio = slopes.get("negative_vs_positive")
    return [
        "## Value of one example (finding 1)",
        "",
        f"Accuracy gained per training example over the early phase N = 0 -> {slopes['early_N']} (N = 0 is the base "
        "model): per positive (sft), per negative (neg-only) and per example of likra (a positive and a negative "
        "per question); and the training examples each needs to reach sft's accuracy at its largest N (sft: that "
        "N's examples; likra: where its curve, straight between scored N on log2 N, first reaches it). The paper "
        "claims a negative is worth about 10 positives below 128 examples; the ratio is given only when the "
        "positives' gain is distinguishable from zero.",
        "",
        _md_table(
            ["per positive (sft)", "per negative (neg-only)", "per likra example", "negative / positive"],
            [
                [
                    slopes["slope_sft"].fmt(5),
                    slopes["slope_neg-only"].fmt(5),
                    slopes["slope_likra"].fmt(5),
                    ratio.fmt(2) if ratio else "undefined: sft's gain per positive is not above 0",
                ]
            ],
        ),
        "",
        _md_table(
            [f"examples to reach sft's acc at N={match['target_N']}: sft", "likra", "draws where likra never does"],
            [
                [
                    str(match["examples_sft"]),
                    match["examples_likra"].fmt(0),
                    f"{match['share_of_draws_likra_never_matches']:.1%}",
                ]
            ],
        ),
        "",
    ]


EXAMPLES = 4  # questions shown under every decoding in the open-ended section


def _open_ended(results: ExperimentResults) -> list[str]:
    """Finding 11's tables: the knobs chosen on validation, each decoding's grade shares per N, and
    the same questions answered under every decoding."""
    found, spec = results.open_ended, results.profile.open_ended
    if found is None or not found.rows:
        return []
    md = [
        "## Open-ended answers (finding 11)",
        "",
        f"Each question is asked without its choices (greedy, at most {spec.max_new_tokens} new tokens, stop at a "
        "newline) and the answer is graded against the item's own choices: **gold**, a **known wrong** choice (the "
        "plausible wrong answers the negative head was trained on, said out loud) or **other**. Graders "
        f"(`likra.generation.grading`): `{DECIDING_GRADER}` decides (the choice of highest token F1 with the answer, "
        f"if >= {F1_THRESHOLD} and unique); `exact` (the answer is a choice) and `contains` (the answer contains a "
        "choice's words) are shown beside it. `of which empty`: answers with no text (the stop string came first); "
        "`words`: the answers' mean length (token F1 penalises a long answer). Intervals: two-level bootstrap over "
        "seeds and items (base: items).",
        "",
    ]
    if found.validation:
        rows = [
            [
                v["mode"],
                ", ".join(f"{k} = {x:g}" for k, x in v["knobs"].items()),
                f"{v['gold-wrong']:.3f}",
                "chosen" if found.chosen.get(v["mode"]) == v["knobs"] else "",
            ]
            for v in found.validation
        ]
        md += [
            f"Decoding knobs chosen on {eval_set_title(spec.validation.task, spec.validation.split, spec.validation.limit)} "
            f"(the first seed's run at N={max(spec.eval_n)}; gold share - known-wrong share, {DECIDING_GRADER} grading; "
            "ties: the first listed), before any test answer was generated:",
            "",
            _md_table(["mode", "knobs", "gold - wrong", ""], rows),
            "",
        ]
    for eval_set in spec.eval_sets:
        sizes = [0, *found.sizes(eval_set.key)]
        rows = []
        for n in sizes:
            for label in found.labels(eval_set.key, n):
                shares = {g: grade_matrix(found.rows[(eval_set.key, n, label)], g) for g in GRADERS}
                cells = [_cell(mean_of(shares[DECIDING_GRADER][g])) for g in GRADES]
                by_seed = found.rows[(eval_set.key, n, label)]
                cells.append(_cell(mean_of(empty_matrix(by_seed))))
                # Token F1 penalises length, so a decoding that says more is graded down for it.
                cells.append(f"{fmean(len(r['text'].split()) for rows in by_seed.values() for r in rows):.1f}")
                side = [
                    f"{mean_of(shares[g]['gold']).value:.3f} / {mean_of(shares[g]['wrong']).value:.3f}"
                    for g in GRADERS
                    if g != DECIDING_GRADER
                ]
                rows.append([str(n), label, *cells, *side])
        title = eval_set_title(eval_set.task, eval_set.split, eval_set.limit)
        md += [
            f"### {title}",
            "",
            _md_table(
                [
                    "N",
                    "decoding",
                    "gold",
                    "known wrong",
                    "other",
                    "of which empty",
                    "words",
                    *[f"{g}: gold / wrong" for g in GRADERS if g != DECIDING_GRADER],
                ],
                rows,
            ),
            "",
        ]
    md += _open_ended_examples(results)
    return md


def _open_ended_examples(results: ExperimentResults) -> list[str]:
    found, spec = results.open_ended, results.profile.open_ended
    key = spec.eval_sets[0].key
    sizes = found.sizes(key)
    if not sizes:
        return []
    n = sizes[-1]
    columns = [(0, "base")] * ((key, 0, "base") in found.rows) + [(n, label) for label in found.labels(key, n)]
    first_seed = {c: min(found.rows[(key, *c)]) for c in columns}
    table = {c: found.rows[(key, *c)][first_seed[c]][:EXAMPLES] for c in columns}
    anchor = next(iter(table.values()))
    rows = []
    for i, row in enumerate(anchor):
        question = " ".join(row["prompt"].split())
        cells = [_abridged(table[c][i]["text"]) or "*(empty)*" for c in columns]
        rows.append([_abridged(question, 70), *cells, row["choices"][row["gold"]]])
    return [
        f"The first {len(rows)} questions of {eval_set_title(spec.eval_sets[0].task, spec.eval_sets[0].split, spec.eval_sets[0].limit)} "
        f"under each decoding (seed {min(s for c, s in first_seed.items() if c[0])} where trained; N={n}):",
        "",
        _md_table(["question", *[label if n_ == 0 else f"{label} (N={n_})" for n_, label in columns], "gold"], rows),
        "",
    ]


def _abridged(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _selective(findings: list) -> list[str]:
    found = next((f for f in findings if f.number == 9 and f.numbers), None)
    if found is None:
        return []
    rows = [
        [m, t["auroc"].fmt(), t["auc"].fmt(), t["acc_at_50"].fmt(), t["brier"].fmt(), t["ece"].fmt()]
        for m, t in found.numbers["by_mode"].items()
    ]
    return [
        f"## Confidence and calibration (N={found.numbers['N']})",
        "",
        "The paper says negatives help reduce hallucinations but measures only accuracy. Here each mode's "
        "confidence is its margin (best minus second-best normalised score). AUROC is the chance that a right "
        "answer is more confident than a wrong one (0.5: confidence says nothing; finding 9 compares it). "
        "Selective accuracy answers items most-confident first (ties in item order): AUC = mean accuracy over "
        "coverages 1/I ... 1, which rises with accuracy alone as well as with useful confidence. Brier and ECE "
        "(10 bins) read the mode's summed scores as a softmax over the choices (lower is better); the answer they "
        "score is the one with the highest summed score (acc).",
        "",
        _md_table(
            ["mode", "AUROC right vs wrong", "AUC of accuracy-coverage", "accuracy at 50% coverage", "Brier", "ECE"],
            rows,
        ),
        "",
    ]


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _per_item(path: Path, results: ExperimentResults, key) -> None:
    if not results.tables.get(key):
        return
    rows = []
    seeds = results.seeds[key]
    for n in results.sizes(key):
        for s, table in zip(seeds, results.tables[key][n]):
            preds = {m: predictions(table, MODES[m], True)["correct"] for m in ("base", "sft", "likra", "neg-only")}
            for i, row in enumerate(table):
                rows.append({"id": row["id"], "N": n, "seed": s, **{m: int(preds[m][i]) for m in preds}})
    _write_csv(path, rows)
