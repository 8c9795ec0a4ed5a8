"""Pack what an experiment's report is built from into one deterministic .tar.gz (no adapters).

``likra report`` reads only the experiment directory: profile.json, manifest.json, each run's
train_ids.json and the score tables of its evaluated checkpoints (scores.jsonl + metrics.json),
the unconditional scores, and the graded open-ended answers where the profile generates. This packs exactly those, so a committed report ships the numbers
it was built from and anyone can rebuild it (and check a verdict, or re-decide it under a new rule):

    python scripts/pack_scores.py runs/reproduce docs/results/default/scores.tar.gz
    mkdir /tmp/rebuild && tar xzf docs/results/default/scores.tar.gz -C /tmp/rebuild
    likra report /tmp/rebuild          # REPORT.md and findings.json as committed

The archive is byte-reproducible: members sorted, owners and times zeroed, gzip without a time.
"""

from __future__ import annotations

import argparse
import gzip
import io
import tarfile
from pathlib import Path

PATTERNS = (
    "profile.json",
    "manifest.json",
    "base/*/uncond.jsonl",
    "runs/*/*/config.json",
    "runs/*/*/train_ids.json",
    "runs/*/*/eval/*/N-*/scores.jsonl",
    "runs/*/*/eval/*/N-*/metrics.json",
    "base/*/generations/*.jsonl",  # finding 11: graded open-ended answers (validation and test)
    "runs/*/*/generations/*/N-*/*.jsonl",
)


def members(exp_dir: Path) -> list[Path]:
    """The files ``likra report`` needs, relative to ``exp_dir``, sorted."""
    found = {p.relative_to(exp_dir) for pattern in PATTERNS for p in exp_dir.glob(pattern) if p.is_file()}
    return sorted(found)


def pack(exp_dir: Path, out: Path) -> int:
    """Write the archive; returns the number of files in it."""
    names = members(exp_dir)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            data = (exp_dir / name).read_bytes()
            info = tarfile.TarInfo(str(name))
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(buffer.getvalue())
    return len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("exp_dir", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    count = pack(args.exp_dir, args.out)
    print(f"{args.out}: {count} files, {args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
