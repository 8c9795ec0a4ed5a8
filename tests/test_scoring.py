"""The packed scorer against naive per-request scoring, and its tokenisation and masking.

Naive scoring is what lm-evaluation-harness does: run the model (its ordinary ``forward``, plain
causal attention) on each context+continuation alone and sum the log-softmax of the
continuation tokens. The packed scorer must give the same numbers for every request however the
requests are grouped, packed into rows, batched or ordered.
"""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from fixtures import load_fixture
from likra.lm.forward import target_logprobs
from likra.lm.packing import Group, build_batch, group_requests, plan_batches, plan_rows, split_long_groups
from likra.lm.tokenize import encode_requests, prefix_token_id
from likra.score.scorer import score_items, score_requests


def mixed_items():
    """ARC (one context shared by 4 choices), Winogrande (a context per choice), HellaSwag."""
    return (
        load_fixture("arc_easy_test")[:4]
        + load_fixture("winogrande_validation")[:4]
        + load_fixture("hellaswag_validation")[:3]
        + load_fixture("arc_challenge_test")[:2]
    )


def all_requests(items):
    return [r for item in items for r in item.requests()]


def naive_loglik(model, context_ids, continuation_ids) -> float:
    """Sum of log P(continuation token | everything before it), one sequence, plain forward."""
    ids = list(context_ids) + list(continuation_ids)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids[:-1]])).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    start = len(context_ids) - 1  # the logits at the last context token predict the first answer token
    positions = torch.arange(start, start + len(continuation_ids))
    return float(logprobs[positions, torch.tensor(list(continuation_ids))].sum())


@pytest.fixture(params=["no-bos", "bos"])
def base(request):
    return request.getfixturevalue("tiny_base" if request.param == "no-bos" else "tiny_bos_base")


def test_packed_equals_naive(base) -> None:
    requests = all_requests(mixed_items())
    scores, n_tokens, n_truncated, _ = score_requests(
        base.model, base.tokenizer, requests, ("base",), max_length=base.max_length, progress=False
    )
    encoded = encode_requests(base.tokenizer, requests, base.max_length)
    assert n_truncated == 0
    assert n_tokens == [len(e.continuation) for e in encoded]
    naive = [naive_loglik(base.model, e.context, e.continuation) for e in encoded]
    assert len(scores["base"]) == len(requests)
    for got, want in zip(scores["base"], naive):
        assert got == pytest.approx(want, abs=1e-4)
    # Sanity: a random model gives each token roughly 1/vocab, so the scores are clearly negative
    # and differ between choices (the comparison above is not trivially 0 == 0).
    assert max(scores["base"]) < -1.0
    assert len({round(s, 3) for s in scores["base"]}) > len(requests) // 2


def test_every_continuation_token_scored_once_and_no_context_token(base) -> None:
    tokenizer = base.tokenizer
    requests = all_requests(mixed_items())
    encoded = encode_requests(tokenizer, requests, base.max_length)
    groups = group_requests([(e.context, e.continuation) for e in encoded])
    # ARC/HellaSwag choices share their context: one group per item, not per request.
    assert len(groups) < len(requests)
    targets: dict[int, list[int]] = {}
    for rows in plan_batches(plan_rows(groups, 64), 256):
        batch = build_batch(rows, tokenizer.pad_token_id, torch.float32)
        for key, tok in zip(batch.target_keys.tolist(), batch.target_ids.tolist()):
            targets.setdefault(key, []).append(tok)
    for key, (e, (context, continuation)) in enumerate(zip(encoded, requests)):
        # exactly the continuation's tokens, each once, in order: no context token is a target
        assert targets[key] == list(e.continuation)
        assert len(e.continuation) >= 1
        # context + continuation tokens are exactly the whole text, split at the right place
        whole = tokenizer(context + continuation)["input_ids"]
        assert list(e.context) + list(e.continuation) == whole
        text_ctx = tokenizer.decode(e.context, skip_special_tokens=True)
        text_cont = tokenizer.decode(e.continuation, skip_special_tokens=True)
        assert text_ctx + text_cont == context + continuation
        if tokenizer.bos_token_id is not None:
            assert e.context[0] == tokenizer.bos_token_id
            assert tokenizer.bos_token_id not in e.continuation


