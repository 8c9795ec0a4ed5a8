"""Read an experiment's score tables and turn them into curves, tables and comparisons.

Everything here is arithmetic on stored ``scores.jsonl`` files: no model is run.
The primary metric is acc_norm (the paper's metric on ARC); acc is reported alongside.
Every interval is the two-level (seed x item) bootstrap of ``stats``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from likra.errors import LikraError
from likra.experiments.open_ended import OpenEndedResults, load_open_ended
from likra.experiments.profiles import EvalSet, Profile
from likra.experiments.rules import Curve, Scores
from likra.experiments.stats import Estimate, mean_estimate
from likra.io import read_json, read_jsonl
from likra.layout import (
    METRICS,
    SCORES,
    ExperimentLayout,
    checkpoint_questions,
    is_checkpoint_name,
    task_label,
)
from likra.methods import DEFAULT_METHOD
from likra.metrics import MODES, predictions, weighted, weighted_neg_only
from likra.rundir import read_manifest

Score = Callable[[Mapping[str, float]], float]
CURVE_MODES = ("base", "sft", "likra", "neg-only", "pos-base", "answer-prior")
Key = tuple[str, str, str]  # (train task, eval key, curve group)


@dataclass
class ExperimentResults:
    profile: Profile
    # (train task, eval key, group) -> N -> list of score tables (one per seed)
    tables: dict[Key, dict[int, list[list[dict]]]] = field(default_factory=dict)
    seeds: dict[Key, list[int]] = field(default_factory=dict)
    # (train task, eval key, group) -> seed -> the run's training question ids, in order
    train_ids: dict[Key, dict[int, list[str]]] = field(default_factory=dict)
    # (train task, eval key, group) -> the training method of its runs (likra unless recorded)
    methods: dict[Key, str] = field(default_factory=dict)
    open_ended: OpenEndedResults | None = None  # finding 11's graded answers, if the profile asks
    # planned runs (the manifest's names) with an evaluation folder missing: the report says so
    missing_runs: list[str] = field(default_factory=list)

    def method(self, key: Key) -> str:
        return self.methods.get(key, DEFAULT_METHOD)

    def method_keys(self, train_task: str, eval_key: str) -> dict[str, Key]:
        """The curve of each method other than likra on one (train, eval) pair (first negatives)."""
        return {
            self.method(k): k
            for k in self.tables
            if k[:2] == (train_task, eval_key) and self.method(k) != DEFAULT_METHOD and self.sizes(k)
        }

    def sizes(self, key: Key) -> list[int]:
        return sorted(self.tables.get(key, {}))

    def correct(self, key: Key, n: int, score: Score, normalise: bool = True) -> np.ndarray:
        """(seeds, items) correctness of one scoring rule at one curve point."""
        return np.stack([predictions(rows, score, normalise)["correct"] for rows in self.tables[key][n]])

    def scores(self, key: Key, n: int, score: Score | str, normalise: bool = True) -> Scores:
        """Correctness of one scoring rule (or mode name) at one curve point, with its seeds."""
        score = MODES[score] if isinstance(score, str) else score
        return Scores(self.correct(key, n, score, normalise).astype(np.float64), tuple(self.seeds[key]))

    def curve(self, key: Key, mode: str, sizes=None) -> Curve:
        return {n: self.scores(key, n, mode) for n in (sizes or self.sizes(key))}

    def correct_and_confidence(self, key: Key, n: int, mode: str) -> tuple[Scores, Scores]:
        """acc_norm correctness and confidence (the margin of the best normalised score over the
        runner-up) of one mode, from one pass over the tables."""
        found = [predictions(rows, MODES[mode], True) for rows in self.tables[key][n]]
        seeds = tuple(self.seeds[key])
        return (
            Scores(np.stack([f["correct"] for f in found]).astype(np.float64), seeds),
            Scores(np.stack([f["margin"] for f in found]), seeds),
        )

    def calibration(self, key: Key, n: int, mode: str) -> tuple[Scores, Scores, Scores]:
        """Correctness of the answer by the summed score (acc), the softmax probability of that answer
        over the choices, and the Brier score, per seed and item: the mode's scores read as a
        distribution over the choices."""
        found = [predictions(rows, MODES[mode], False) for rows in self.tables[key][n]]
        seeds = tuple(self.seeds[key])
        return tuple(
            Scores(np.stack([f[k] for f in found]).astype(np.float64), seeds)
            for k in ("correct", "probability", "brier")
        )

    def point(self, key: Key, n: int, score: Score, normalise: bool = True) -> Estimate:
        return mean_estimate(self.correct(key, n, score, normalise).astype(np.float64), self.seeds[key])

    def overlap(self, key: Key, n: int) -> int | None:
        """Evaluation items that are among the first ``n`` training questions of any seed's run
        (None when the runs did not record their training ids)."""
        ids = self.train_ids.get(key)
        if not ids or n not in self.tables.get(key, {}):
            return None
        eval_ids = {str(row["id"]) for row in self.tables[key][n][0]}
        return max(len(eval_ids & set(train[:n])) for train in ids.values())


def _attach_unconditional(rows: list[dict], uncond: list[dict] | None) -> list[dict]:
    if uncond is None:
        return rows
    for row, other in zip(rows, uncond):
        for choice, u in zip(row["choices"], other["choices"]):
            choice["base_uncond"] = u["base"]
    return rows


def load_results(exp_dir: Path, profile: Profile) -> ExperimentResults:
    """Every complete score table of the experiment's recorded runs, grouped into curves.

    Reads only the directory (manifest, score files): no benchmark data or model is needed."""
    layout = ExperimentLayout(exp_dir)
    runs = read_manifest(exp_dir).get("runs")
    if runs is None:
        raise LikraError(
            "the experiment's manifest lists no runs (made by an older likra?); re-run "
            "`likra reproduce` or `likra curve` on it to record them",
            file=layout.manifest,
        )
    collected: dict[tuple[str, str, str], dict[int, dict[int, list[dict]]]] = defaultdict(lambda: defaultdict(dict))
    uncond: dict[str, list[dict] | None] = {}
    train_ids: dict[Key, dict[int, list[str]]] = {}
    methods: dict[Key, str] = {}
    missing: list[str] = []
    for run in runs:
        for eval_set in run["eval_sets"]:
            folder = layout.run(run["path"]).eval_dir(eval_set["folder"])
            if not folder.exists():
                name = f"{task_label(run['train_task'])}/{run['name']}"
                if name not in missing:
                    missing.append(name)
                continue
            if not run["ablated"] and eval_set["base_folder"] not in uncond:
                path = layout.unconditional_scores(eval_set["base_folder"])
                uncond[eval_set["base_folder"]] = read_jsonl(path) if path.exists() else None
            key = (run["train_task"], eval_set["key"], run["group"])
            methods[key] = run.get("method", DEFAULT_METHOD)
            ids_file = layout.run(run["path"]).train_ids
            if ids_file.exists():
                train_ids.setdefault(key, {})[run["seed"]] = [str(i) for i in read_json(ids_file)]
            for n, rows in _checkpoint_tables(folder):
                if not run["ablated"]:
                    rows = _attach_unconditional(rows, uncond[eval_set["base_folder"]])
                collected[key][n][run["seed"]] = rows
    results = ExperimentResults(profile, train_ids=train_ids, methods=methods, missing_runs=missing)
    results.open_ended = load_open_ended(exp_dir, profile, runs)
    return _complete_curves(results, collected)


def _checkpoint_tables(folder: Path) -> Iterator[tuple[int, list[dict]]]:
    """(N, score rows) of every checkpoint of an eval folder whose metrics were written."""
    for checkpoint in folder.iterdir():
        if not is_checkpoint_name(checkpoint.name):
            continue
        scores = checkpoint / SCORES
        if (checkpoint / METRICS).exists() and scores.exists():
            yield checkpoint_questions(checkpoint.name), read_jsonl(scores)


def _complete_curves(results: ExperimentResults, collected: dict) -> ExperimentResults:
    """A curve point counts only when every seed that reached the curve's largest N has it."""
    for key, by_n in collected.items():
        all_seeds = sorted({s for tables in by_n.values() for s in tables})
        results.seeds[key] = all_seeds
        results.tables[key] = {
            n: [tables[s] for s in sorted(tables)]
            for n, tables in sorted(by_n.items())
            if len(tables) == len(all_seeds)
        }
    return results


