"""Experiment profiles: what ``likra reproduce`` trains and evaluates, sized to a budget.

``quick`` runs a whole experiment in miniature on 2 CPU cores in under 3 minutes (its verdicts
are underpowered); ``default`` fits a 2-core CPU in about 30 minutes and
is sized to decide the findings on ARC-Challenge; ``hellaswag`` and ``winogrande`` take the same
recipe to HellaSwag and Winogrande; ``pool`` draws the main curve over the whole ARC pool (N = 6615) with 3 seeds;
``full`` is the paper-size experiment (all 6,615 ARC questions, full test sets, HellaSwag and
Winogrande); ``open-ended`` asks ARC and OpenBookQA questions without their choices (finding 11).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from likra.data.pairs import STRATEGIES
from likra.errors import LikraError, unknown_name
from likra.io import atomic_write_json, read_json
from likra.layout import PROFILE, eval_set_key, eval_set_title
from likra.methods import DEFAULT_METHOD, get_method, method_heads
from likra.model.precision import DEFAULT_DTYPE
from likra.model.resolve import DEFAULT_MODEL
from likra.training.loop import TrainSettings
from likra.training.presets import default_lr


@dataclass(frozen=True)
class EvalSet:
    task: str
    split: str
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise LikraError(f"limit must be >= 1, got {self.limit}", field="limit")

    @property
    def key(self) -> str:
        """A folder- and label-safe name (a .jsonl path becomes its file stem)."""
        return eval_set_key(self.task, self.split, self.limit)

    @classmethod
    def parse(cls, text: str) -> EvalSet:
        """``task[:split[:limit]]`` (split defaults to test)."""
        parts = text.split(":")
        if len(parts) > 3 or not all(parts) or (len(parts) == 3 and not _is_int(parts[2])):
            raise LikraError(f"expected TASK[:SPLIT[:LIMIT]] with an integer LIMIT, got {text!r}", field="eval_task")
        return cls(parts[0], parts[1] if len(parts) > 1 else "test", int(parts[2]) if len(parts) > 2 else None)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Study:
    """One training task with the sets it is evaluated on."""

    train_task: str
    eval_sets: tuple[EvalSet, ...]
    max_questions: int | None  # None = the whole pool
    train_split: str = "train"

    def __post_init__(self) -> None:
        if self.max_questions is not None and self.max_questions < 1:
            raise LikraError(f"max_questions must be >= 1, got {self.max_questions}", field="max_questions")


POINTS = ("checkpoints", "subsets")
KNOBS = {"contrastive": ("weight", "alpha"), "experts": ("beta",)}  # the decoding knobs chosen on validation


@dataclass(frozen=True)
class OpenEnded:
    """Questions asked without their choices, the answers graded against them (finding 11).

    The main curve's runs generate in ``modes`` at each N of ``eval_n`` (the largest decides the
    finding), each method run in its own adapter's mode, the base model once. The knobs of
    contrastive (``weights`` x ``alphas``) and experts (``betas``) are chosen on ``validation``
    with the first seed's run at the largest N, before any test answer is generated: the best
    gold share minus known-wrong share (ties: the grid's first, so list the defaults first)."""

    eval_sets: tuple[EvalSet, ...]
    validation: EvalSet
    eval_n: tuple[int, ...]
    modes: tuple[str, ...] = ("pos", "contrastive")
    max_new_tokens: int = 32
    weights: tuple[float, ...] = (1.0, 0.5, 2.0)
    alphas: tuple[float, ...] = (0.1, 0.3)
    betas: tuple[float, ...] = (1.0, 0.5, 2.0)

    def __post_init__(self) -> None:
        from likra.generation.decoding import GenerateSettings

        if not self.eval_sets or not self.eval_n:
            raise LikraError("open-ended generation needs evaluation sets and N", field="open_ended")
        for mode in self.modes:  # every value checked as `likra generate` checks it
            for knobs in self.grid(mode):
                GenerateSettings(mode=mode, max_new_tokens=self.max_new_tokens, **knobs)

    def grid(self, mode: str) -> list[dict[str, float]]:
        """The knob settings tried on validation for ``mode`` (one empty setting: nothing to choose)."""
        values = {"weight": self.weights, "alpha": self.alphas, "beta": self.betas}
        grid: list[dict[str, float]] = [{}]
        for knob in KNOBS.get(mode, ()):
            grid = [{**g, knob: v} for g in grid for v in values[knob]]
        return grid

    @classmethod
    def from_dict(cls, data: dict) -> OpenEnded:
        plain = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        plain["eval_sets"] = tuple(EvalSet(**e) for e in data["eval_sets"])
        plain["validation"] = EvalSet(**data["validation"])
        return cls(**plain)


@dataclass(frozen=True)
class Profile:
    name: str
    model: str
    studies: tuple[Study, ...]
    seeds: tuple[int, ...] = (42, 43, 44)
    lr: float = TrainSettings.lr
    batch_size: int = TrainSettings.batch_size
    points: str = "checkpoints"  # or "subsets": independent runs on nested subsets
    negative_strategies: tuple[str, ...] = ("random", "hardest", "easiest", "other-question", "all")
    negatives_seeds: tuple[int, ...] = (42,)
    negatives_max_questions: int | None = 256
    ablation: bool = True  # question-ablated control runs (one per seed)
    ablation_max_questions: int | None = None  # None = as far as the main curve
    # Curve points scored for the negative-type and ablation runs (None = every checkpoint):
    # scoring, not training, dominates CPU time, so the default profile scores a few.
    curve_eval_n: tuple[int, ...] | None = None
    negatives_eval_n: tuple[int, ...] | None = None
    ablation_eval_n: tuple[int, ...] | None = None
    weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
    # Other ways to learn from the same negatives (sft, unlikelihood, dpo, kto), trained on the
    # main curve's questions, negatives and seeds, each at its own default learning rate.
    methods: tuple[str, ...] = ()
    methods_max_questions: int | None = None  # None = as far as the main curve
    methods_eval_n: tuple[int, ...] | None = None  # None = every checkpoint
    # (method, lr) pairs replacing a method's default learning rate, e.g. one swept on another
    # model (benchmarks/lr_sweep.py --model M); likra's and sft's rate is ``lr``.
    method_lrs: tuple[tuple[str, float], ...] = ()
    shots: int = 0
    dtype: str = DEFAULT_DTYPE  # training precision of the frozen base model: fp32, bf16 or auto (resolved when run)
    # Scoring precision: auto is fp32, since a likelihood ratio needs it (likra.model.precision).
    score_dtype: str = DEFAULT_DTYPE
    open_ended: OpenEnded | None = None  # finding 11: answers generated without the choices, graded
    summary: str = ""  # a few words for `likra reproduce --help`
    description: str = ""

    def __post_init__(self) -> None:
        # Checked here, when the profile is built: a setting that fails later would leave a
        # profile.json behind that refuses the corrected command as "a different profile".
        TrainSettings(lr=self.lr, batch_size=self.batch_size)  # the same checks as `likra train`
        if not self.seeds:
            raise LikraError("expected at least one seed", field="seeds")
        for seeds, field in ((self.seeds, "seeds"), (self.negatives_seeds, "negatives_seeds")):
            twice = sorted({s for s in seeds if seeds.count(s) > 1})
            if twice:
                raise LikraError(f"seed {twice[0]} is given twice (each seed is one run)", field=field)
        if self.points not in POINTS:
            raise LikraError(f"expected {' or '.join(map(repr, POINTS))}, got {self.points!r}", field="points")
        for strategy in self.negative_strategies:
            if strategy not in STRATEGIES:
                raise unknown_name("negative strategy", strategy, STRATEGIES)

    def to_dict(self) -> dict:
        return asdict(self)


ARC_C_TEST, ARC_E_TEST = EvalSet("arc_challenge", "test"), EvalSet("arc_easy", "test")


def _beyond_arc(task: str, title: str, negatives: str, metric: str, cost: str, summary: str) -> Profile:
    """The beyond-ARC profiles (issue 27): one recipe, trained and evaluated on ``task``."""
    return Profile(
        name=task,
        summary=f"{title}, 3 seeds, {summary}",
        model=DEFAULT_MODEL,
        studies=(Study(task, (EvalSet(task, "validation", 500),), 1024),),
        batch_size=16,
        curve_eval_n=(32, 64, 128, 256, 512, 1024),
        negative_strategies=("other-question",),
        negatives_seeds=(42, 43, 44),
        negatives_max_questions=512,
        negatives_eval_n=(128, 512),
        ablation_max_questions=256,
        ablation_eval_n=(256,),
        methods=("unlikelihood", "dpo"),
        methods_max_questions=256,
        methods_eval_n=(256,),
        description=(
            f"Beyond ARC (issue 27): SmolLM2-135M trained on {title}'s train split with {negatives}, 3 seeds, "
            "batch 16, up to N=1024, scored at N=0, 32, 64, ..., 1024 on the first 500 validation items "
            f"({metric}; item level of the 95% interval about +-0.044 at accuracy 0.4-0.5, the seed level adds "
            "what seeds disagree); other-question negatives to N=512 scored at 128 and 512 (finding 2), the "
            f"question-ablated control and unlikelihood and DPO to N=256 scored at 256 (findings 8 and 10). {cost}; "
            "runs resume."
        ),
    )


PROFILES: dict[str, Profile] = {
    "default": Profile(
        name="default",
        summary="the README's results; 29 min on 2 Intel Xeon cores in fp32",
        model=DEFAULT_MODEL,
        studies=(Study("arc", (EvalSet("arc_challenge", "test", 352),), 256),),
        batch_size=16,
        curve_eval_n=(32, 64, 128, 256),
        # Findings 2 and 10 are decided at N=128, where likra has learned (it rose from 0.33 to
        # 0.36 over base's 0.27 between N=64 and 128 in the run before this choice); at N=32-64
        # they compared models that had barely moved (issue 25).
        negative_strategies=("other-question",),
        negatives_seeds=(42, 43, 44),
        negatives_max_questions=128,
        negatives_eval_n=(128,),
        ablation_max_questions=128,
        ablation_eval_n=(128,),
        methods=("unlikelihood", "dpo"),
        methods_max_questions=128,
        methods_eval_n=(128,),
        description=(
            "SmolLM2-135M on 2 CPU cores, 3 seeds for every finding, in 29 min on 2 Intel Xeon cores without AMX "
            "(fp32, peak RSS 3.0 GB; 15-35 min was measured where bf16 training is fast, before scoring moved to "
            "fp32): train on "
            "the ARC pool up to N=256 questions (batch 16), score N=0, 32, 64, 128 and 256 on the "
            "first 352 ARC-Challenge test items (none of which is in the training pool); implausible "
            "(other-question) negatives against the main curve's near-miss `first` ones, and unlikelihood "
            "and DPO on the main curve's questions and negatives, each up to N=128 and scored there, where "
            "likra has learned (findings 2 and 10; the methods profile draws their curves); the "
            "question-ablated control up to N=128. ARC-Easy (whose test set is in the ARC training "
            "pool), the other negative types and KTO are in the full profile. Scoring dominates the "
            "cost, so the evaluation subset is sized for a 95% half-width (two-level bootstrap, "
            "seeds and items) of at most 0.05 on the main curve."
        ),
    ),
    "quick": Profile(
        name="quick",
        summary="a whole small experiment in under 3 min on 2 CPU cores; underpowered verdicts",
        model=DEFAULT_MODEL,
        studies=(Study("arc", (EvalSet("arc_challenge", "test", 50),), 32),),
        seeds=(42, 43),
        batch_size=16,
        negative_strategies=("other-question",),
        negatives_seeds=(42, 43),
        negatives_max_questions=32,
        negatives_eval_n=(32,),
        ablation_eval_n=(32,),
        methods=("unlikelihood",),
        methods_eval_n=(32,),
        description=(
            "A whole experiment in miniature, SmolLM2-135M on 2 CPU cores in under 3 minutes: likra, sft "
            "and neg-only trained on the ARC pool up to N=32 questions (batch 16, `first` negatives, 2 seeds), "
            "scored at N=0, 16 and 32 on the first 50 ARC-Challenge test items; implausible "
            "(other-question) negatives, the question-ablated control and unlikelihood on the same questions, "
            "seeds and N, scored at N=32. Its samples are far too small to decide anything: its verdicts are "
            "underpowered (the report says so), and only the default profile is sized to decide them."
        ),
    ),
    "full": Profile(
        name="full",
        summary="paper size, sized for a GPU",
        model=DEFAULT_MODEL,
        studies=(
            Study("arc", (ARC_C_TEST, ARC_E_TEST), None),
            Study("hellaswag", (EvalSet("hellaswag", "validation"),), 8192),
            Study("winogrande", (EvalSet("winogrande", "validation"),), 8192),
        ),
        negatives_seeds=(42, 43, 44),
        negatives_max_questions=None,
        methods=("unlikelihood", "dpo", "kto"),
        methods_max_questions=1024,
        description=(
            "The paper-size experiment: every ARC question, full test sets, HellaSwag and Winogrande; "
            "unlikelihood, DPO and KTO curves up to N=1024 beside likra's."
        ),
    ),
    "pool": Profile(
        name="pool",
        summary="the whole ARC pool, 3 seeds, 2.5-5 h",
        model=DEFAULT_MODEL,
        studies=(Study("arc", (ARC_C_TEST,), None),),
        curve_eval_n=(32, 64, 128, 512, 2048, 6615),
        negative_strategies=("other-question",),
        negatives_seeds=(42, 43, 44),
        negatives_max_questions=2048,
        negatives_eval_n=(512, 2048),
        ablation_max_questions=2048,
        ablation_eval_n=(2048,),
        description=(
            "The paper's N range with intervals: likra, sft and neg-only trained on the whole ARC pool "
            "(6,615 questions, `first` negatives, batch 32, the reference's setting), 3 seeds, scored at "
            "N=0, 32, 64, 128, 512, 2048 and 6615 on all 1,172 ARC-Challenge test items; implausible "
            "(other-question) negatives to N=2048, scored at 512 and 2048 (finding 2), and the "
            "question-ablated control to N=2048 (finding 8), 3 seeds each. On 2 CPU cores about 2.5 h "
            "with bf16 training on an Intel AMX CPU (scored in bf16 then), 4 h 41 min in fp32 on an AMD "
            "EPYC in three parts of 1 h 27 min to 1 h 44 min (`--only-seeds`, each partly shared with "
            "other jobs); runs resume."
        ),
    ),
    "methods": Profile(
        name="methods",
        summary="finding 10: likra, unlikelihood, DPO, KTO",
        model=DEFAULT_MODEL,
        studies=(Study("arc", (EvalSet("arc_challenge", "test", 352),), 128),),
        batch_size=16,
        curve_eval_n=(32, 64, 128),
        negative_strategies=(),
        ablation=False,
        methods=("unlikelihood", "dpo", "kto"),
        methods_eval_n=(32, 64, 128),
        description=(
            "Finding 10 on 2 CPU cores: likra, unlikelihood, DPO and KTO trained on the same ARC questions, "
            "`first` negatives, seeds (3) and batches (16) up to N=128, each at its own swept learning rate, "
            "scored at N=0, 32, 64 and 128 on the default profile's 352 ARC-Challenge test items."
        ),
    ),
    "open-ended": Profile(
        name="open-ended",
        summary="finding 11: answers generated without the choices, graded; 1 h 26 min",
        model=DEFAULT_MODEL,
        studies=(Study("arc", (EvalSet("arc_challenge", "test", 200),), 256),),
        batch_size=16,
        curve_eval_n=(128, 256),
        negative_strategies=(),
        ablation=False,
        methods=("unlikelihood", "dpo"),
        methods_eval_n=(256,),
        open_ended=OpenEnded(
            eval_sets=(EvalSet("arc_challenge", "test", 200), EvalSet("openbookqa", "test", 200)),
            validation=EvalSet("arc_challenge", "validation", 100),
            eval_n=(128, 256),
        ),
        description=(
            "Finding 11 (issue 29): do negatives make a model *say* plausible wrong answers less often? "
            "SmolLM2-135M trained as the default profile (ARC pool, `first` negatives, batch 16, 3 seeds) up "
            "to N=256, with unlikelihood and DPO on the same questions and negatives; at N=128 and 256 each "
            "run answers the first 200 ARC-Challenge and 200 OpenBookQA test questions without their choices "
            "(greedy, 32 new tokens, one line): the positive head alone (sft), likra's contrastive decoding "
            "(w and alpha chosen on 100 ARC-Challenge validation questions first), each method's adapter, "
            "and the base model; every answer graded gold, known wrong or other against the item's choices. "
            "Multiple-choice scores at N=128 and 256 as usual. 1 h 26 min on 2 Intel Xeon cores (fp32), "
            "peak RSS 3.3 GB; runs resume."
        ),
    ),
    "hellaswag": _beyond_arc(
        "hellaswag",
        "HellaSwag",
        "`first` negatives",
        "acc_norm, as lm-eval",
        "About 1 h 32 min on 2 Intel Xeon cores (fp32); 1 h 59 min in one invocation on 2 AMD EPYC cores "
        "(bf16 training, fp32 scores), peak RSS 2.87 GB",
        "1.5-2 h",
    ),
    "winogrande": _beyond_arc(
        "winogrande",
        "Winogrande",
        "`first` negatives (the other option)",
        "lm-eval's partial scoring",
        "Measured: 1 h 01 min on 2 Intel Xeon cores (fp32), peak RSS 2.3 GB",
        "1 h",
    ),
}


def profiles_help() -> str:
    """Every shipped profile with its summary, as ``likra reproduce --help`` lists them."""
    named = [f"{name} ({p.summary})" if p.summary else name for name, p in PROFILES.items()]
    return ", ".join(named[:-1]) + " or " + named[-1] + "."


def method_lr(profile: Profile, method: str) -> float:
    """The profile's learning rate is likra's (and sft's: its pos head); other methods use their own
    default, chosen by benchmarks/lr_sweep.py."""
    if get_method(method).lr_is_likras:
        return profile.lr
    return dict(profile.method_lrs).get(method, default_lr(method))


def parse_method_lrs(text: str) -> tuple[tuple[str, float], ...]:
    """``dpo=3e-3,unlikelihood=1e-3`` as (method, lr) pairs; likra's and sft's rate is ``--lr``."""
    pairs = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        method, sep, value = part.partition("=")
        method = method.strip()
        try:
            lr = float(value)
        except ValueError:
            lr = math.nan
        if not sep or not (math.isfinite(lr) and lr > 0):
            raise LikraError(f"expected METHOD=LR with a positive LR, got {part!r}", field="method_lr")
        if get_method(method).lr_is_likras:  # an unknown method fails here
            raise LikraError(f"{method}'s learning rate is --lr, not --method-lr", field="method_lr")
        pairs.append((method, lr))
    return tuple(sorted(dict(pairs).items()))


def parse_seeds(text: str) -> tuple[int, ...]:
    """``42,43,44`` as seeds; an empty list or a part that is not an integer is an error."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(_is_int(p) for p in parts):
        raise LikraError(f"expected comma-separated integer seeds such as 42,43,44, got {text!r}", field="seeds")
    return tuple(int(p) for p in parts)


def check_only_seeds(profile: Profile, seeds: tuple[int, ...]) -> None:
    """Refuse a part (``--only-seeds``) the profile cannot be split into: a seed it does not
    train, or a profile with open-ended answers, whose decoding knobs are chosen over every run."""
    known = sorted(set(profile.seeds) | set(profile.negatives_seeds))
    unknown = [s for s in seeds if s not in known]
    if unknown:
        raise LikraError(
            f"seed {unknown[0]} is not one of profile {profile.name}'s seeds ({', '.join(map(str, known))})",
            field="only-seeds",
        )
    if profile.open_ended is not None:
        raise LikraError(
            f"profile {profile.name} cannot run in parts: its open-ended decoding is tuned over every seed's runs",
            field="only-seeds",
        )


def get_profile(name: str, **overrides) -> Profile:
    if name not in PROFILES:
        raise unknown_name("profile", name, list(PROFILES))
    profile = PROFILES[name]
    changed = {k: v for k, v in overrides.items() if v is not None and v != getattr(profile, k)}
    if not changed:
        return profile
    # The description states the profile's own settings; say which of them this run replaced.
    note = "; ".join(f"{k} = {v}" for k, v in changed.items())
    return replace(profile, **changed, description=f"{profile.description} Overridden here: {note}.")


def curve_profile(
    train_task: str,
    eval_sets: tuple[EvalSet, ...],
    max_questions: int | None,
    strategies: list[str],
    model: str = DEFAULT_MODEL,
    seeds: tuple[int, ...] = (42,),
    points: str = "checkpoints",
    batch_size: int = TrainSettings.batch_size,
    lr: float = TrainSettings.lr,
    ablation: bool = False,
    dtype: str = DEFAULT_DTYPE,
    methods: tuple[str, ...] | list[str] = (),
    score_dtype: str = DEFAULT_DTYPE,
) -> Profile:
    """The profile of ``likra curve``: one study, the main curve drawn with ``first`` negatives,
    every other strategy as a negative-type comparison, and every other method (sft,
    unlikelihood, dpo, kto) on the main curve's data, all over the same seeds."""
    strategies = ["first"] + [s for s in strategies if s != "first"]
    for method in methods:
        method_heads(method)  # an unknown method fails before any work
    return Profile(
        name="custom",
        model=model,
        studies=(Study(train_task, eval_sets, max_questions),),
        seeds=seeds,
        lr=lr,
        batch_size=batch_size,
        points=points,
        negative_strategies=tuple(strategies[1:]),
        negatives_seeds=seeds,
        negatives_max_questions=max_questions,
        ablation=ablation,
        methods=tuple(m for m in dict.fromkeys(methods) if m != DEFAULT_METHOD),
        dtype=dtype,
        score_dtype=score_dtype,
        # Titles name an evaluation set without its split repeated ("test", not "test-test").
        description=(
            f"likra curve: train {train_task}, "
            f"evaluate {', '.join(eval_set_title(s.task, s.split, s.limit) for s in eval_sets)}"
        ),
    )


def profile_from_dict(data: dict) -> Profile:
    studies = tuple(
        Study(
            s["train_task"],
            tuple(EvalSet(**e) for e in s["eval_sets"]),
            s["max_questions"],
            s.get("train_split", "train"),
        )
        for s in data["studies"]
    )
    fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k != "studies"}
    fields["method_lrs"] = tuple((m, float(lr)) for m, lr in data.get("method_lrs", ()))
    if data.get("open_ended") is not None:
        fields["open_ended"] = OpenEnded.from_dict(data["open_ended"])
    return Profile(studies=studies, **fields)