def test_a_context_shared_by_every_request_is_split_into_rows_that_fit(tiny_bos_base) -> None:
    """The answer-prior score (and a question-ablated run) gives every choice of every item the
    same context. Packed as one group, the 4,688 choices of ARC-Challenge test made one row of
    ~20k tokens, whose attention mask took gigabytes; split by branches, each row fits, and each
    choice still gets the log-likelihood it has alone after that context."""
    base = tiny_bos_base
    requests = [("Answer:", continuation) for _, continuation in all_requests(mixed_items())]
    encoded = encode_requests(base.tokenizer, requests, base.max_length)
    (group,) = group_requests([(e.context, e.continuation) for e in encoded])
    assert group.n_inputs > 4 * 64
    rows = plan_rows([group], 64)
    assert len(rows) > 4
    assert all(sum(g.n_inputs for g in row) <= 64 for row in rows)
    keys = [k for row in rows for g in row for k in g.keys]
    assert sorted(keys) == list(range(len(requests)))
    scores, _, _, _ = score_requests(
        base.model, base.tokenizer, requests, max_length=base.max_length, row_tokens=64, progress=False
    )
    naive = [naive_loglik(base.model, e.context, e.continuation) for e in encoded]
    assert scores["base"] == pytest.approx(naive, abs=1e-4)


@given(
    prefix_length=st.integers(1, 40),
    branch_lengths=st.lists(st.integers(1, 30), min_size=1, max_size=60),
    row_tokens=st.integers(1, 200),
)
def test_split_long_groups_keeps_every_branch_once_with_its_prefix(prefix_length, branch_lengths, row_tokens) -> None:
    prefix = tuple(range(prefix_length))
    group = Group(prefix=prefix)
    for key, length in enumerate(branch_lengths):
        group.branches.append(tuple(1000 + key for _ in range(length)))
        group.keys.append(key)
    parts = split_long_groups([group], row_tokens)
    # every branch exactly once, in order, after the same prefix
    assert [k for part in parts for k in part.keys] == list(range(len(branch_lengths)))
    assert [b for part in parts for b in part.branches] == group.branches
    assert all(part.prefix == prefix and part.branches for part in parts)
    # each part fits the row, unless it is one branch that cannot fit with its prefix anyway
    assert all(part.n_inputs <= row_tokens or len(part.branches) == 1 for part in parts)
    # greedy: a part ends only where its next branch would not have fitted
    for part, following in zip(parts, parts[1:]):
        assert part.n_inputs + len(following.branches[0]) - 1 > row_tokens
    # nothing is split that fitted
    if group.n_inputs <= row_tokens:
        assert parts == [group]


def test_trailing_context_space_moves_to_continuation(base) -> None:
    (a,), (b,) = (
        encode_requests(base.tokenizer, [("Question: Which gas?\nAnswer: ", "oxygen")], 256),
        encode_requests(base.tokenizer, [("Question: Which gas?\nAnswer:", " oxygen")], 256),
    )
    assert a == b


def test_empty_context_uses_prefix_token(base) -> None:
    tokenizer = base.tokenizer
    continuation = " The producers in all ecosystems are plants."
    (e,) = encode_requests(tokenizer, [("", continuation)], base.max_length)
    expected_prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    assert prefix_token_id(tokenizer) == expected_prefix
    assert e.context == (expected_prefix,)
    assert list(e.continuation) == tokenizer(continuation, add_special_tokens=False)["input_ids"]
    scores, n_tokens, _, _ = score_requests(
        base.model, base.tokenizer, [("", continuation), ("Question: x\nAnswer:", " y")], progress=False
    )
    assert n_tokens[0] == len(e.continuation)
    assert scores["base"][0] == pytest.approx(naive_loglik(base.model, e.context, e.continuation), abs=1e-4)