def curve_table(results: ExperimentResults, key, modes=CURVE_MODES, normalise: bool = True) -> list[dict]:
    """Rows ``{"N", "<mode>": Estimate}`` for one curve."""
    table = []
    for n in results.sizes(key):
        row: dict = {"N": n}
        columns = set(results.tables[key][n][0][0]["choices"][0])
        for mode in modes:
            if mode == "answer-prior" and "base_uncond" not in columns:
                continue
            row[mode] = results.point(key, n, MODES[mode], normalise)
        table.append(row)
    return table


def weighting_table(results: ExperimentResults, key, weights, sizes=None) -> list[dict]:
    """acc_norm of w_pos=1 / w_neg=w (likra) and base - w*neg (neg-only) over w, at several N."""
    rows = []
    for n in sizes or [s for s in results.sizes(key) if s > 0]:
        for w in weights:
            rows.append(
                {
                    "N": n,
                    "w_neg": w,
                    "likra": results.point(key, n, weighted(1.0, w)),
                    "neg-only": results.point(key, n, weighted_neg_only(w)),
                }
            )
    return rows


def likelihood_table(results: ExperimentResults, key) -> list[dict]:
    """How the gold, the most plausible wrong and the other wrong answers move with N.

    "Most plausible wrong" = the wrong choice with the highest base log-likelihood per character.
    Per N: mean log-likelihood per character of each answer type under base, pos and neg, and
    the share of items where the plausible wrong answer outranks the gold one, per mode; each an
    ``Estimate`` with its two-level interval.
    """
    table = []
    seeds = tuple(results.seeds.get(key, ()))
    for n in results.sizes(key):
        values: dict[str, list[list[float]]] = defaultdict(list)
        for rows in results.tables[key][n]:
            per_seed: dict[str, list[float]] = defaultdict(list)
            for row in rows:
                choices, gold, plausible = row["choices"], row["gold"], plausible_wrong(row)
                others = [i for i in range(len(choices)) if i not in (gold, plausible)]
                for variant in ("base", "pos", "neg"):
                    value = lambda i: choices[i][variant] / max(choices[i]["n_chars"], 1)  # noqa: E731
                    per_seed[f"gold/{variant}"].append(value(gold))
                    per_seed[f"plausible/{variant}"].append(value(plausible))
                    # nan where a two-choice item has no other wrong answer (the column is then left out)
                    per_seed[f"other/{variant}"].append(
                        float(np.mean([value(i) for i in others])) if others else np.nan
                    )
            for name, column in per_seed.items():
                values[name].append(column)
        row: dict = {"N": n}
        row.update({name: mean_estimate(np.array(v), seeds) for name, v in values.items() if not np.isnan(v).any()})
        for mode in ("base", "sft", "likra", "neg-only"):
            outrank = outrank_matrix(results, key, n, mode)
            row[f"outranks/{mode}"] = mean_estimate(outrank.values, seeds)
        table.append(row)
    return table


