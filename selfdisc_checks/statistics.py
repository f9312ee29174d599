"""How sure a measured S_gen, S_disc or DG-DIFF is, and whether a change between two runs is real.

Questions are the unit of every procedure here: a question's candidates share its difficulty, so they are
not independent draws, and resampling candidates would overstate precision. Everything is pure numpy and
scipy, seeded, and stable across processes and machines.

- ``bootstrap_intervals``: paired percentile bootstrap intervals for S_gen, S_disc and DG-DIFF.
- ``mcnemar_test``: the paper's one-sided exact test of "DG-DIFF <= 0" on right/wrong tasks (arXiv
  2404.04298): the pick against one seeded random candidate (``random_candidate``) per question.
- ``wilcoxon_test``: the same one-sided question for graded tasks, exact at any sample size.
- ``normalized_gap``: DG-DIFF as a fraction of the headroom between S_gen and the oracle.
- ``paired_difference``: new - old on shared questions, for the baseline comparison.
- ``PowerModel``, ``GradedPowerModel``, ``simulate_power``, ``smallest_detectable_drop``: re-exported from
  ``power``, where the simulations of the regression rule's false alarms and power live.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.errors import SelfDiscError

# scipy is imported inside the functions that need it: it takes seconds to import on a busy machine, and
# ``python -m selfdisc_checks compare`` needs only numpy.

# Bound on resamples x questions per vectorised bootstrap block (32 MiB of indices), so memory stays
# bounded for large benchmarks; the block size depends only on n, so results stay seeded and repeatable.
_BLOCK_ELEMENTS = 1 << 22

# Differences are rounded to this many decimals before ranking, so float noise (0.7 vs 0.7000000000000001)
# neither invents a nonzero difference nor breaks a tie.
_DECIMALS = 12


@dataclass(frozen=True)
class McNemarResult:
    """Discordant pairs of the pick vs one random candidate, and the exact one-sided p-value."""

    fixed: int  # questions where the pick is right and the random candidate wrong
    broke: int  # questions where the pick is wrong and the random candidate right
    p_value: float  # P(X >= fixed), X ~ Binomial(fixed + broke, 1/2); 1.0 without discordant pairs


@dataclass(frozen=True)
class PairedDifference:
    """mean(new - old) over shared questions, its two-sided interval and its one-sided upper bound."""

    difference: float
    interval: tuple[float, float]
    upper_one_sided: float


def bootstrap_intervals(
    s_gen: Sequence[float],
    s_disc: Sequence[float],
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals for S_gen, S_disc and DG-DIFF (keys ``s_gen``, ``s_disc``, ``dg_diff``).

    Paired: each replicate resamples question indices once and uses them for all three statistics, so the
    DG-DIFF interval reflects that S_gen and S_disc move together across questions.
    """
    names = registry.interval_names()  # the columns below, in order: S_gen, S_disc, DG-DIFF
    gen, disc = _paired(s_gen, s_disc, names[:2], "question", level, resamples)
    columns = np.stack([gen, disc, disc - gen])
    lo, hi = _percentile_bounds(_bootstrap_means(columns, resamples, seed), (1 - level) / 2, (1 + level) / 2)
    return {name: (float(lo[i]), float(hi[i])) for i, name in enumerate(names)}


