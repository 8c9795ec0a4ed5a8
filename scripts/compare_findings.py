"""Compare the verdicts of two experiment reports (e.g. the default profile in fp32 and in bf16).

    python scripts/compare_findings.py docs/results/default runs/reproduce-bf16/report \
        --labels fp32,bf16 --curves-up-to 64 --out

Each argument is a report folder (or an experiment folder holding ``report/``) with findings.json.
Prints one row per finding: each side's verdict and deciding evidence, and whether they agree;
with ``--curves-up-to N``, also both reports' curves (curves.csv: acc_norm and its 95% interval
per negative type, mode and training-set size) up to N, side by side. ``--out FILE`` also writes it
all as JSON; ``--out`` alone writes ``docs/notes/findings_<a>_vs_<b>_<machine>_<date>.json``
(the labels, this machine and today: ``likra.model.precision.result_path``).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

NOTES = Path(__file__).resolve().parents[1] / "docs" / "notes"


def load_findings(folder: Path) -> dict[int, dict]:
    path = folder / "findings.json" if (folder / "findings.json").exists() else folder / "report" / "findings.json"
    return {f["finding"]: f for f in json.loads(path.read_text())}


def load_curves(folder: Path) -> dict[tuple[str, str, int], dict]:
    path = folder / "curves.csv" if (folder / "curves.csv").exists() else folder / "report" / "curves.csv"
    with open(path, newline="") as handle:
        return {(r["negatives"], r["mode"], int(r["N"])): r for r in csv.DictReader(handle)}


def compare_curves(a: Path, b: Path, labels: tuple[str, str], up_to: int) -> list[dict]:
    """Both reports' acc_norm [95% interval] at every (negatives, mode, N <= up_to) they share."""
    curves_a, curves_b = load_curves(a), load_curves(b)
    rows = []
    for key in sorted(set(curves_a) & set(curves_b), key=lambda k: (k[0], k[1], k[2])):
        if key[2] > up_to:
            continue
        ra, rb = curves_a[key], curves_b[key]
        row = {"negatives": key[0], "mode": key[1], "N": key[2]}
        for label, r in zip(labels, (ra, rb)):
            row[label] = [round(float(r[c]), 4) for c in ("acc_norm", "lo", "hi")]
        rows.append(row)
        print(
            f"{key[0]:>22} {key[1]:>18} N={key[2]:<4} {labels[0]} {ra['acc_norm'][:5]} "
            f"[{ra['lo'][:5]}, {ra['hi'][:5]}]  {labels[1]} {rb['acc_norm'][:5]} [{rb['lo'][:5]}, {rb['hi'][:5]}]"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--labels", default="a,b")
    parser.add_argument(
        "--out",
        nargs="?",
        const="",
        help="write the comparison as JSON here; with no file: docs/notes/findings_<a>_vs_<b>_<machine>_<date>.json",
    )
    parser.add_argument("--curves-up-to", type=int, help="also compare curves.csv up to this N")
    args = parser.parse_args()
    label_a, label_b = args.labels.split(",")
    a, b = load_findings(args.a), load_findings(args.b)
    rows = []
    for number in sorted(set(a) | set(b)):
        fa, fb = a.get(number, {}), b.get(number, {})
        rows.append(
            {
                "finding": number,
                "claim": fa.get("claim") or fb.get("claim"),
                label_a: fa.get("verdict"),
                label_b: fb.get("verdict"),
                "agree": fa.get("verdict") == fb.get("verdict"),
                f"{label_a}_evidence": fa.get("evidence"),
                f"{label_b}_evidence": fb.get("evidence"),
            }
        )
        print(
            f"{number:>2}  {str(fa.get('verdict')):>14}  {str(fb.get('verdict')):>14}  "
            f"{'same' if rows[-1]['agree'] else 'FLIPPED'}  {rows[-1]['claim']}"
        )
    flipped = [r["finding"] for r in rows if not r["agree"]]
    print(f"verdicts flipped: {flipped or 'none'}")
    curves = compare_curves(args.a, args.b, (label_a, label_b), args.curves_up_to) if args.curves_up_to else None
    if args.out is not None:
        out = Path(args.out) if args.out else default_out(label_a, label_b)
        out.write_text(
            json.dumps(
                {
                    "a": str(args.a),
                    "b": str(args.b),
                    "labels": [label_a, label_b],
                    "flipped": flipped,
                    "findings": rows,
                    **({"curves": curves} if curves is not None else {}),
                },
                indent=2,
            )
            + "\n"
        )
        print(f"wrote {out}")


def default_out(label_a: str, label_b: str) -> Path:
    """docs/notes/findings_<a>_vs_<b>_<machine>_<date>.json (likra, and torch, imported only here)."""
    from likra.model.precision import result_path

    what = "_".join(re.findall(r"[\w-]+", f"findings {label_a} vs {label_b}"))
    return result_path(what, NOTES)


if __name__ == "__main__":
    main()
