"""One release decision over many checks: each check's one-sided p-value, and a run-wide false-alarm rate.

A gate of 15 checks, each at 5%, fails an unchanged checkpoint far more often than 5% of the time. The
checks whose failure is a rejection ("we are sure it got worse": thresholds in mode ``not-below`` and every
``test_no_regression``) form the family, and the family's procedure bounds the chance that *any* of them
fails a compliant or unchanged checkpoint by ``alpha``:

- ``holm``: Holm's step-down over the members' p-values (valid under any dependence);
- ``max-t``: Westfall-Young step-down max-T over a joint bootstrap of the questions, which uses the
  correlation of S_gen, S_disc and DG-DIFF within a task (``max_t_adjusted``);
- ``none``: each check at its own level, as before this existed (it does not bound the run).

Checks in mode ``confident`` pass only when sure (an intersection-union test): passing the run needs every
one of them, so each at ``alpha`` already bounds the chance of passing a checkpoint that misses any of
their bounds by ``alpha``; they are decided at ``alpha``, unadjusted. Point-mode checks compare numbers and
have no error rate.

The members' tests, pure numpy (scipy lazily):

- ``sign_flip_test``: new - old per question against ``-tolerance``; exact for an unchanged checkpoint
  (the two runs' values of a question are then exchangeable, so each difference is as likely negated), at
  any n and however few questions changed;
- ``t_test``: a mean of per-question values against a bound (Student's t, one-sided).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np

from selfdisc_checks.errors import SelfDiscError

FAMILIES = ("holm", "max-t", "none")
DEFAULT_FAMILY = "holm"
DEFAULT_ALPHA = 0.05
RESAMPLES = 4000  # sign flips or bootstrap replicates; the Monte Carlo error of a p-value near 0.05 is ~0.003
_EXACT_UP_TO = 14  # nonzero differences enumerated exactly (2**14 sign patterns)
_ROUND = 12  # decimals: float noise in a difference must not make it nonzero


@dataclass(frozen=True)
class SignFlip:
    """The sign-flip test of H0 "mean(new - old) >= -tolerance" (a regression is its rejection)."""

    p_value: float
    upper_bound: float  # mean - q * se, q the sign-flip distribution's (1 - level) quantile of the t statistic
    statistic: float  # (mean + tolerance) / se
    exact: bool  # every sign pattern enumerated (few nonzero differences), not a Monte Carlo sample


def _t(means: np.ndarray, sum_squares: float, n: int) -> np.ndarray:
    """The t statistic of samples with mean ``means`` and a fixed sum of squares (sign flips keep it)."""
    unbounded = np.where(means > 0, np.inf, np.where(means < 0, -np.inf, 0.0))  # no spread: the sign decides
    if n < 2:
        return unbounded
    se = np.sqrt(np.maximum(sum_squares - n * means**2, 0.0) / (n - 1) / n)
    return np.where(se > 0, means / np.where(se > 0, se, 1.0), unbounded)


def sign_flip_test(
    differences: Sequence[float],
    tolerance: float = 0.0,
    level: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> SignFlip:
    """Studentized sign-flip test of "mean(new - old) >= -tolerance", one value of new - old per question.

    Under an unchanged checkpoint each question's difference is symmetric about 0, so the observed t
    statistic is one draw of its sign-flip distribution and the p-value (enumerated when at most 14
    questions changed, else ``resamples`` seeded flips counted with the observed one) is exact: an unchanged
    checkpoint is called regressed at most ``alpha`` of the time at any n. A tolerance > 0 only makes that
    rarer; at a true drop of exactly the tolerance the studentized statistic keeps it approximately right.
    """
    d = np.round(np.asarray(differences, dtype=float), _ROUND)
    if d.ndim != 1 or d.size == 0 or not np.all(np.isfinite(d)):
        raise SelfDiscError("sign_flip_test needs one finite difference per shared question (at least one).")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise SelfDiscError(f"The tolerance must be a number >= 0, not {tolerance}.")
    n, mean = d.size, float(d.mean())
    sum_squares = float(np.sum(d**2))
    se = math.sqrt(max(sum_squares - n * mean**2, 0.0) / max(n - 1, 1) / n)
    shifted = mean + tolerance
    observed = shifted / se if se > 0 else (0.0 if shifted == 0 else math.copysign(math.inf, shifted))
    nonzero = d[d != 0]
    k = nonzero.size
    if k <= _EXACT_UP_TO:
        signs = np.array(list(product((-1.0, 1.0), repeat=k))) if k else np.ones((1, 0))
        flipped = _t(signs @ nonzero / n, sum_squares, n)
        p_value = float(np.mean(flipped <= observed))
        exact = True
    else:
        rng = np.random.default_rng(seed)
        flipped = np.empty(resamples)
        block = max(1, (1 << 22) // k)
        for start in range(0, resamples, block):
            stop = min(resamples, start + block)
            signs = rng.integers(0, 2, size=(stop - start, k)) * 2.0 - 1.0
            flipped[start:stop] = _t(signs @ nonzero / n, sum_squares, n)
        p_value = float((1 + np.count_nonzero(flipped <= observed)) / (resamples + 1))
        exact = False
    quantile = float(np.quantile(flipped, 1 - level, method="inverted_cdf"))  # no interpolation: values may be infinite
    upper = mean - quantile * se if math.isfinite(quantile) else mean
    return SignFlip(min(1.0, p_value), upper, observed, exact)


def t_test(values: Sequence[float], bound: float, alternative: str, bound_in_alternative: bool = False) -> float:
    """One-sided p-value of Student's t for the mean of per-question ``values`` against ``bound``:
    ``alternative="less"`` tests H0 "mean >= bound" (small p: surely below), ``"greater"`` H0 "mean <= bound".
    With no spread the mean is taken as exact: p 0 on the alternative's side, else 1, where a mean at the
    bound counts as the alternative's when ``bound_in_alternative`` (a ceiling or floor is met at its bound)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise SelfDiscError("t_test needs at least one value.")
    gap = float(x.mean()) - bound
    se = float(x.std(ddof=1)) / math.sqrt(x.size) if x.size > 1 else 0.0
    if alternative not in ("less", "greater"):
        raise SelfDiscError(f"t_test alternative must be 'less' or 'greater', not {alternative!r}.")
    sign = 1.0 if alternative == "greater" else -1.0
    if se <= 1e-15:
        on_side = sign * gap > 1e-12 or (bound_in_alternative and abs(gap) <= 1e-12)
        return 0.0 if on_side else 1.0
    return float(stats.t.sf(sign * gap / se, x.size - 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's adjusted p-values (reject where adjusted <= alpha): the family-wise error is at most alpha under
    any dependence between the tests."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


@dataclass(frozen=True)
class Member:
    """One check of the family as ``max_t_adjusted`` sees it: per-question values whose mean is tested against
    ``bound`` (``-tolerance`` for a difference), rejected when the mean is surely below it. Members with the same
    ``group`` (a task) share their questions, in the same order; groups are independent."""

    key: str
    group: str
    values: tuple[float, ...]
    bound: float


def max_t_adjusted(members: Sequence[Member], resamples: int = RESAMPLES, seed: int = 0) -> dict[str, float]:
    """Westfall-Young step-down max-T adjusted p-values for members rejected when their mean is surely below
    their bound. The null distribution of the studentized statistics is a multiplier bootstrap: one draw
    gives each question of a group (a task) a random sign, shared by all its members (so S_gen, S_disc and
    DG-DIFF keep their correlation), independently across groups. Family-wise error approximately at most
    alpha (asymptotic, as every bootstrap), with more power than Holm where members are correlated; one
    matrix product per group, so a gate of 15 checks on 1,319 questions costs well under a second."""
    if not members:
        return {}
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for index, member in enumerate(members):
        groups.setdefault(member.group, []).append(index)
    observed = np.empty(len(members))
    null = np.zeros((resamples, len(members)))
    for indices in groups.values():
        n = len(members[indices[0]].values)
        if any(len(members[i].values) != n for i in indices):
            raise SelfDiscError(f"Members of group {members[indices[0]].group!r} must share their questions.")
        columns = np.array([members[i].values for i in indices], dtype=float).T  # n x k
        means = columns.mean(axis=0)
        se = columns.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros(len(indices))
        bounds = np.array([members[i].bound for i in indices])
        spread = se > 1e-15
        safe = np.where(spread, se, 1.0)
        # (bound - mean) / se: large when the mean is far below its bound (the side a rejection is on).
        below = np.where(means < bounds - 1e-12, np.inf, -np.inf)
        observed[indices] = np.where(spread, (bounds - means) / safe, below)
        centred = (columns - means) / (n * safe)  # n x k; a column without spread stays 0
        signs = rng.integers(0, 2, size=(resamples, n)).astype(float) * 2.0 - 1.0
        null[:, indices] = signs @ centred
    order = np.argsort(-observed, kind="stable")  # most significant first
    adjusted = np.empty(len(members))
    running = 0.0
    for step, index in enumerate(order):
        rest = order[step:]
        exceed = np.max(null[:, rest], axis=1) >= observed[index]
        if math.isfinite(observed[index]):
            p = float((1 + np.count_nonzero(exceed)) / (resamples + 1))
        else:  # no spread: surely below (+inf) or surely not (-inf)
            p = 1 / (resamples + 1) if observed[index] > 0 else 1.0
        running = max(running, p)
        adjusted[index] = running
    return {member.key: float(adjusted[i]) for i, member in enumerate(members)}


def adjust(
    family: str,
    p_values: Mapping[str, float],
    members: Sequence[Member] | None = None,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> dict[str, float]:
    """Adjusted p-values of the family's members by ``family`` (``none``: each its own p-value)."""
    if family not in FAMILIES:
        raise SelfDiscError(f"Unknown family {family!r}; choose one of {', '.join(FAMILIES)}.")
    keys = list(p_values)
    if family == "none":
        return dict(p_values)
    if family == "holm":
        return dict(zip(keys, holm([p_values[k] for k in keys]), strict=True))
    if members is None:
        raise SelfDiscError("The max-t family needs each member's per-question values.")
    return max_t_adjusted(members, resamples, seed)


def describe(family: str, size: int, alpha: float) -> str:
    """How a decision was adjusted, for check messages: "Holm over 12 checks, run-wide alpha 0.05"."""
    if family == "none":
        return f"each check at its own level; {size} checks, the run not bounded"
    name = {"holm": "Holm", "max-t": "max-T"}[family]
    checks = "1 check" if size == 1 else f"{size} checks"
    return f"{name} over {checks}, run-wide alpha {alpha:g}"
