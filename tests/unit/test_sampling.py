"""Seeded Gumbel-max sampling: each candidate's randomness is its own."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdisc_checks.backends.sampler import SeededGumbelSampler, restrict
from selfdisc_checks.backends.seeds import candidate_seed, question_seed
from selfdisc_checks.records import Sampling

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def noise_rows(row_seeds, steps, vocab=64):
    sampler = SeededGumbelSampler(row_seeds, Sampling(1.0))
    zeros = torch.zeros((len(row_seeds), vocab))
    return [sampler(torch.zeros((len(row_seeds), 1), dtype=torch.long), zeros) for _ in range(steps)]


@given(st.lists(seeds, min_size=2, max_size=6, unique=True), st.integers(min_value=1, max_value=5))
@settings(max_examples=30)
def test_a_rows_noise_does_not_depend_on_its_batch(row_seeds, steps):
    together = noise_rows(row_seeds, steps)
    for i, seed in enumerate(row_seeds):
        alone = noise_rows([seed], steps)
        assert all(torch.equal(t[i], a[0]) for t, a in zip(together, alone))


def test_noise_changes_with_step_and_seed():
    first, second = noise_rows([7], 2)
    assert not torch.equal(first, second)
    assert not torch.equal(first, noise_rows([8], 1)[0])
    assert torch.isfinite(first).all()


def test_samples_follow_the_tempered_softmax():
    logits = torch.tensor([[0.0, 1.0, 2.0]])
    temperature = 0.7
    draws = 20000
    sampler = SeededGumbelSampler(list(range(draws)), Sampling(temperature))
    picks = sampler(torch.zeros((draws, 5), dtype=torch.long), logits.repeat(draws, 1)).argmax(-1)
    observed = torch.bincount(picks, minlength=3).double() / draws
    expected = torch.softmax(logits[0].double() / temperature, -1)
    assert torch.allclose(observed, expected, atol=0.015), (observed, expected)


def test_temperature_zero_is_greedy():
    scores = torch.tensor([[0.1, 0.9, 0.3]])
    assert torch.equal(SeededGumbelSampler([1], Sampling(0.0, top_p=0.5, top_k=1))(torch.zeros((1, 0), dtype=torch.long), scores), scores)


@given(seeds, st.text(max_size=10), st.integers(min_value=0, max_value=10))
def test_candidate_seeds_are_32_bit_and_distinct_per_index(run_seed, question_id, index):
    a = candidate_seed(run_seed, "t", question_id, index)
    assert 0 <= a < 2**32
    assert a == candidate_seed(run_seed, "t", question_id, index)
    assert a != candidate_seed(run_seed, "t", question_id, index + 1)


def draw_many(logits, sampling, draws=20000):
    sampler = SeededGumbelSampler(list(range(draws)), sampling)
    picks = sampler(torch.zeros((draws, 1), dtype=torch.long), logits.repeat(draws, 1)).argmax(-1)
    return torch.bincount(picks, minlength=logits.shape[-1]).double() / draws


def test_top_k_samples_the_renormalised_top_tokens():
    logits = torch.tensor([[0.0, 1.0, 2.0, 0.5]])
    observed = draw_many(logits, Sampling(1.0, top_k=2))
    expected = torch.softmax(torch.tensor([float("-inf"), 1.0, 2.0, float("-inf")]).double(), -1)
    assert observed[0] == 0 and observed[3] == 0
    assert torch.allclose(observed, expected, atol=0.015), (observed, expected)


def test_top_p_keeps_the_smallest_set_reaching_p():
    # probabilities 0.5, 0.3, 0.15, 0.05: top-p 0.75 keeps the first two (0.5 < 0.75 <= 0.8).
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    observed = draw_many(probs.log(), Sampling(1.0, top_p=0.75))
    assert observed[2] == 0 and observed[3] == 0
    assert torch.allclose(observed[:2], torch.tensor([0.625, 0.375], dtype=torch.double), atol=0.015), observed


@given(st.lists(st.floats(min_value=-20, max_value=20), min_size=1, max_size=30),
       st.integers(min_value=0, max_value=40), st.floats(min_value=0.01, max_value=1.0))
def test_restriction_always_keeps_the_most_likely_token(values, top_k, top_p):
    logits = torch.tensor([values])
    kept = torch.isfinite(restrict(logits, top_k, top_p))
    assert kept[0, logits[0] == logits.max()].any()  # a most likely token (any one, when several tie)
    if top_k and top_p == 1.0 and top_k <= len(values):
        kth = torch.topk(logits, top_k).values[0, -1]
        assert torch.equal(kept, logits >= kth)  # the k most likely, plus any tied with the k-th


def test_off_restrictions_change_nothing():
    logits = torch.randn(3, 50)
    assert torch.equal(restrict(logits, 0, 1.0), logits)


@given(seeds, st.text(max_size=10), st.integers(min_value=0, max_value=64))
def test_candidate_i_uses_the_question_seed_plus_i(run_seed, question_id, index):
    assert candidate_seed(run_seed, "t", question_id, index) == (question_seed(run_seed, "t", question_id) + index) % 2**32


@given(seeds, st.text(max_size=8), st.integers(min_value=1, max_value=5), st.data())
def test_orderings_are_distinct_and_start_with_the_shown_order(run_seed, question_id, n, data):
    import math

    from selfdisc_checks.backends.seeds import orderings

    count = data.draw(st.integers(min_value=1, max_value=min(math.factorial(n), 6)))
    found = orderings(run_seed, "t", question_id, n, count)
    assert found[0] == tuple(range(n)) and len(set(found)) == count
    assert all(sorted(order) == list(range(n)) for order in found)
    assert found == orderings(run_seed, "t", question_id, n, count)


def test_each_xdist_worker_takes_its_own_gpu_when_there_are_several():
    from selfdisc_checks.backends.hf import worker_gpu

    assert [worker_gpu(f"gw{k}", 4) for k in range(6)] == [0, 1, 2, 3, 0, 1]
    assert worker_gpu("gw3", 1) is None and worker_gpu(None, 8) is None and worker_gpu("master", 2) is None
