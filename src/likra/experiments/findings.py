"""A plain verdict on each of the paper's findings, with the numbers that decide it.

Every verdict compares two quantities on the same evaluation items (paired bootstrap over
items, seed-averaged) and says ``holds`` when the 95% interval of the deciding difference is
on the paper's side of the threshold, ``does not hold`` when it is on the other side, and
``inconclusive`` when it straddles. The zero point of every curve is the base model's accuracy
(untrained heads tie every likra score, so their own N = 0 accuracy is the tie rule's).
"""

from __future__ import annotations

from dataclasses import dataclass

from likra.experiments.analysis import ExperimentResults, main_key, outrank_matrix
from likra.experiments.stats import Estimate, estimate, item_means, ratio
from likra.layout import curve_group
from likra.metrics import MODES, weighted

EARLY_PHASE_MAX_N = 128  # the paper: "each negative is worth about 10x a positive below 128 examples"
CLOSE_MARGIN = 0.05  # "neg-only comes close": within 5 accuracy points of likra


@dataclass
class Finding:
    number: int
    claim: str
    verdict: str  # holds | does not hold | inconclusive | not measured
    evidence: str
    numbers: dict

    def to_dict(self) -> dict:
        return {
            "finding": self.number,
            "claim": self.claim,
            "verdict": self.verdict,
            "evidence": self.evidence,
            "numbers": self.numbers,
        }


def _verdict(diff: Estimate, threshold: float = 0.0) -> str:
    if diff.lo > threshold:
        return "holds"
    if diff.hi < threshold:
        return "does not hold"
    return "inconclusive"


def _largest_common(results: ExperimentResults, *keys) -> int | None:
    common = set.intersection(*(set(results.sizes(k)) for k in keys)) if keys else set()
    common.discard(0)
    return max(common) if common else None


def value_per_example(results: ExperimentResults, key) -> dict | None:
    """Accuracy gained per added positive (sft), per added negative (neg-only) and per pair
    (likra) over the early region N = 0 -> N_early (the largest N <= 128, where the paper says a
    negative is worth about 10 positives), and the negative/positive ratio when it is defined."""
    sizes = [n for n in results.sizes(key) if n > 0]
    if not sizes:
        return None
    early = max([n for n in sizes if n <= EARLY_PHASE_MAX_N] or sizes[:1])
    base = item_means(results.correct(key, early, MODES["base"]))
    idx = results.indices(base.size)
    out: dict = {"segment": [0, early]}
    per_example = {}
    for mode, label in (("sft", "per_positive"), ("neg-only", "per_negative"), ("likra", "per_pair")):
        diff = (item_means(results.correct(key, early, MODES[mode])) - base) / early
        per_example[label] = diff
        out[label] = estimate(diff, idx)
    # A ratio is only meaningful when the positives' gain is distinguishable from zero.
    defined = out["per_positive"].lo > 0
    out["negative_vs_positive"] = (
        ratio(per_example["per_negative"], per_example["per_positive"], idx) if defined else None
    )
    return out


def assess(results: ExperimentResults) -> list[Finding]:
    """Verdicts on findings 1-5 and on the controls, from the main study's first eval set."""
    key = main_key(results.profile)
    sizes = [n for n in results.sizes(key) if n > 0]
    if not sizes:
        return [Finding(i, c, "not measured", "no curve points yet", {}) for i, c in enumerate(CLAIMS, 1)]
    largest = sizes[-1]
    early = max([n for n in sizes if n <= EARLY_PHASE_MAX_N] or sizes[:1])
    return [
        critical_phase(results, key, early),
        negative_types(results),
        plausible_wrong_answers(results, key, largest),
        negatives_alone(results, key, largest),
        negative_weight(results, key, largest),
        *controls(results, key, largest),
    ]


