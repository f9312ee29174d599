"""Power of the regression rule: how often "one-sided upper bound of (new - old) < -tolerance" fires falsely
and how often it catches a real drop, by simulation from a generative model of a run.

- ``PowerModel``: right/wrong tasks (latent accuracies ~ Beta, binomial candidates).
- ``GradedPowerModel``: judge-scored tasks such as MT-Bench (latent quality ~ Normal, rounded 1-10 ratings).
- ``simulate_power``: Monte Carlo false-alarm rate and power at ``n`` questions and a true drop.
- ``smallest_detectable_drop``: the smallest drop caught with a given power (bisection).

Kept apart from ``statistics`` (which re-exports these names) because no run of the checks needs them: they
size a suite before it is trusted. Pure numpy and scipy, seeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, Protocol

import numpy as np

from selfdisc_checks.errors import SelfDiscError


class _SkillScale:
    """Expected DG-DIFF as a piecewise linear function of the pick's ``skill``, shared by the power models.

    A subclass provides ``skill`` and ``_rooms`` = (gain_room, loss_room): the expected DG-DIFF at skill 1
    and minus the expected DG-DIFF at skill -1. Skill 0 is a uniformly random pick, whose DG-DIFF is 0.
    """

    skill: float

    @property
    def _rooms(self) -> tuple[float, float]:
        raise NotImplementedError  # pragma: no cover - every model defines its rooms

    def expected_dg_diff(self, skill: float | None = None) -> float:
        """The population DG-DIFF (expected s_disc - s_gen per question) at ``skill`` (default: own)."""
        skill = self.skill if skill is None else skill
        gain_room, loss_room = self._rooms
        return skill * gain_room if skill >= 0 else skill * loss_room

    def skill_for_drop(self, drop: float) -> float:
        """The skill whose expected DG-DIFF is ``drop`` below this model's (a regression of ``drop``)."""
        gain_room, loss_room = self._rooms
        target = self.expected_dg_diff() - drop
        if not -loss_room - 1e-12 <= target <= gain_room + 1e-12:
            low, high = self.expected_dg_diff() - gain_room, self.expected_dg_diff() + loss_room
            raise SelfDiscError(
                f"A DG-DIFF drop of {drop} is impossible under this model; pass a drop in [{low:.4f}, {high:.4f}]."
            )
        room = gain_room if target >= 0 else loss_room
        skill = target / room if room > 0 else 0.0
        return max(-1.0, min(1.0, skill))


