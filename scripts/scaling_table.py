"""The scaling table: one row per finding, one column per (model, shots) setting, the paper beside.

Each 0-shot setting is a report folder (findings.json, curves.csv) of ``likra reproduce``; each
k-shot setting is a ``benchmarks/shots_comparison.py`` result for the same runs (the heads are
trained zero-shot and scored with k demonstrations at a few N, so only the likra - sft gaps at
those N are decided there, not the findings that need the whole curve).

    python scripts/scaling_table.py \\
        --report "SmolLM2-135M-Instruct=docs/results/default" \\
        --report "Gemma-3-270M base=docs/results/gemma3-270m" \\
        --shots "SmolLM2-135M-Instruct=benchmarks/results/shots_comparison_amd-avx512bf16_2026-12-06.json" \\
        --report "SmolLM2-135M-Instruct, whole pool=docs/results/pool-smollm2" \\
        --report "SmolLM2-135M-Instruct, Winogrande, N ≤ 1,024=docs/results/winogrande" \\
        --report "SmolLM2-135M-Instruct, HellaSwag, N ≤ 1,024=docs/results/hellaswag" \\
        --plot docs/results/scaling.png --out

Prints the table in markdown; the plot draws each setting's main learning curve (acc_norm, 95%
two-level bands) side by side, with the k-shot points over them and the paper's 7B curve last.
``--out FILE`` also writes the table as JSON; ``--out`` alone writes
``benchmarks/results/scaling_table_<machine>_<date>.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from compare_findings import load_findings  # scripts/: a report folder's findings by number

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"

# The paper's ARC-Challenge test curve (acc_norm, most likely Mistral-7B-v0.1, 5-shot), read off
# the reference figures (../shared/docs/reference-method.md); no intervals were published.
PAPER_CURVE = {
    "sft": {
        0: 0.600,
        64: 0.613,
        128: 0.612,
        256: 0.624,
        512: 0.639,
        1024: 0.627,
        2048: 0.640,
        4096: 0.648,
        6615: 0.663,
    },
    "likra": {64: 0.631, 128: 0.764, 256: 0.799, 512: 0.800, 1024: 0.801, 2048: 0.812, 4096: 0.812, 6615: 0.818},
    "neg-only": {64: 0.595, 128: 0.742, 256: 0.793, 512: 0.774, 1024: 0.783, 2048: 0.784, 4096: 0.767, 6615: 0.775},
}
# What the paper reports for each finding (claims 1-5; 6-10 are this toolkit's controls and extensions).
PAPER_FINDINGS = {
    1: "claimed; likra +0.133 from N = 64 to 128, sft's largest doubling gain +0.015",
    2: "claimed (figure not read off)",
    3: "claimed (figure not read off)",
    4: "claimed; likra − neg-only 0.006 at N = 256, 0.043 at N = 6615",
    5: "claimed (ablation over w−)",
}
CURVE_MODES = ("base", "sft", "likra", "neg-only")
ZERO_AT = 16  # where N = 0 sits on the log axis of our panels: one octave left of N = 32


def _labelled(text: str) -> tuple[str, Path]:
    label, _, path = text.partition("=")
    if not path:
        raise SystemExit(f"expected LABEL=PATH, got {text!r}")
    return label, Path(path)


def _fmt(estimate: dict) -> str:
    value, (lo, hi) = estimate["value"], estimate["ci95"]
    digits = 5 if max(abs(value), abs(lo), abs(hi)) < 0.01 and value != 0 else 3
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def deciding_test(finding: dict) -> dict | None:
    """The part that decided the finding's verdict: the first part with that verdict."""
    for test in finding.get("tests", []):
        if test["verdict"] == finding["verdict"]:
            return test
    return None


def finding_cell(finding: dict | None) -> str:
    """The verdict and the number that decided it; a finding whose parts differ lists every part."""
    if finding is None:
        return "not run"
    if not finding.get("tests"):  # e.g. "not measured": the profile has no run to decide it
        return f"{finding['verdict']} ({finding.get('evidence', '')})"
    test = deciding_test(finding)
    near = " (near the margin)" if finding.get("near_margin") else ""  # docs/method.md, "Verdicts that move"
    if test is None:  # parts with different verdicts (e.g. "likra: inconclusive; neg-only: does not hold")
        parts = "; ".join(f"{t['name']} {_fmt(t['estimate'])} {t['verdict']}" for t in finding.get("tests", []))
        return f"**mixed**{near}: {parts}"
    return f"**{finding['verdict']}**{near}: {test['name']} {_fmt(test['estimate'])}"


def shots_gaps(path: Path) -> dict[tuple[str, str], dict]:
    """``{(checkpoint, "zero" | "k"): likra - sft estimate}`` from a shots_comparison result."""
    result = json.loads(path.read_text())
    which = {result["zero"]: "zero", result["k"]: "k"}
    return {
        (r["checkpoint"], which[r["likra_minus_sft"]]): r["estimate"] for r in result["rows"] if "likra_minus_sft" in r
    }


def shots_points(path: Path) -> dict[str, list[tuple[int, float, float, float]]]:
    """k-shot acc_norm per mode: points (N, value, lo, hi); base at N = 0."""
    result = json.loads(path.read_text())
    points: dict[str, list] = {}
    for r in result["rows"]:
        if "mode" not in r:
            continue
        n = 0 if r["mode"] == "base" else int(r["checkpoint"].split("-")[1])
        est = r["k_shot"]
        if r["mode"] == "base" and any(p[0] == 0 for p in points.get("base", [])):
            continue
        points.setdefault(r["mode"], []).append((n, est["value"], *est["ci95"]))
    return {mode: sorted(p) for mode, p in points.items()}