def test_long_contexts_truncated_from_the_left(base) -> None:
    requests = all_requests(mixed_items())
    full = encode_requests(base.tokenizer, requests, 10_000)
    max_length = sorted(len(f.context) + len(f.continuation) for f in full)[len(full) // 2]
    cut = encode_requests(base.tokenizer, requests, max_length)
    should_cut = [len(f.context) + len(f.continuation) > max_length + 1 for f in full]
    assert 0 < sum(should_cut) < len(requests)
    scores, _, n_truncated, _ = score_requests(
        base.model, base.tokenizer, requests, ("base",), max_length=max_length, progress=False
    )
    assert n_truncated == sum(should_cut)
    for f, c, was_cut, score in zip(full, cut, should_cut, scores["base"]):
        assert c.truncated == was_cut
        if was_cut:
            # lm-eval keeps the last max_length + 1 tokens: the continuation whole, the context's tail
            assert len(c.context) + len(c.continuation) == max_length + 1
            assert c.continuation == f.continuation
            assert c.context == f.context[-len(c.context) :]
        else:
            assert c == f
        assert score == pytest.approx(naive_loglik(base.model, c.context, c.continuation), abs=1e-4)


def test_continuation_longer_than_max_length_does_not_crash(tiny_base) -> None:
    long_answer = " " + " ".join(["carbon dioxide"] * 40)
    scores, n_tokens, n_truncated, _ = score_requests(
        tiny_base.model, tiny_base.tokenizer, [("Question: x\nAnswer:", long_answer)], max_length=16, progress=False
    )
    assert n_truncated == 1 and n_tokens == [16]
    assert scores["base"][0] < 0


@pytest.mark.parametrize("row_tokens, batch_tokens", [(1, 1), (48, 160), (4096, 100_000)])
def test_packing_settings_do_not_change_scores(tiny_bos_base, row_tokens, batch_tokens) -> None:
    base = tiny_bos_base
    requests = all_requests(mixed_items())
    reference, _, _, _ = score_requests(base.model, base.tokenizer, requests, progress=False)
    scores, _, _, _ = score_requests(
        base.model, base.tokenizer, requests, progress=False, row_tokens=row_tokens, batch_tokens=batch_tokens
    )
    assert scores["base"] == pytest.approx(reference["base"], abs=1e-5)


@pytest.mark.parametrize("multiple", [32, 64])
def test_padding_rows_to_a_width_multiple_does_not_change_scores(tiny_bos_base, multiple) -> None:
    """Training pads micro-batches to a few widths (bounded kernel cache); the extra columns are
    masked padding, so every target's log-probability stays what it was."""
    base = tiny_bos_base
    encoded = encode_requests(base.tokenizer, all_requests(mixed_items()), base.max_length)
    groups = group_requests([(e.context, e.continuation) for e in encoded])
    pad = base.tokenizer.pad_token_id
    for rows in plan_batches(plan_rows(groups, 64), 256):
        exact = build_batch(rows, pad, torch.float32)
        padded = build_batch(rows, pad, torch.float32, width_multiple=multiple)
        assert padded.input_ids.shape[1] % multiple == 0
        assert 0 <= padded.input_ids.shape[1] - exact.input_ids.shape[1] < multiple
        assert padded.n_tokens == exact.n_tokens
        assert torch.equal(padded.target_ids, exact.target_ids)
        assert torch.equal(padded.target_keys, exact.target_keys)
        with torch.no_grad():
            want, got = target_logprobs(base.model, exact, "cpu"), target_logprobs(base.model, padded, "cpu")
        assert got.tolist() == pytest.approx(want.tolist(), abs=1e-5)


def test_item_order_does_not_change_scores(tiny_base) -> None:
    items = mixed_items()
    shuffled = items[:]
    random.Random(0).shuffle(shuffled)
    kw = dict(progress=False, row_tokens=128, batch_tokens=1024)
    rows, stats = score_items(tiny_base.model, tiny_base.tokenizer, items, ("base",), **kw)
    rows2, _ = score_items(tiny_base.model, tiny_base.tokenizer, shuffled, ("base",), **kw)
    assert [r["id"] for r in rows2] == [i.id for i in shuffled]
    by_id = {r["id"]: r for r in rows2}
    for row in rows:
        other = by_id[row["id"]]
        assert other["gold"] == row["gold"]
        for a, b in zip(row["choices"], other["choices"]):
            assert a["n_tokens"] == b["n_tokens"] and a["n_chars"] == b["n_chars"]
            assert a["base"] == pytest.approx(b["base"], abs=1e-5)
    assert stats.n_items == len(items) and stats.n_choices == sum(i.n_choices for i in items)


def test_score_items_rows(tiny_base) -> None:
    """Row layout: per choice a score per variant, n_tokens, and n_chars without the delimiter."""
    items = load_fixture("winogrande_validation")[:2] + load_fixture("arc_easy_test")[:1]
    rows, _ = score_items(tiny_base.model, tiny_base.tokenizer, items, ("base",), progress=False)
    for item, row in zip(items, rows):
        assert row["id"] == item.id and row["gold"] == item.gold
        assert len(row["choices"]) == item.n_choices
        for c, choice in enumerate(row["choices"]):
            assert set(choice) == {"base", "n_tokens", "n_chars"}
            assert choice["n_chars"] == len(item.continuations[c].removeprefix(" "))


def test_lm_head_chunking_does_not_change_scores(tiny_base, monkeypatch) -> None:
    """The LM head runs on chunks of scored positions (memory); any chunk size gives the same scores."""
    from likra.lm import forward

    items = load_fixture("arc_challenge_test")[:6]
    requests = [r for item in items for r in item.requests()]
    whole, _, _, _ = score_requests(tiny_base.model, tiny_base.tokenizer, requests, progress=False)
    monkeypatch.setattr(forward, "HEAD_CHUNK", 3)
    chunked, _, _, _ = score_requests(tiny_base.model, tiny_base.tokenizer, requests, progress=False)
    assert len(whole["base"]) == len(requests)
    for a, b in zip(whole["base"], chunked["base"]):
        assert a == pytest.approx(b, abs=1e-5)


def test_bf16_logits_widened_inside_log_softmax_equal_an_fp32_copy_bit_for_bit(tiny_base) -> None:
    """``_chunk_logprobs`` widens bf16 logits inside ``log_softmax``; the values and the gradients
    reaching the hidden states must be exactly those of widening by a separate ``.float()`` copy."""
    from likra.lm.forward import _chunk_logprobs, causal_lm_parts

    _, head = causal_lm_parts(tiny_base.model.to(torch.bfloat16))
    generator = torch.Generator().manual_seed(0)
    hidden = (4 * torch.randn(37, head.in_features, generator=generator)).to(torch.bfloat16).requires_grad_()
    targets = torch.randint(0, head.out_features, (37,), generator=generator)
    got = _chunk_logprobs(head, hidden, targets, None)
    (got_grad,) = torch.autograd.grad(got.sum(), hidden)
    want = torch.log_softmax(head(hidden).float(), dim=-1).gather(1, targets[:, None])[:, 0]
    (want_grad,) = torch.autograd.grad(want.sum(), hidden)
    assert got.dtype == torch.float32
    assert torch.equal(got, want)
    assert torch.equal(got_grad, want_grad)
    assert got.std() > 0 and got_grad.abs().sum() > 0  # not a degenerate input