@dataclass(frozen=True)
class PowerModel(_SkillScale):
    """A generative model of one right/wrong task run, to size the regression rule before trusting it.

    Question q has a latent per-candidate accuracy p_q ~ Beta(a, b). The Beta is fitted so that the mean
    accuracy is ``accuracy`` and a fraction ``mixed_fraction`` of questions get mixed candidates (some
    right, some wrong) when ``samples`` candidates are drawn. The defaults (0.5, 0.4, 4) are chosen to
    resemble a 7B-class model on GSM8K and give a U-shaped Beta(0.39, 0.39): most questions come out all
    right or all wrong, and only mixed questions let the pick differ from S_gen.

    A run draws k_q ~ Binomial(samples, p_q) right candidates, so S_gen_q = r = k_q / samples. On a mixed
    question the pick is right with probability r + skill * (1 - r) for skill >= 0 (0: a random pick, 1:
    always a right one) or r * (1 + skill) for skill < 0 (-1: always a wrong one); an unmixed question's
    pick scores r whatever the skill. Invalid picks are folded into the skill: they score the worst
    candidate, like a wrong pick. The default skill 0 is the paper's finding that most models pick no
    better than at random. The expected DG-DIFF is piecewise linear in the skill, so a regression of
    ``d`` points maps to an exact lower skill (``skill_for_drop``).
    """

    accuracy: float = 0.5
    mixed_fraction: float = 0.4
    samples: int = 4
    skill: float = 0.0

    def __post_init__(self) -> None:
        if self.samples < 2:
            raise SelfDiscError(f"PowerModel needs samples >= 2 to have mixed questions, not {self.samples}.")
        if not 0 < self.accuracy < 1:
            raise SelfDiscError(f"PowerModel accuracy must be strictly between 0 and 1, not {self.accuracy}.")
        if not -1 <= self.skill <= 1:
            raise SelfDiscError(f"PowerModel skill must be in [-1, 1], not {self.skill}.")
        most = 1 - self.accuracy**self.samples - (1 - self.accuracy) ** self.samples
        if not 0 < self.mixed_fraction < most:
            raise SelfDiscError(
                f"PowerModel mixed_fraction must be in (0, {most:.3f}) for accuracy {self.accuracy} and "
                f"{self.samples} samples, not {self.mixed_fraction}."
            )

    @cached_property
    def beta(self) -> tuple[float, float]:
        """The Beta(a, b) of the latent accuracies: mean ``accuracy``, P(mixed) = ``mixed_fraction``."""

        def excess(log_concentration: float) -> float:
            a, b = self._ab(math.exp(log_concentration))
            return self._mixed(a, b) - self.mixed_fraction

        from scipy import optimize

        # P(mixed) rises monotonically from 0 (all mass at 0 and 1) to the binomial limit.
        log_c = optimize.brentq(excess, -12.0, 12.0, xtol=1e-12)
        return self._ab(math.exp(log_c))

    def sample(
        self, rng: np.random.Generator, shape: tuple[int, ...], skill: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-question (s_gen, s_disc) of independent runs on freshly drawn questions, each of ``shape``."""
        return self._run(rng, self._latent(rng, shape), self.skill if skill is None else skill)

    def _latent(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.beta(*self.beta, size=shape)

    def _draw(self, rng: np.random.Generator, latent: np.ndarray) -> tuple[np.ndarray, ...]:
        # The draws do not depend on the skill, so one seed gives common random numbers across skills.
        return rng.binomial(self.samples, latent), rng.random(latent.shape)

    def _run(self, rng: np.random.Generator, latent: np.ndarray, skill: float) -> tuple[np.ndarray, np.ndarray]:
        return self._score(self._draw(rng, latent), skill)

    def _score(self, draws: tuple[np.ndarray, ...], skill: float) -> tuple[np.ndarray, np.ndarray]:
        right, uniform = draws
        rate = right / self.samples
        mixed = (right > 0) & (right < self.samples)
        chance = rate + skill * (1 - rate) if skill >= 0 else rate * (1 + skill)
        s_disc = np.where(mixed, (uniform < chance).astype(float), rate)
        return rate, s_disc

    def _ab(self, concentration: float) -> tuple[float, float]:
        return self.accuracy * concentration, (1 - self.accuracy) * concentration

    def _mixed(self, a: float, b: float) -> float:
        from scipy import stats

        ends = stats.betabinom.pmf([0, self.samples], self.samples, a, b)
        return 1.0 - float(ends.sum())

    @cached_property
    def _rooms(self) -> tuple[float, float]:
        """E[(1 - r) 1{mixed}] and E[r 1{mixed}]: DG-DIFF per unit of skill above and below random."""
        from scipy import stats

        a, b = self.beta
        k = np.arange(1, self.samples)
        weights = stats.betabinom.pmf(k, self.samples, a, b)
        rate = k / self.samples
        return float(np.sum(weights * (1 - rate))), float(np.sum(weights * rate))


@dataclass(frozen=True)
class GradedPowerModel(_SkillScale):
    """A generative model of one judge-scored task run (MT-Bench style), to size the regression rule.

    Each question q has a latent answer quality mu_q ~ Normal(``mean_rating``, ``question_sd``) on the
    judge's 1-10 scale. Each of the ``samples`` candidates is rated round(clip(mu_q + e, 1, 10)) with
    e ~ Normal(0, ``candidate_sd``) drawn independently per candidate, and stored normalised as
    (rating - 1) / 9, so S_gen_q is the mean of the candidates' normalised ratings. Questions whose
    candidates all get the same rating are not mixed: there the pick scores S_gen_q whatever the skill.

    The pick: with probability ``|skill|`` it is the best candidate (skill > 0) or the worst (skill < 0),
    otherwise a uniformly random one. A random pick gains nothing on average, so the expected DG-DIFF is
    skill * E[max - mean] above 0 and skill * E[mean - min] below, the two "rooms" of ``_SkillScale``.
    The rooms, ``expected_s_gen`` and ``mixed_fraction`` are integrals over mu_q of closed forms for the
    max, min and ties of ``samples`` independent rounded ratings, taken on a fine grid (no Monte Carlo).

    Defaults: MT-Bench has 80 questions judged 1-10, and 7B-13B chat models average about 6-7 on it,
    hence a latent mean of 6.5. Category matters a lot (writing and roleplay near the top, maths and
    coding often near the bottom), hence a between-question sd of 1.8 rating points. Re-sampled answers
    to the same question at temperature 0.7 usually get ratings within a point or two of each other,
    hence a within-question sd of 1.2. Four candidates match ``PowerModel`` and the paper's setting, and
    skill 0 is the paper's finding that models mostly pick no better than at random. Changing the
    sds moves the mixed fraction and the rooms, so check them against a real run before trusting power.
    """

    mean_rating: float = 6.5
    question_sd: float = 1.8
    candidate_sd: float = 1.2
    samples: int = 4
    skill: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, (int, np.integer)) or self.samples < 2:
            raise SelfDiscError(
                f"GradedPowerModel needs a whole number of samples >= 2 to have mixed questions, not {self.samples}."
            )
        if not 1 <= self.mean_rating <= 10:
            raise SelfDiscError(f"GradedPowerModel mean_rating must be on the 1-10 scale, not {self.mean_rating}.")
        if not (math.isfinite(self.question_sd) and self.question_sd >= 0):
            raise SelfDiscError(f"GradedPowerModel question_sd must be finite and >= 0, not {self.question_sd}.")
        if not (math.isfinite(self.candidate_sd) and self.candidate_sd > 0):
            raise SelfDiscError(
                f"GradedPowerModel candidate_sd must be finite and > 0 so that candidates can differ, "
                f"not {self.candidate_sd}."
            )
        if not -1 <= self.skill <= 1:
            raise SelfDiscError(f"GradedPowerModel skill must be in [-1, 1], not {self.skill}.")

    @property
    def expected_s_gen(self) -> float:
        """E[S_gen_q]: the mean normalised rating of a candidate, (E[rating] - 1) / 9."""
        return self._moments[0]

    @property
    def mixed_fraction(self) -> float:
        """The share of questions whose candidates do not all get the same rating."""
        return self._moments[1]

    def sample(
        self, rng: np.random.Generator, shape: tuple[int, ...], skill: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-question (s_gen, s_disc) of independent runs on freshly drawn questions, each of ``shape``."""
        return self._run(rng, self._latent(rng, shape), self.skill if skill is None else skill)

    def _latent(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return self.mean_rating + self.question_sd * rng.standard_normal(shape)

    def _draw(self, rng: np.random.Generator, latent: np.ndarray) -> tuple[np.ndarray, ...]:
        # Normalised ratings, the uniform that decides "extreme or random" and the random candidate's index;
        # none depends on the skill, so one seed gives common random numbers across skills.
        noise = rng.standard_normal((*latent.shape, int(self.samples)))
        ratings = np.rint(np.clip(latent[..., np.newaxis] + self.candidate_sd * noise, 1.0, 10.0))
        return (ratings - 1.0) / 9.0, rng.random(latent.shape), rng.integers(0, int(self.samples), latent.shape)

    def _run(self, rng: np.random.Generator, latent: np.ndarray, skill: float) -> tuple[np.ndarray, np.ndarray]:
        return self._score(self._draw(rng, latent), skill)

    def _score(self, draws: tuple[np.ndarray, ...], skill: float) -> tuple[np.ndarray, np.ndarray]:
        scores, uniform, index = draws
        s_gen = scores.mean(axis=-1)
        random_pick = np.take_along_axis(scores, index[..., np.newaxis], axis=-1)[..., 0]
        extreme = scores.max(axis=-1) if skill >= 0 else scores.min(axis=-1)
        s_disc = np.where(uniform < abs(skill), extreme, random_pick)
        return s_gen, s_disc

    @cached_property
    def _rooms(self) -> tuple[float, float]:
        """E[max - mean] and E[mean - min] of a question's normalised ratings."""
        return self._moments[2], self._moments[3]

    @cached_property
    def _moments(self) -> tuple[float, float, float, float]:
        """(E[S_gen_q], P(mixed), E[max - mean], E[mean - min]), integrated over the latent quality."""
        from scipy import special

        # A grid over mu = mean + sd * z with Normal weights: the integrands are smooth in mu, so this
        # rule is accurate to far below Monte Carlo error (one point when question_sd is 0).
        z = np.linspace(-10.0, 10.0, 4001) if self.question_sd > 0 else np.zeros(1)
        weights = np.exp(-0.5 * z**2)
        weights /= weights.sum()
        mu = self.mean_rating + self.question_sd * z
        # cdf[:, k - 1] = P(rating <= k | mu) for k = 1..9: the rounded value is <= k below k + 0.5.
        cdf = special.ndtr((np.arange(1, 10) + 0.5 - mu[:, np.newaxis]) / self.candidate_sd)
        pmf = np.diff(cdf, prepend=0.0, append=1.0, axis=1)
        n = int(self.samples)
        mean = 1.0 + np.sum(1.0 - cdf, axis=1)  # E[X] = 1 + sum_k P(X > k) on 1..10
        top = 1.0 + np.sum(1.0 - cdf**n, axis=1)  # the max exceeds k unless every candidate is <= k
        bottom = 1.0 + np.sum((1.0 - cdf) ** n, axis=1)  # the min exceeds k only if every one does
        mixed = 1.0 - np.sum(pmf**n, axis=1)
        return (
            float(weights @ (mean - 1.0)) / 9.0,
            float(weights @ mixed),
            float(weights @ (top - mean)) / 9.0,
            float(weights @ (mean - bottom)) / 9.0,
        )


class _SimulationModel(Protocol):
    """What ``simulate_power`` needs of a model: a skill scale and per-question draws split by skill.

    ``_latent`` draws the questions, ``_draw`` one run's skill-independent random numbers on them and
    ``_score`` turns those into per-question (s_gen, s_disc) at a skill; ``_run`` is the two in a row.
    """

    @property
    def skill(self) -> float: ...

    @property
    def _rooms(self) -> tuple[float, float]: ...

    def expected_dg_diff(self, skill: float | None = None) -> float: ...

    def skill_for_drop(self, drop: float) -> float: ...

    def _latent(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray: ...

    def _draw(self, rng: np.random.Generator, latent: np.ndarray) -> tuple[np.ndarray, ...]: ...

    def _score(self, draws: tuple[np.ndarray, ...], skill: float) -> tuple[np.ndarray, np.ndarray]: ...

    def _run(self, rng: np.random.Generator, latent: np.ndarray, skill: float) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class PowerEstimate:
    """Monte Carlo rates of the regression rule, with their standard errors."""

    n: int  # questions per run
    drop: float  # true DG-DIFF drop of the regressed model
    false_alarm: float  # rule fires comparing two independent runs of an unchanged model
    false_alarm_se: float
    power: float  # rule fires comparing the unchanged model with the regressed one
    power_se: float
    replicates: int
    baseline_dg_diff: float  # population DG-DIFF of the unchanged model
    regressed_dg_diff: float  # population DG-DIFF after the drop


def simulate_power(
    n: int,
    drop: float,
    model: PowerModel | GradedPowerModel | None = None,
    tolerance: float = 0.0,
    level: float = 0.95,
    replicates: int = 2000,
    seed: int = 0,
    method: Literal["normal", "bootstrap"] = "normal",
    resamples: int = 2000,
) -> PowerEstimate:
    """False-alarm rate and power of "one-sided upper bound of (new - old) DG-DIFF < -tolerance".

    Each replicate draws ``n`` questions from ``model`` and three runs on them: "old", an independent
    re-run of the unchanged model ("same"), and a re-run whose skill is lowered so that the expected
    DG-DIFF drops by ``drop`` ("regressed"). The runs are independent re-samplings on the same questions,
    so comparisons pair by question, as ``compare_results`` does. The regressed run reuses the "same"
    run's random numbers (common random numbers), so power rises smoothly with ``drop`` for a fixed seed.

    ``method="bootstrap"`` applies the exact rule (``paired_difference``, percentile bootstrap), one
    replicate at a time. The default ``"normal"`` replaces the bootstrap quantile with its normal
    approximation, mean + z * sd / sqrt(n) (plug-in sd, as the bootstrap uses), vectorised over
    replicates; for means of n >= 80 bounded values the two agree closely and it is ~1000x faster.

    ``model`` is a ``PowerModel`` (right/wrong tasks, the default) or a ``GradedPowerModel`` (judge-scored
    tasks); both offer the small interface of ``_SimulationModel``.
    """
    from selfdisc_checks.statistics import _BLOCK_ELEMENTS, _check_level

    chosen: _SimulationModel = model or PowerModel()
    if n < 1 or replicates < 1:
        raise SelfDiscError(f"simulate_power needs n >= 1 and replicates >= 1, not n={n}, replicates={replicates}.")
    if method not in ("normal", "bootstrap"):
        raise SelfDiscError(f"simulate_power method must be 'normal' or 'bootstrap', not {method!r}.")
    _check_level(level)
    regressed_skill = chosen.skill_for_drop(drop)
    rng = np.random.default_rng(seed)
    false_alarms = catches = 0
    block = max(1, _BLOCK_ELEMENTS // (4 * n))
    for start in range(0, replicates, block):  # blocks bound memory; each block is vectorised
        shape = (min(block, replicates - start), n)
        latent = chosen._latent(rng, shape)
        old = _dg(*chosen._run(rng, latent, chosen.skill))
        draws = chosen._draw(rng, latent)
        same = _dg(*chosen._score(draws, chosen.skill))
        regressed = _dg(*chosen._score(draws, regressed_skill))
        offset = seed + start
        false_alarms += int(np.count_nonzero(_rule_fires(old, same, tolerance, level, method, resamples, offset)))
        catches += int(np.count_nonzero(_rule_fires(old, regressed, tolerance, level, method, resamples, offset)))
    false_alarm, power = false_alarms / replicates, catches / replicates
    return PowerEstimate(
        n=n,
        drop=drop,
        false_alarm=false_alarm,
        false_alarm_se=math.sqrt(false_alarm * (1 - false_alarm) / replicates),
        power=power,
        power_se=math.sqrt(power * (1 - power) / replicates),
        replicates=replicates,
        baseline_dg_diff=chosen.expected_dg_diff(),
        regressed_dg_diff=chosen.expected_dg_diff(regressed_skill),
    )


def smallest_detectable_drop(
    n: int,
    power: float = 0.8,
    model: PowerModel | GradedPowerModel | None = None,
    tolerance: float = 0.0,
    level: float = 0.95,
    replicates: int = 2000,
    seed: int = 0,
    precision: float = 0.0005,
) -> float | None:
    """The smallest true DG-DIFF drop the rule catches with probability >= ``power`` at ``n`` questions.

    Bisection over the drop with one seed (common random numbers), using ``simulate_power``'s normal
    method. None when even the largest drop the model allows is caught less often than that.
    """
    model = model or PowerModel()
    most = model.expected_dg_diff() + model._rooms[1]

    def caught(drop: float) -> bool:
        return simulate_power(n, drop, model, tolerance, level, replicates, seed).power >= power

    if not caught(most):
        return None
    lo, hi = 0.0, most
    while hi - lo > precision:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if caught(mid) else (mid, hi)
    return hi


def _dg(s_gen: np.ndarray, s_disc: np.ndarray) -> np.ndarray:
    return s_disc - s_gen


def _rule_fires(
    old: np.ndarray, new: np.ndarray, tolerance: float, level: float, method: str, resamples: int, seed: int
) -> np.ndarray:
    """Per replicate (row), whether the one-sided upper bound of mean(new - old) is below -tolerance."""
    differences = new - old
    if method == "normal":
        from scipy import stats

        z = float(stats.norm.ppf(level))
        upper = differences.mean(axis=1) + z * differences.std(axis=1) / math.sqrt(differences.shape[1])
    else:
        from selfdisc_checks.statistics import paired_difference

        upper = np.array(
            [
                paired_difference(o, w, level, resamples, seed + i).upper_one_sided
                for i, (o, w) in enumerate(zip(old, new, strict=True))
            ]
        )
    return upper < -tolerance
