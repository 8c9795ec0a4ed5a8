"""One checkpoint of a real run, four modes, through lm-evaluation-harness and through ``likra eval``.

The ``likra`` lm-eval model (``likra.harness.LikraLM``) is run by ``lm_eval.simple_evaluate`` on a
local lm-eval task (YAML over a JSON file: the first LIMIT ARC-Challenge test items exactly as likra
formats them); ``likra eval`` scores the same items. Prints lm-eval's acc / acc_norm next to
likra's for base, sft, likra and neg-only, the largest per-choice score difference and the seconds
each lm-eval run took; writes ``benchmarks/results/harness_parity_<machine>_<date>.json``.

    python benchmarks/harness_parity.py runs/reproduce/runs/arc/first-s42 --checkpoint N-256 --limit 200
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from likra.api import evaluate
from likra.data.selection import eval_items
from likra.io import read_jsonl
from likra.layout import CONFIG, RunLayout
from likra.metrics import MODES
from likra.model.load import pick_device
from likra.model.precision import result_path, write_result

TASK = "likra_arc_challenge_parity"
CHECKED = ("base", "sft", "likra", "neg-only")
RESULTS = Path(__file__).resolve().parent / "results"


def task_folder(root: Path, limit: int) -> Path:
    """An lm-eval task over the first ``limit`` ARC-Challenge test items, as likra formats them."""
    folder = root / "tasks"
    folder.mkdir(parents=True)
    docs = [
        {"query": it.contexts[0], "choices": [c[1:] for c in it.continuations], "gold": it.gold}
        for it in eval_items("arc_challenge", "test", limit, 0)
    ]
    (folder / "docs.json").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    (folder / f"{TASK}.yaml").write_text(
        f"task: {TASK}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {folder / 'docs.json'}\n"
        "test_split: test\noutput_type: multiple_choice\n"
        'doc_to_text: "{{query}}"\ndoc_to_choice: "{{choices}}"\ndoc_to_target: "{{gold}}"\n'
        "metric_list:\n  - metric: acc\n  - metric: acc_norm\n"
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--checkpoint", default="final")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument(
        "--out", type=Path, default=None, help="default: benchmarks/results/harness_parity_<machine>_<date>.json"
    )
    args = parser.parse_args()

    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from likra.harness import LikraLM

    root = Path(tempfile.mkdtemp(prefix="likra-parity-"))
    run = root / "run"  # a copy: the original run directory is left as it was
    run.mkdir()
    shutil.copy(args.run / CONFIG, run / CONFIG)
    source = RunLayout(args.run)
    checkpoint = (
        args.checkpoint
        if args.checkpoint != "final"
        else source.complete_checkpoints(("pos", "neg"), "adapter_model.safetensors")[-1]
    )
    shutil.copytree(source.checkpoint(checkpoint), RunLayout(run).checkpoint(checkpoint))
    ours = evaluate(
        run,
        task="arc_challenge",
        split="test",
        checkpoints=[checkpoint],
        limit=args.limit,
        dtype="fp32",
        progress=False,
    )[0]
    scores = read_jsonl(next((run / "eval").glob(f"*/{checkpoint}/scores.jsonl")))
    manager = TaskManager(include_path=str(task_folder(root, args.limit)))
    rows = []
    for mode in CHECKED:
        started = time.perf_counter()
        lm = LikraLM(run=str(run), checkpoint=checkpoint, mode=mode, dtype="fp32")
        out = simple_evaluate(model=lm, tasks=[TASK], task_manager=manager, log_samples=True)
        seconds = time.perf_counter() - started
        samples = sorted(out["samples"][TASK], key=lambda s: s["doc_id"])
        worst = max(
            abs(float(resp[0][0]) - MODES[mode](choice))
            for sample, row in zip(samples, scores)
            for resp, choice in zip(sample["resps"], row["choices"])
        )
        theirs = out["results"][TASK]
        rows.append(
            {
                "mode": mode,
                "lm_eval_acc": theirs["acc,none"],
                "lm_eval_acc_norm": theirs["acc_norm,none"],
                "likra_eval_acc": ours["modes"][mode]["acc"],
                "likra_eval_acc_norm": ours["modes"][mode]["acc_norm"],
                "max_abs_score_difference": worst,
                "lm_eval_seconds": round(seconds, 1),
            }
        )
    print(f"{args.run} {checkpoint}, ARC-Challenge test first {args.limit} items, fp32")
    print("| mode | lm-eval acc | lm-eval acc_norm | likra eval acc | likra eval acc_norm | max per-choice abs diff |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['lm_eval_acc']:.4f} | {r['lm_eval_acc_norm']:.4f} | {r['likra_eval_acc']:.4f} | "
            f"{r['likra_eval_acc_norm']:.4f} | {r['max_abs_score_difference']:.2e} |"
        )
    result = {"run": str(args.run), "checkpoint": checkpoint, "limit": args.limit, "rows": rows}
    write_result(result, args.out or result_path("harness_parity", RESULTS, device=pick_device(None)))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