PROSE = ("summary", "description")


def check_profile(exp_dir: Path, profile: Profile) -> None:
    """Refuse to mix a different profile into an existing experiment (writes nothing)."""
    path = exp_dir / PROFILE
    if not path.exists():
        return
    saved = load_profile(exp_dir)
    # The summary and description are prose about the settings (reworded between releases): not settings.
    differ = [
        f"{k} {v!r} (this command: {profile.to_dict()[k]!r})"
        for k, v in saved.to_dict().items()
        if k not in PROSE and profile.to_dict().get(k) != v
    ]
    if differ:
        raise LikraError(
            f"this experiment directory was made with a different profile ({'; '.join(differ)}); "
            "use a new directory (or `likra report` to rebuild its report)",
            file=path,
        )


def save_profile(exp_dir: Path, profile: Profile) -> None:
    """Record the profile; refuse to mix a different one into an existing experiment."""
    check_profile(exp_dir, profile)
    if not (exp_dir / PROFILE).exists():
        atomic_write_json(exp_dir / PROFILE, profile.to_dict())


def load_profile(exp_dir: Path) -> Profile:
    path = exp_dir / PROFILE
    if not path.exists():
        raise LikraError("not an experiment directory (no profile.json)", file=exp_dir)
    return profile_from_dict(read_json(path))
