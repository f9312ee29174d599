"""Simulations that check the statistics' guarantees, shared by the unit tier (few replicates) and the slow tier
(many): the interval's coverage, the regression rule's false-alarm rate, and the confidence sequences of early
stopping (their coverage under continuous monitoring and the targets in docs/statistics.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from selfdisc_checks.sequential import (
    AlphaSplit,
    SequentialCheck,
    first_exclusion,
    regression_check,
    simulate_stopping,
)
from selfdisc_checks.statistics import GradedPowerModel, PowerModel, bootstrap_intervals, simulate_power

MT_BENCH = 80  # questions


def coverage(datasets: int, n: int = 100, resamples: int = 1000) -> float:
    """Share of simulated datasets whose 95% DG-DIFF interval covers the model's true DG-DIFF."""
    model = PowerModel(skill=0.3)
    truth = model.expected_dg_diff()
    covered = 0
    for i in range(datasets):
        s_gen, s_disc = model.sample(np.random.default_rng(10_000 + i), (n,))
        lo, hi = bootstrap_intervals(s_gen, s_disc, resamples=resamples, seed=i)["dg_diff"]
        covered += lo <= truth <= hi
    return covered / datasets


def z_rule_level(n: int, level: float = 0.95) -> float:
    """The false-alarm rate of the normal rule (z quantile, plug-in sd) when per-question differences are normal.

    The rule fires when mean + z * sd_plugin / sqrt(n) < 0, i.e. when the t statistic is below
    -z * sqrt((n - 1) / n): slightly more often than 1 - level, because z < t_{n-1} quantile.
    """
    z = stats.norm.ppf(level)
    return float(stats.t.cdf(-z * math.sqrt((n - 1) / n), n - 1))


def false_alarm_tolerance(replicates: int, n: int = MT_BENCH) -> float:
    """How far from 5% a simulated false-alarm rate may land: the z rule's own excess plus 3 standard errors."""
    return abs(z_rule_level(n) - 0.05) + 3 * math.sqrt(0.05 * 0.95 / replicates)


def check_false_alarm(replicates: int) -> None:
    estimate = simulate_power(MT_BENCH, 0.0, GradedPowerModel(), replicates=replicates, seed=0)
    assert estimate.baseline_dg_diff == 0.0 and estimate.regressed_dg_diff == 0.0
    assert estimate.power == estimate.false_alarm  # a zero drop leaves the regressed run equal to "same"
    assert abs(estimate.false_alarm - 0.05) <= false_alarm_tolerance(replicates)


# --- early stopping (selfdisc_checks.sequential) ----------------------------------------------------------

# Families of per-question value streams whose true mean is known exactly: (values, truth, value range).
STREAM_FAMILIES = (
    "bernoulli-rare",  # right/wrong at 5%, like an invalid rate
    "bernoulli-half",
    "beta-u",  # continuous, U-shaped Beta(0.4, 0.6)
    "candidate-rate",  # S_gen-like: the share of 4 candidates right, PowerModel defaults
    "dg-diff",  # s_disc - s_gen per question in [-1, 1], mostly zeros (unmixed questions), PowerModel skill 0.25
    "paired-regression",  # new - old DG-DIFF on the same questions, a 3-point drop, in [-2, 2]
    "graded-rate",  # judge ratings (GradedPowerModel), S_gen per question on the 1-10 grid rescaled
)