def paired_difference(
    old: Sequence[float],
    new: Sequence[float],
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> PairedDifference:
    """mean(new - old) over questions both runs answered, with a paired percentile bootstrap.

    ``interval`` is two-sided at ``level``; ``upper_one_sided`` is the ``level`` quantile of the bootstrap
    distribution, the bound the regression rule compares with ``-tolerance``.
    """
    before, after = _paired(old, new, ("old", "new"), "shared question", level, resamples)
    differences = after - before
    boot = _bootstrap_means(differences[np.newaxis, :], resamples, seed)
    lo, hi, upper = _percentile_bounds(boot, (1 - level) / 2, (1 + level) / 2, level)
    return PairedDifference(float(np.mean(differences)), (float(lo[0]), float(hi[0])), float(upper[0]))


def random_candidate(scores: Sequence[float], question_id: str, seed: int) -> int:
    """The candidate that plays the "random pick" for a question in ``mcnemar_test``.

    Derived from SHA-256 of (seed, question id) rather than Python's ``hash()``, which is salted per
    process, so the same run gives the same test on every machine.
    """
    if len(scores) == 0:
        raise SelfDiscError(f"Question {question_id!r} has no candidates; pass its candidate scores.")
    digest = hashlib.sha256(f"selfdisc-random-pick\0{seed}\0{question_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % len(scores)


def mcnemar_test(pick_right: Sequence[bool], random_right: Sequence[bool]) -> McNemarResult:
    """One-sided exact McNemar test of H0 "DG-DIFF <= 0" on a right/wrong task (arXiv 2404.04298).

    Per question, the model's pick is compared with one seeded random candidate. Only discordant
    questions carry information; under H0 a discordant question favours the pick with probability at
    most 1/2, so p = P(X >= fixed) for X ~ Binomial(fixed + broke, 1/2).
    """
    pick = np.asarray(pick_right, dtype=bool)
    rand = np.asarray(random_right, dtype=bool)
    if pick.ndim != 1 or pick.shape != rand.shape:
        raise SelfDiscError(
            f"pick_right and random_right have {pick.size} and {rand.size} values; pass one of each per question."
        )
    fixed = int(np.count_nonzero(pick & ~rand))
    broke = int(np.count_nonzero(~pick & rand))
    if fixed + broke == 0:
        return McNemarResult(fixed, broke, 1.0)
    from scipy import stats

    p_value = stats.binomtest(fixed, fixed + broke, 0.5, alternative="greater").pvalue
    return McNemarResult(fixed, broke, float(p_value))


def wilcoxon_test(differences: Sequence[float]) -> float:
    """One-sided signed-rank p-value for H0 "the median of s_disc - s_gen is <= 0" on graded tasks.

    Never the normal approximation, which is poor at MT-Bench's 80 questions. Zeros are dropped
    (Wilcoxon's ``zero_method="wilcox"``): a question where the pick scores exactly the candidates' mean
    says nothing about the direction. Without ties, scipy's exact null distribution is used; with tied
    absolute differences (common with judge scores), the exact sign-flip distribution of the midrank
    statistic given the observed ranks, computed by dynamic programming for any n. No nonzero
    difference gives p = 1.0.
    """
    d = _values(differences, "differences", allow_empty=True)
    d = np.round(d, _DECIMALS)
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    from scipy import stats

    if np.unique(np.abs(d)).size == d.size:
        p_value = stats.wilcoxon(d, alternative="greater", zero_method="wilcox", method="exact").pvalue
        return float(min(1.0, max(0.0, p_value)))
    return _signed_rank_sf(stats.rankdata(np.abs(d)), d > 0)


def normalized_gap(s_gen: float, s_disc: float, oracle: float) -> float | None:
    """(S_disc - S_gen) / (oracle - S_gen): the share of the possible gain that the picks realise.

    None when no question has mixed candidates (oracle == S_gen, within float noise), where no pick can
    gain anything and the ratio is undefined.
    """
    denominator = oracle - s_gen
    if math.isclose(denominator, 0.0, abs_tol=1e-12):
        return None
    return (s_disc - s_gen) / denominator


def _signed_rank_sf(ranks: np.ndarray, positive: np.ndarray) -> float:
    """P(T+ >= observed) when each rank's sign is a fair coin (exact; midranks allowed).

    Midranks are multiples of 1/2, so doubled ranks are integers and the null distribution of the doubled
    statistic is a convolution over at most n(n + 1) + 1 values.
    """
    doubled = np.rint(2 * ranks).astype(np.int64)
    observed = int(doubled[positive].sum())
    distribution = np.zeros(int(doubled.sum()) + 1)
    distribution[0] = 1.0
    reach = 0
    for weight in doubled:
        shifted = distribution[: reach + 1].copy()
        distribution[: reach + 1] *= 0.5
        distribution[weight : weight + reach + 1] += 0.5 * shifted
        reach += int(weight)
    return float(min(1.0, distribution[observed:].sum()))


def _bootstrap_means(columns: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of each row of ``columns`` (k x n) over the same resampled question indices: (resamples, k)."""
    k, n = columns.shape
    rng = np.random.default_rng(seed)
    means = np.empty((resamples, k))
    block = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = columns[:, indices].mean(axis=2).T
    return means


def _percentile_bounds(boot: np.ndarray, *quantiles: float) -> tuple[np.ndarray, ...]:
    """Quantiles of each column; a column whose replicates are all equal gives exactly that value."""
    results = []
    for q in quantiles:
        value = np.quantile(boot, q, axis=0)
        constant = np.all(boot == boot[0], axis=0)
        results.append(np.where(constant, boot[0], value))
    return tuple(results)


def _values(values: Sequence[float], name: str, allow_empty: bool = False) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise SelfDiscError(f"{name} must be a flat sequence of numbers, one per question.")
    if array.size == 0 and not allow_empty:
        raise SelfDiscError(f"{name} is empty; pass at least one question's value.")
    if not np.all(np.isfinite(array)):
        raise SelfDiscError(f"{name} contains NaN or infinite values; pass finite scores.")
    return array


def _paired(
    a: Sequence[float], b: Sequence[float], names: tuple[str, str], unit: str, level: float, resamples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Two checked value arrays of equal length (one value per ``unit``), after checking level and resamples."""
    first, second = _values(a, names[0]), _values(b, names[1])
    if len(first) != len(second):
        raise SelfDiscError(
            f"{names[0]} and {names[1]} have {len(first)} and {len(second)} values; pass one of each per {unit}."
        )
    _check_level(level)
    _check_resamples(resamples)
    return first, second


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise SelfDiscError(f"The confidence level must be strictly between 0 and 1 (e.g. 0.95), not {level}.")


def _check_resamples(resamples: int) -> None:
    if resamples < 1:
        raise SelfDiscError(f"resamples must be at least 1, not {resamples}.")


# The power simulations live in ``power``; their old import path keeps working.
from selfdisc_checks.power import (  # noqa: E402
    GradedPowerModel,
    PowerEstimate,
    PowerModel,
    simulate_power,
    smallest_detectable_drop,
)

__all__ = [
    "GradedPowerModel",
    "McNemarResult",
    "PairedDifference",
    "PowerEstimate",
    "PowerModel",
    "bootstrap_intervals",
    "mcnemar_test",
    "normalized_gap",
    "paired_difference",
    "random_candidate",
    "simulate_power",
    "smallest_detectable_drop",
    "wilcoxon_test",
]