def critical_phase(results: ExperimentResults, key, early: int) -> Finding:
    """1. Critical phase: likra beats sft early on."""
    diff = results.paired(results.correct(key, early, MODES["likra"]), results.correct(key, early, MODES["sft"]))
    value = value_per_example(results, key)
    ratio_text = ""
    if value:
        ratio_text = (
            f"; accuracy per added example over N 0->{value['segment'][1]}: positive (sft) "
            f"{value['per_positive'].fmt(4)}, negative (neg-only) {value['per_negative'].fmt(4)}, "
            f"pair (likra) {value['per_pair'].fmt(4)}"
        )
        if value["negative_vs_positive"] is not None:
            ratio_text += f"; a negative is worth {value['negative_vs_positive'].fmt(2)} positives"
    return Finding(
        1,
        CLAIMS[0],
        _verdict(diff),
        f"likra - sft acc_norm at N={early}: {diff.fmt()}{ratio_text}",
        {"N": early, "likra_minus_sft": diff.to_dict(), "value_per_example": _value_dict(value)},
    )


def negative_types(results: ExperimentResults) -> Finding:
    """2. Near-miss (first wrong choice) vs implausible (other-question) negatives."""
    near, far = main_key(results.profile, "first"), main_key(results.profile, "other-question")
    n2 = _largest_common(results, near, far)
    if n2 is None:
        return Finding(2, CLAIMS[1], "not measured", "no other-question run", {})
    seeds_far = len(results.tables[far][n2])
    a = results.correct(near, n2, MODES["likra"])[:seeds_far]
    b = results.correct(far, n2, MODES["likra"])
    d2 = results.paired(a, b)
    return Finding(
        2,
        CLAIMS[1],
        _verdict(d2),
        f"likra acc_norm, near-miss minus other-question negatives at N={n2}: {d2.fmt()}",
        {"N": n2, "near_minus_implausible": d2.to_dict()},
    )


def plausible_wrong_answers(results: ExperimentResults, key, largest: int) -> Finding:
    """3. Positives barely move plausible wrong answers; negatives identify them."""
    base_out = outrank_matrix(results, key, largest, "base")
    sft_out = outrank_matrix(results, key, largest, "sft")
    likra_out = outrank_matrix(results, key, largest, "likra")
    sft_drop = results.paired(base_out, sft_out)
    likra_drop = results.paired(base_out, likra_out)
    d3 = results.paired(sft_out, likra_out)
    return Finding(
        3,
        CLAIMS[2],
        _verdict(d3),
        f"at N={largest}, the most plausible wrong answer outranks the gold one in "
        f"{item_means(base_out).mean():.3f} of items under base; sft lowers that by {sft_drop.fmt()}, "
        f"likra by {likra_drop.fmt()} (likra - sft: {d3.fmt()})",
        {
            "N": largest,
            "outrank_base": float(item_means(base_out).mean()),
            "sft_reduction": sft_drop.to_dict(),
            "likra_reduction": likra_drop.to_dict(),
            "likra_minus_sft_reduction": d3.to_dict(),
        },
    )


def negatives_alone(results: ExperimentResults, key, largest: int) -> Finding:
    """4. Negatives alone come close to positives + negatives."""
    neg_only = results.correct(key, largest, MODES["neg-only"])
    likra = results.correct(key, largest, MODES["likra"])
    base = results.correct(key, largest, MODES["base"])
    gap = results.paired(likra, neg_only)
    gain = results.paired(neg_only, base)
    verdict = (
        "holds"
        if gap.hi <= CLOSE_MARGIN and gain.lo > 0
        else ("does not hold" if gap.lo > CLOSE_MARGIN or gain.hi < 0 else "inconclusive")
    )
    return Finding(
        4,
        CLAIMS[3],
        verdict,
        f"at N={largest}: likra - neg-only {gap.fmt()} (close = upper bound <= {CLOSE_MARGIN}); "
        f"neg-only - base {gain.fmt()}",
        {"N": largest, "likra_minus_neg_only": gap.to_dict(), "neg_only_minus_base": gain.to_dict()},
    )