def main_curve(folder: Path) -> dict[str, list[tuple[int, float, float, float]]]:
    """The main curve (``first`` negatives, likra's own runs) from a report's curves.csv."""
    curves: dict[str, list] = {}
    with open(folder / "curves.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    first_eval = rows[0]["eval"]
    for row in rows:
        if row["negatives"] != "first" or row["eval"] != first_eval or row["mode"] not in CURVE_MODES:
            continue
        n = int(row["N"])
        if n == 0 and row["mode"] in ("likra", "neg-only"):
            continue  # the untrained heads tie every score: no model's accuracy
        curves.setdefault(row["mode"], []).append((n, float(row["acc_norm"]), float(row["lo"]), float(row["hi"])))
    return {mode: sorted(p) for mode, p in curves.items()}


def _evaluated(folder: Path) -> str:
    """The main curve's evaluation set as a report's curves.csv names it (arc_challenge-test-limit352)."""
    with open(folder / "curves.csv", newline="") as handle:
        return next(csv.DictReader(handle))["eval"]


def plot(reports: list[tuple[str, Path]], shots: dict[str, Path], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from likra.reporting.plots import COLORS

    panels = len(reports) + 1
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.2), dpi=120, sharey=False)
    for ax, (label, folder) in zip(axes, reports):
        for mode, points in main_curve(folder).items():
            xs = [max(p[0], ZERO_AT) for p in points]  # N = 0 drawn one octave left of N = 32
            ax.plot(
                xs,
                [p[1] for p in points],
                "--" if mode == "base" else "-",
                marker="o",
                ms=3,
                color=COLORS[mode],
                label=f"{mode} 0-shot",
            )
            ax.fill_between(xs, [p[2] for p in points], [p[3] for p in points], alpha=0.12, color=COLORS[mode])
        if label in shots:
            for mode, points in shots_points(shots[label]).items():
                xs = [max(p[0], ZERO_AT) * 1.1 for p in points]  # beside the 0-shot point
                yerr = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
                ax.errorbar(
                    xs,
                    [p[1] for p in points],
                    yerr=yerr,
                    fmt="s",
                    ms=5,
                    mfc="none",
                    capsize=2,
                    color=COLORS[mode],
                    label=f"{mode} 5-shot",
                )
        ax.set_title(f"{label} (N = 0 drawn at {ZERO_AT})", fontsize=9)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("training questions N")
        ax.set_ylabel(f"{_evaluated(folder)} acc_norm", fontsize=8)
        ax.grid(alpha=0.3)
    ax = axes[-1]
    for mode, curve in PAPER_CURVE.items():
        ax.plot(
            [max(n, 32) for n in curve], list(curve.values()), "-", marker="o", ms=3, color=COLORS[mode], label=mode
        )
    ax.set_title("paper, 7B, 5-shot, ARC-Challenge, read off (N = 0 at 32)", fontsize=9)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training questions N")
    ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="append", default=[], help="LABEL=report folder (0-shot findings)")
    parser.add_argument("--shots", action="append", default=[], help="LABEL=shots_comparison.json (k-shot gaps)")
    parser.add_argument("--plot", type=Path)
    parser.add_argument(
        "--out",
        nargs="?",
        const="",
        help="write the table as JSON here; with no file: benchmarks/results/scaling_table_<machine>_<date>.json",
    )
    args = parser.parse_args()
    reports = [_labelled(r) for r in args.report]
    shots = dict(_labelled(s) for s in args.shots)
    findings = {label: load_findings(folder) for label, folder in reports}
    gaps = {label: shots_gaps(path) for label, path in shots.items()}
    # One column per (model, shots), the models in the order given.
    labels = list(dict.fromkeys([label for label, _ in reports] + list(shots)))
    columns = [
        (label, k) for label in labels for k in ("zero", "k") if (label in findings if k == "zero" else label in shots)
    ]
    names = [f"{label}, {'0' if k == 'zero' else '5'}-shot" for label, k in columns]
    print("| # | claim | " + " | ".join(names) + " | paper (7B, 5-shot) |")
    print("|---|---|" + "---|" * len(names) + "---|")
    table = []
    numbers = sorted({n for f in findings.values() for n in f})
    for number in numbers:
        claim = next(f[number]["claim"] for f in findings.values() if number in f)
        # k-shot runs are scored at two N only: the findings are decided on the 0-shot curves.
        cells = [finding_cell(findings[label].get(number)) if k == "zero" else "—" for label, k in columns]
        paper = PAPER_FINDINGS.get(number, "—")
        print(f"| {number} | {claim.replace('|', chr(92) + '|')} | " + " | ".join(cells) + f" | {paper} |")
        table.append({"finding": number, "claim": claim, "cells": dict(zip(names, cells)), "paper": paper})
    paper_gap = {"N-64": 0.631 - 0.613, "N-256": 0.799 - 0.624}
    for checkpoint in ("N-64", "N-256"):
        cells = [_fmt(gaps[label][(checkpoint, k)]) if label in gaps else "—" for label, k in columns]
        row = f"likra − sft at N = {checkpoint[2:]}"
        paper = f"{paper_gap[checkpoint]:.3f}"
        print(f"| | {row} | " + " | ".join(cells) + f" | {paper} |")
        table.append({"finding": None, "claim": row, "cells": dict(zip(names, cells)), "paper": paper})
    if args.plot:
        plot(reports, shots, args.plot)
    if args.out is not None:
        if args.out:
            out = Path(args.out)
        else:  # likra (and torch) imported only here
            from likra.model.precision import result_path

            out = result_path("scaling_table", RESULTS)
        out.write_text(json.dumps({"columns": names, "rows": table}, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
