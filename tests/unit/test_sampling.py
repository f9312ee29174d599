"""Seeded inverse-CDF sampling: each candidate's randomness is its own, made where the logits are."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdisc_checks.backends.sampler import SeededSampler, inverse_cdf, restrict, uniforms
from selfdisc_checks.backends.seeds import candidate_seed, question_seed
from selfdisc_checks.records import Sampling

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def draws_of(row_seeds, steps, vocab=64):
    """Each step's chosen tokens for rows with these seeds, over fixed random logits."""
    sampler = SeededSampler(row_seeds, Sampling(1.0))
    logits = torch.randn((steps, vocab), generator=torch.Generator().manual_seed(0))
    return [sampler.choose(torch.arange(len(row_seeds)), logits[k].repeat(len(row_seeds), 1)) for k in range(steps)]


@given(st.lists(seeds, min_size=2, max_size=6, unique=True), st.integers(min_value=1, max_value=5))
@settings(max_examples=30)
def test_a_rows_draws_do_not_depend_on_its_batch(row_seeds, steps):
    together = draws_of(row_seeds, steps)
    for i, seed in enumerate(row_seeds):
        alone = draws_of([seed], steps)
        assert all(int(t[i]) == int(a[0]) for t, a in zip(together, alone, strict=False))


@given(st.lists(seeds, min_size=3, max_size=8, unique=True), st.data())
@settings(max_examples=30)
def test_a_row_counts_its_own_draws_when_others_leave(row_seeds, data):
    """A decoder drops finished rows: the rows left still use their own k-th number for their k-th token."""
    keep = data.draw(st.lists(st.integers(0, len(row_seeds) - 1), min_size=1, unique=True))
    logits = torch.randn((3, 40), generator=torch.Generator().manual_seed(1))
    sampler = SeededSampler(row_seeds, Sampling(1.0))
    sampler.choose(torch.arange(len(row_seeds)), logits[0].repeat(len(row_seeds), 1))
    later = sampler.choose(torch.tensor(sorted(keep)), logits[1].repeat(len(keep), 1))
    for line, row in enumerate(sorted(keep)):
        alone = SeededSampler([row_seeds[row]], Sampling(1.0))
        alone.choose(torch.arange(1), logits[0][None])
        assert int(later[line]) == int(alone.choose(torch.arange(1), logits[1][None])[0])


@given(st.lists(seeds, min_size=1, max_size=50), st.lists(st.integers(0, 2**20), min_size=1, max_size=50))
def test_uniforms_are_strictly_inside_the_unit_interval_and_reproducible(row_seeds, steps):
    n = min(len(row_seeds), len(steps))
    a = uniforms(torch.tensor(row_seeds[:n]), torch.tensor(steps[:n]))
    assert a.dtype == torch.float32 and bool(((a > 0) & (a < 1)).all())
    assert torch.equal(a, uniforms(torch.tensor(row_seeds[:n]), torch.tensor(steps[:n])))


def test_uniforms_change_with_step_and_seed_and_look_uniform():
    grid = uniforms(torch.arange(20000).repeat_interleave(5), torch.arange(5).repeat(20000))
    assert len(set(grid.tolist())) > 0.99 * len(grid)
    from scipy import stats

    assert stats.kstest(grid.numpy(), "uniform").pvalue > 1e-3
    # neighbouring seeds (a question's candidates) are not correlated
    first, second = grid.view(20000, 5)[0::2, 0], grid.view(20000, 5)[1::2, 0]
    assert abs(float(torch.corrcoef(torch.stack([first, second]))[0, 1])) < 0.05


@given(
    st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=30),
    st.floats(min_value=1e-6, max_value=1 - 1e-6),
)
def test_inverse_cdf_never_picks_a_token_of_probability_zero(weights, u):
    probabilities = torch.tensor([weights])
    if float(probabilities.sum()) == 0:
        probabilities[0, -1] = 1.0
    chosen = int(inverse_cdf(probabilities.clone(), torch.tensor([u]))[0])
    assert probabilities[0, chosen] > 0
    assert probabilities[0, int(inverse_cdf(probabilities.clone(), torch.tensor([1.0]))[0])] > 0  # u rounded up to 1


def test_samples_follow_the_tempered_softmax():
    logits = torch.tensor([[0.0, 1.0, 2.0]])
    temperature = 0.7
    draws = 20000
    sampler = SeededSampler(list(range(draws)), Sampling(temperature))
    picks = sampler(torch.zeros((draws, 5), dtype=torch.long), logits.repeat(draws, 1)).argmax(-1)
    observed = torch.bincount(picks, minlength=3).double() / draws
    expected = torch.softmax(logits[0].double() / temperature, -1)
    assert torch.allclose(observed, expected, atol=0.015), (observed, expected)


def test_temperature_zero_is_greedy():
    scores = torch.tensor([[0.1, 0.9, 0.3]])
    assert torch.equal(
        SeededSampler([1], Sampling(0.0, top_p=0.5, top_k=1))(torch.zeros((1, 0), dtype=torch.long), scores), scores
    )
    assert int(SeededSampler([1], Sampling(0.0)).choose(torch.arange(1), scores)[0]) == 1


@given(seeds, st.text(max_size=10), st.integers(min_value=0, max_value=10))
def test_candidate_seeds_are_32_bit_and_distinct_per_index(run_seed, question_id, index):
    a = candidate_seed(run_seed, "t", question_id, index)
    assert 0 <= a < 2**32
    assert a == candidate_seed(run_seed, "t", question_id, index)
    assert a != candidate_seed(run_seed, "t", question_id, index + 1)


def draw_many(logits, sampling, draws=20000):
    sampler = SeededSampler(list(range(draws)), sampling)
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


@given(
    st.lists(st.floats(min_value=-20, max_value=20), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=40),
    st.floats(min_value=0.01, max_value=1.0),
)
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
    assert (
        candidate_seed(run_seed, "t", question_id, index) == (question_seed(run_seed, "t", question_id) + index) % 2**32
    )


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


@given(quota=st.integers(1, 10**7), period=st.integers(1, 10**6), workers=st.integers(1, 64))
def test_threads_follow_a_containers_cpu_quota(quota, period, workers):
    import math
    import os

    from selfdisc_checks.backends.hf import cpu_threads, usable_cpus

    allowed = len(os.sched_getaffinity(0))
    cpus = usable_cpus(f"{quota} {period}\n")
    assert cpus == max(1, min(allowed, math.ceil(quota / period)))
    assert usable_cpus(f"max {period}\n") == allowed == usable_cpus("") == usable_cpus("garbage here")
    assert cpu_threads(workers, f"{quota} {period}") == max(1, cpus // workers) >= 1