def negative_weight(results: ExperimentResults, key, largest: int) -> Finding:
    """5. The weight of the negative head matters."""
    weights = [w for w in results.profile.weights if w > 0]
    accs = {w: results.correct(key, largest, weighted(1.0, w)) for w in weights}
    means = {w: item_means(a).mean() for w, a in accs.items()}
    best, worst = max(means, key=means.get), min(means, key=means.get)
    spread = results.paired(accs[best], accs[worst])
    best_vs_1 = results.paired(accs[best], accs[1.0]) if 1.0 in accs else None
    return Finding(
        5,
        CLAIMS[4],
        _verdict(spread),
        f"at N={largest}, acc_norm over w_neg in {weights}: best w={best} ({means[best]:.3f}), "
        f"worst w={worst} ({means[worst]:.3f}); best - worst {spread.fmt()}"
        + (f"; best - (w=1) {best_vs_1.fmt()}" if best_vs_1 else ""),
        {
            "N": largest,
            "acc_by_weight": {str(w): float(m) for w, m in means.items()},
            "best_minus_worst": spread.to_dict(),
        },
    )


def controls(results: ExperimentResults, key, largest: int) -> list[Finding]:
    """Controls the paper lacks: calibration score, pos-base, question-ablated run."""
    likra = results.correct(key, largest, MODES["likra"])
    base = results.correct(key, largest, MODES["base"])
    found = [
        calibration_control(results, key, largest, likra, base),
        pos_base_control(results, key, largest, likra, base),
        question_control(results, key, largest, likra, base),
    ]
    return [f for f in found if f is not None]


def calibration_control(results: ExperimentResults, key, largest: int, likra, base) -> Finding | None:
    """6. likra against lm-eval-style calibration (needs the unconditional scores)."""
    if "base_uncond" not in results.tables[key][largest][0][0]["choices"][0]:
        return None
    calibrated = results.correct(key, largest, MODES["calibrated"])
    d = results.paired(likra, calibrated)
    return Finding(
        6,
        'Control (a): likra beats the untrained calibration score log P(a|q) - log P(a|"Answer:")',
        _verdict(d),
        f"at N={largest}: likra - calibrated {d.fmt()}; calibrated - base {results.paired(calibrated, base).fmt()}",
        {"likra_minus_calibrated": d.to_dict()},
    )


def pos_base_control(results: ExperimentResults, key, largest: int, likra, base) -> Finding:
    """7. likra against pos - base, a ratio score without negatives."""
    pos_base = results.correct(key, largest, MODES["pos-base"])
    d = results.paired(likra, pos_base)
    return Finding(
        7,
        "Control (b): likra beats pos-base, a ratio score that uses no negatives",
        _verdict(d),
        f"at N={largest}: likra - pos-base {d.fmt()}; pos-base - base {results.paired(pos_base, base).fmt()}",
        {"likra_minus_pos_base": d.to_dict()},
    )


def question_control(results: ExperimentResults, key, largest: int, likra, base) -> Finding | None:
    """8. The same training with the question removed (when the ablated run exists)."""
    ablated = (key[0], key[1], curve_group("first", ablated=True))
    if largest not in results.tables.get(ablated, {}):
        return None
    likra_gain = results.paired(likra, base)
    noq = results.correct(ablated, largest, MODES["likra"])
    noq_gain = results.paired(noq, base[: len(noq)])
    d = results.paired(likra[: len(noq)], noq)  # same items, same seed(s): with vs without the question
    share = (noq_gain.value / likra_gain.value) if likra_gain.value > 0 else float("nan")
    return Finding(
        8,
        "Control (c): the likra gain needs the question (question-ablated run gains less)",
        _verdict(d),
        f"at N={largest}: likra gain over base {likra_gain.fmt()}; the same training "
        f"without the question gains {noq_gain.fmt()} ({share:.0%} of it) from answer-only cues; "
        f"likra with - without the question {d.fmt()}",
        {
            "likra_gain": likra_gain.to_dict(),
            "question_ablated_gain": noq_gain.to_dict(),
            "with_minus_without_question": d.to_dict(),
        },
    )


def _value_dict(value: dict | None) -> dict | None:
    if value is None:
        return None
    return {k: (v.to_dict() if isinstance(v, Estimate) else v) for k, v in value.items()}


CLAIMS = (
    "In a critical early phase likra improves far more per training example than sft",
    "Near-miss negatives (the question's own distractors) help more than implausible ones",
    "Training on positives barely lowers plausible wrong answers; training on negatives identifies them",
    "Negatives alone (neg-only) come close to positives plus negatives (likra)",
    "The weight of the negative head matters",
)