def plausible_wrong(row: dict) -> int:
    """The wrong choice with the highest base log-likelihood per character (chosen from base
    scores only, never from the scores being compared)."""
    choices, gold = row["choices"], row["gold"]
    per_char = [c["base"] / max(c["n_chars"], 1) for c in choices]
    return max((i for i in range(len(choices)) if i != gold), key=lambda i: per_char[i])


def outrank_matrix(results: ExperimentResults, key, n: int, mode: str) -> Scores:
    """(seeds, items): 1 where the most plausible wrong answer outranks the gold one."""
    score = MODES[mode]
    out = []
    for rows in results.tables[key][n]:
        flags = []
        for row in rows:
            choices, gold, plausible = row["choices"], row["gold"], plausible_wrong(row)
            norm = lambda i: _finite(score(choices[i])) / max(choices[i]["n_chars"], 1)  # noqa: E731
            flags.append(float(norm(plausible) > norm(gold)))
        out.append(flags)
    return Scores(np.array(out), tuple(results.seeds[key]))


def likelihood_shift(results: ExperimentResults, key, n: int, head: str, answer: str, per_char: bool = False) -> Scores:
    """(seeds, items): log P_head - log P_base, in nats (per character of the answer when
    ``per_char``), of the gold or the most plausible wrong answer."""
    out = []
    for rows in results.tables[key][n]:
        shifts = []
        for row in rows:
            choice = row["choices"][row["gold"] if answer == "gold" else plausible_wrong(row)]
            length = max(choice["n_chars"], 1) if per_char else 1
            shifts.append((choice[head] - choice["base"]) / length)
        out.append(shifts)
    return Scores(np.array(out, dtype=np.float64), tuple(results.seeds[key]))


def _finite(value: float) -> float:
    return value if np.isfinite(value) else -np.inf


def main_key(profile: Profile, group: str = "first") -> tuple[str, str, str]:
    study = profile.studies[0]
    return (study.train_task, study.eval_sets[0].key, group)


__all__ = [
    "ExperimentResults",
    "load_results",
    "curve_table",
    "weighting_table",
    "likelihood_table",
    "outrank_matrix",
    "likelihood_shift",
    "plausible_wrong",
    "main_key",
    "EvalSet",
]
