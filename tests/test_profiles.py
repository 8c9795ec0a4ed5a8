"""The named profiles and the check that keeps one experiment folder to one profile."""

from __future__ import annotations

from dataclasses import replace

import pytest

from likra.errors import LikraError
from likra.experiments.profiles import PROFILES, check_profile, save_profile


def test_a_reworded_description_is_not_a_different_profile(tmp_path):
    """Descriptions are prose and change between releases; an experiment must still resume."""
    save_profile(tmp_path, PROFILES["default"])
    check_profile(tmp_path, replace(PROFILES["default"], description="reworded", summary="reworded too"))
    with pytest.raises(LikraError, match=r"different profile \(lr 0\.001 \(this command: 0\.002\)\)"):
        check_profile(tmp_path, replace(PROFILES["default"], lr=0.002))


@pytest.mark.parametrize("name, task", [("hellaswag", "hellaswag"), ("winogrande", "winogrande")])
def test_the_beyond_arc_profiles_train_and_evaluate_on_their_own_benchmark(name, task):
    profile = PROFILES[name]
    (study,) = profile.studies
    assert study.train_task == task and study.train_split == "train" and study.max_questions == 1024
    assert [(e.task, e.split, e.limit) for e in study.eval_sets] == [(task, "validation", 500)]
    assert profile.seeds == profile.negatives_seeds == (42, 43, 44)  # no verdict rests on one seed
    assert profile.curve_eval_n == (32, 64, 128, 256, 512, 1024)
    assert set(profile.methods) == {"unlikelihood", "dpo"} and profile.ablation


def test_reproduce_help_lists_every_profile_once_with_its_summary():
    """The help is built from the profiles, so a new profile cannot be missing from it."""
    from likra.experiments.config import ReproduceConfig
    from likra.experiments.profiles import profiles_help

    text = profiles_help()
    for name, profile in PROFILES.items():
        assert profile.summary, name
        assert text.count(f"{name} ({profile.summary})") == 1
    assert ReproduceConfig.__dataclass_fields__["profile"].metadata["help"] == text
