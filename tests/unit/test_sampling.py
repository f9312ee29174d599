"""Seeded Gumbel-max sampling: each candidate's randomness is its own."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdisc_checks.backends.sampler import SeededGumbelSampler
from selfdisc_checks.backends.seeds import candidate_seed

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def noise_rows(row_seeds, steps, vocab=64):
    sampler = SeededGumbelSampler(row_seeds, 1.0)
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
    sampler = SeededGumbelSampler(list(range(draws)), temperature)
    picks = sampler(torch.zeros((draws, 5), dtype=torch.long), logits.repeat(draws, 1)).argmax(-1)
    observed = torch.bincount(picks, minlength=3).double() / draws
    expected = torch.softmax(logits[0].double() / temperature, -1)
    assert torch.allclose(observed, expected, atol=0.015), (observed, expected)


def test_temperature_zero_is_greedy():
    scores = torch.tensor([[0.1, 0.9, 0.3]])
    assert torch.equal(SeededGumbelSampler([1], 0.0)(torch.zeros((1, 0), dtype=torch.long), scores), scores)


@given(seeds, st.text(max_size=10), st.integers(min_value=0, max_value=10))
def test_candidate_seeds_are_32_bit_and_distinct_per_index(run_seed, question_id, index):
    a = candidate_seed(run_seed, "t", question_id, index)
    assert 0 <= a < 2**32
    assert a == candidate_seed(run_seed, "t", question_id, index)
    assert a != candidate_seed(run_seed, "t", question_id, index + 1)