def stream_family(family: str, streams: int, n: int, seed: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """``streams`` x ``n`` per-question values of one family, their true mean and their range."""
    rng = np.random.default_rng(seed)
    if family == "bernoulli-rare":
        return rng.binomial(1, 0.05, (streams, n)).astype(float), 0.05, (0.0, 1.0)
    if family == "bernoulli-half":
        return rng.binomial(1, 0.5, (streams, n)).astype(float), 0.5, (0.0, 1.0)
    if family == "beta-u":
        return rng.beta(0.4, 0.6, (streams, n)), 0.4, (0.0, 1.0)
    if family == "candidate-rate":
        model = PowerModel()
        return model.sample(rng, (streams, n))[0], model.accuracy, (0.0, 1.0)
    if family == "dg-diff":
        model = PowerModel(skill=0.25)
        gen, disc = model.sample(rng, (streams, n))
        return disc - gen, model.expected_dg_diff(), (-1.0, 1.0)
    if family == "paired-regression":
        model = PowerModel()
        old, new = paired_runs(model, rng, (streams, n), drop=0.03)
        return new - old, -0.03, (-2.0, 2.0)
    if family == "graded-rate":
        graded = GradedPowerModel()
        return graded.sample(rng, (streams, n))[0], graded.expected_s_gen, (0.0, 1.0)
    raise ValueError(f"unknown stream family {family!r}")


def paired_runs(
    model: PowerModel | GradedPowerModel, rng: np.random.Generator, shape: tuple[int, ...], drop: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-question DG-DIFF of two independent runs on the same questions: the model ("old") and one whose
    skill is lowered so that its expected DG-DIFF is ``drop`` lower ("new"), as ``simulate_power`` draws them."""
    latent = model._latent(rng, shape)
    old_gen, old_disc = model._run(rng, latent, model.skill)
    new_gen, new_disc = model._run(rng, latent, model.skill_for_drop(drop))
    return old_disc - old_gen, new_disc - new_gen


def miss_rates(family: str, streams: int, n: int, alpha: float, seed: int) -> tuple[float, float, float]:
    """Over simulated streams, the share whose lower CS (at alpha) ever rose above the true mean, whose upper
    CS ever fell below it, and whose two-sided CS (at alpha) ever excluded it, looking after every question."""
    values, truth, value_range = stream_family(family, streams, n, seed)
    above, below = first_exclusion(values, truth, alpha, value_range)
    above2, below2 = first_exclusion(values, truth, alpha / 2, value_range)
    either = np.isfinite(above2) | np.isfinite(below2)
    return float(np.isfinite(above).mean()), float(np.isfinite(below).mean()), float(either.mean())


def miss_tolerance(alpha: float, streams: int) -> float:
    """The most a simulated miss rate may exceed alpha: 3 Monte Carlo standard errors."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / streams)


def fixture_model() -> PowerModel:
    """A right/wrong model like the fixture checkpoint on 200 arithmetic questions (docs/benchmarks.md):
    S_gen 0.42, S_disc 0.40 (DG-DIFF -0.02), three quarters of the questions with right and wrong candidates."""
    base = PowerModel(accuracy=0.42, mixed_fraction=0.75)
    return PowerModel(accuracy=0.42, mixed_fraction=0.75, skill=base.skill_for_drop(0.02))


@dataclass(frozen=True)
class Scenario:
    """One early-stopping target of docs/statistics.md: a check, its values, and what to report."""

    name: str
    check: SequentialCheck
    values: np.ndarray  # streams x questions
    target: int | None = None  # the questions by which it should settle, if the docs give a target


def early_stopping_scenarios(alpha: float, streams: int = 2000, seed: int = 0) -> list[Scenario]:
    """The docs' targets at one per-check alpha for the sequences (``AlphaSplit.sequence``)."""
    rng = np.random.default_rng(seed)
    gsm8k, fixture = 1319, 200
    model = PowerModel()
    clear = PowerModel(skill=model.skill_for_drop(-0.05))  # DG-DIFF +0.05
    gen, disc = clear.sample(rng, (streams, gsm8k))
    scenarios = [
        Scenario(
            "clear pass: DG-DIFF +0.05 vs floor 0",
            SequentialCheck(0.0, "floor", "not-below", alpha, (-1, 1)),
            disc - gen,
            round(0.3 * gsm8k),
        )
    ]
    for drop, label in ((0.03, "3-point DG-DIFF regression"), (0.0, "no change")):
        old, new = paired_runs(model, rng, (streams, gsm8k), drop)
        scenarios.append(
            Scenario(f"{label} vs baseline, tolerance 0", regression_check(0.0, alpha, (-1, 1)), new - old)
        )
    gen, disc = fixture_model().sample(rng, (streams, fixture))
    for floor in (0.2, 0.3):
        scenarios.append(
            Scenario(
                f"fixture S_gen 0.42 vs floor {floor}", SequentialCheck(floor, "floor", "confident", alpha), gen, 100
            )
        )
        scenarios.append(
            Scenario(
                f"fixture S_disc 0.40 vs floor {floor}", SequentialCheck(floor, "floor", "confident", alpha), disc, 100
            )
        )
    scenarios.append(
        Scenario(
            "fixture DG-DIFF -0.02 vs floor -0.05",
            SequentialCheck(-0.05, "floor", "not-below", alpha, (-1, 1)),
            disc - gen,
            100,
        )
    )
    scenarios.append(
        Scenario(
            "fixture invalid 0% vs ceiling 0.1",
            SequentialCheck(0.1, "ceiling", "confident", alpha),
            np.zeros((streams, fixture)),
            100,
        )
    )
    return scenarios


def early_stopping_table(checks: tuple[int, ...] = (1, 4, 15), streams: int = 2000, seed: int = 0) -> str:
    """The docs' table (markdown rows): per scenario and number of gated checks (alpha 0.05 run-wide, half for
    the sequences, ``AlphaSplit``), the mean share of questions run, the median questions at the stop, the
    share of streams settled by the target, and the share that passed."""
    rows: dict[str, list[str]] = {}
    for count in checks:
        split = AlphaSplit(0.05, count)
        for scenario in early_stopping_scenarios(split.sequence, streams, seed):
            stop = simulate_stopping(scenario.values, scenario.check, chunk=32, alpha_final=split.final)
            n = scenario.values.shape[1]
            cell = f"{np.mean(stop.stopped_at) / n:.0%} ({np.median(stop.stopped_at):.0f})"
            if scenario.target is not None:
                cell += f", {np.mean(stop.settled & (stop.stopped_at <= scenario.target)):.0%}"
            cell += f", {np.mean(stop.passed):.0%}"
            target = "" if scenario.target is None else str(scenario.target)
            rows.setdefault(scenario.name, [scenario.name, str(n), target]).append(cell)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows.values())


def caught_regressions(checks: int, streams: int = 2000, seed: int = 0) -> dict[str, float]:
    """How often the 3-point DG-DIFF regression of ``early_stopping_scenarios`` is caught (called regressed):
    with the final look of ``finish`` (exact betting), with a normal final look at the same alpha (what the
    gate's bootstrap approximates), with all of alpha on the sequence (``final_share=0``), and by the fixed-n
    normal rule alone at alpha / checks (no early stopping)."""
    from scipy import stats

    rates = {}
    for share in (0.5, 0.0):
        split = AlphaSplit(0.05, checks, share)
        scenario = next(s for s in early_stopping_scenarios(split.sequence, streams, seed) if "3-point" in s.name)
        values, n = scenario.values, scenario.values.shape[1]
        stop = simulate_stopping(values, scenario.check, chunk=32, alpha_final=split.final)
        rates[f"betting final, final_share {share}"] = float(np.mean(~stop.passed))
        if share:
            upper = values.mean(axis=1) + stats.norm.ppf(1 - split.final) * values.std(axis=1) / math.sqrt(n)
            rates["normal final, final_share 0.5"] = float(
                np.mean((stop.settled & ~stop.passed) | (~stop.settled & (upper < 0)))
            )
            fixed = values.mean(axis=1) + stats.norm.ppf(1 - 0.05 / checks) * values.std(axis=1) / math.sqrt(n)
            rates["fixed-n normal alone"] = float(np.mean(fixed < 0))
    return rates


def update_cost(n: int, repeats: int = 20, alpha: float = 0.05 / 30) -> float:
    """Seconds of one ``SequentialCheck.update`` of 32 questions after ``n - 32`` (median of ``repeats``)."""
    import time

    values = np.random.default_rng(0).binomial(1, 0.45, n).astype(float)
    times = []
    for _ in range(repeats):
        check = SequentialCheck(0.95, "floor", "confident", alpha)  # never settles: the full cost every look
        check.update(values[: n - 32])
        start = time.perf_counter()
        check.update(values[n - 32 :])
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# ---- the run-wide family (selfdisc_checks.family): 5 tasks x (S_gen, S_disc, DG-DIFF) against a baseline ----

FAMILY_METRICS = ("s_gen", "s_disc", "dg_diff")


def gate_rejections(
    family: str,
    replicates: int,
    n: int = 1319,
    tasks: int = 5,
    drop: float = 0.0,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = 1000,
) -> tuple[float, float]:
    """Per replicate, a baseline and a new run of ``tasks`` right/wrong tasks (``PowerModel`` defaults) on
    the same questions; task 0's pick skill is lowered so its expected DG-DIFF drops by ``drop`` (0: nothing
    changed). Every task's S_gen, S_disc and DG-DIFF regression check is a member of the family, each a
    sign-flip test of mean(new - old) >= 0. Returns (share of replicates where any check regressed, share
    where task 0's DG-DIFF check regressed)."""
    from selfdisc_checks.family import Member, adjust, sign_flip_test

    model = PowerModel()
    rng = np.random.default_rng(seed)
    any_fired = dg_fired = 0
    for replicate in range(replicates):
        p_values: dict[str, float] = {}
        members = []
        for task in range(tasks):
            latent = model._latent(rng, (n,))
            old_gen, old_disc = model._run(rng, latent, model.skill)
            skill = model.skill_for_drop(drop) if task == 0 else model.skill
            new_gen, new_disc = model._run(rng, latent, skill)
            columns = {
                "s_gen": new_gen - old_gen,
                "s_disc": new_disc - old_disc,
                "dg_diff": (new_disc - new_gen) - (old_disc - old_gen),
            }
            for metric in FAMILY_METRICS:
                key = f"t{task}:{metric}"
                differences = columns[metric]
                p_values[key] = sign_flip_test(differences, resamples=resamples, seed=replicate).p_value
                members.append(Member(key, f"t{task}", tuple(differences), 0.0))
        adjusted = adjust(family, p_values, members, seed=replicate, resamples=resamples)
        fired = {key for key, p in adjusted.items() if p <= alpha}
        any_fired += bool(fired)
        dg_fired += "t0:dg_diff" in fired
    return any_fired / replicates, dg_fired / replicates


def rate_tolerance(rate: float, replicates: int) -> float:
    """How far above ``rate`` a simulated rate may land: 3 Monte Carlo standard errors."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / replicates)


def early_stopping_false_alarms(
    replicates: int, tasks: int = 5, n: int = 400, chunk: int = 32, alpha: float = 0.05, seed: int = 0
) -> float:
    """The share of simulated unchanged runs that ``--stop-when-decided`` fails: ``tasks`` GSM8K-like tasks
    (``PowerModel`` defaults) x the S_gen, S_disc and DG-DIFF regression checks against an independent
    baseline run on the same questions (tolerance 0: the true difference sits on the bound, the worst case),
    at ``stopping``'s split (Bonferroni over the checks, half to the sequences, half to a Student's t look at
    every question for a check left open). Each check is followed over all ``n`` questions whatever the
    others do; the product stops a task at the first failure or once all are settled, which can only fail
    less, so this is an upper bound on its false-alarm rate."""
    from scipy import stats

    from selfdisc_checks.sequential import regression_check

    model = PowerModel()
    rng = np.random.default_rng(seed)
    split = AlphaSplit(alpha, 3 * tasks, 0.5)
    alarmed = np.zeros(replicates, bool)
    for _ in range(tasks):
        latent = model._latent(rng, (replicates, n))
        old_gen, old_disc = model._run(rng, latent, model.skill)
        new_gen, new_disc = model._run(rng, latent, model.skill)
        for metric, differences in (
            ("s_gen", new_gen - old_gen),
            ("s_disc", new_disc - old_disc),
            ("dg_diff", (new_disc - new_gen) - (old_disc - old_gen)),
        ):
            bounds = (-1.0, 1.0) if metric == "dg_diff" else (0.0, 1.0)
            check = regression_check(0.0, split.sequence, bounds)
            stop = simulate_stopping(differences, check, chunk=chunk)
            spread = differences.std(axis=1, ddof=1)
            t = np.divide(differences.mean(axis=1) * math.sqrt(n), spread, out=np.zeros(replicates), where=spread > 0)
            final_fails = stats.t.cdf(t, n - 1) <= split.final
            alarmed |= (stop.settled & ~stop.passed) | (~stop.settled & final_fails)
    return float(alarmed.mean())
