"""Compare the verdicts of two experiment reports (e.g. the default profile in fp32 and in bf16).

    python benchmarks/compare_findings.py docs/results/default runs/reproduce-bf16/report \
        --labels fp32,bf16 --out benchmarks/results/bf16_verdicts.json

Each argument is a report folder (or an experiment folder holding ``report/``) with findings.json.
Prints one row per finding: each side's verdict and deciding evidence, and whether they agree.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load_findings(folder: Path) -> dict[int, dict]:
    path = folder / "findings.json" if (folder / "findings.json").exists() else folder / "report" / "findings.json"
    return {f["finding"]: f for f in json.loads(path.read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--labels", default="a,b")
    parser.add_argument("--out", type=Path)
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
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "a": str(args.a),
                    "b": str(args.b),
                    "labels": [label_a, label_b],
                    "flipped": flipped,
                    "findings": rows,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
