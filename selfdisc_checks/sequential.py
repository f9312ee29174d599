"""Early stopping: anytime-valid confidence sequences for a check's mean, and the verdicts they settle.

A gated check reads the mean of per-question values that lie in a known range (S_gen and S_disc in [0, 1],
DG-DIFF in [-1, 1], new - old differences in twice their metric's width). Questions arrive in chunks; after
each chunk the check asks whether its verdict is already settled. An ordinary confidence interval looked at
after every chunk loses its guarantee (peeking), so the checks here use a *confidence sequence* (CS): a
sequence of intervals that contain the true mean at every sample size at once, with probability 1 - alpha.
Stopping at a data-dependent time, or looking after every question, keeps the guarantee.

The construction is the hedged betting CS of Waudby-Smith and Ramdas (2023), "Estimating means of bounded
random variables by betting", JRSS-B 86(1), section 4. Values are rescaled to [0, 1]. For a candidate mean
m, a gambler bets against "the mean is m": the capital K+_t(m) = prod_i (1 + l_i (x_i - m)) grows when the
values come out above m, K-_t(m) = prod_i (1 - l_i (x_i - m)) when below. The bets are predictable (fixed
before x_i is seen) plug-ins of the running variance s2_t = (1/4 + sum_i (x_i - mu_i)^2) / (t + 1), with
mu_t = (1/2 + sum_i x_i) / (t + 1), truncated at c / m for K+ and c / (1 - m) for K- (c = 3/4, the larger of
the paper's two suggestions), so every factor is at least 1 - c > 0:

- ``bets="prpl"``: the paper's PrPl-H, l_t = sqrt(2 log(1/alpha) / (s2_{t-1} t log(1 + t)));
- ``bets="horizons"`` (the default): the average of four capitals whose bets are the paper's fixed-n
  plug-in sqrt(2 log(1/alpha) / (s2_{t-1} h)) for h = 32, 128, 512, 2048 (``HORIZONS``). An average of
  test martingales is a test martingale (the paper's "diversified" betting), so the guarantee is the same;
  each schedule is sharpest near its h, the average costs at most log 4 against the best of them, and it
  settles the docs' clear pass about 20% sooner than PrPl-H (docs/statistics.md, Early stopping), whose
  anytime bets shrink like 1 / sqrt(t log t) and are too timid by the hundreds of questions where gate
  verdicts settle.

At the true mean both capitals are nonnegative martingales starting at 1, so by Ville's inequality the
chance that K+ ever reaches 1/alpha is at most alpha. Hence:

- the lower CS {m : K+_s(m) < 1/alpha for every s <= t} holds the true mean at every t with probability
  >= 1 - alpha (``lower_bound``); the upper CS likewise from K- (``upper_bound``);
- the two-sided CS at level alpha is both one-sided ones at alpha / 2, the paper's hedged capital
  max(K+ / 2, K- / 2) < 1/alpha (``confidence_sequence``).

Every factor of K+_t(m) falls as m rises and every factor of K-_t(m) rises, so each CS is an interval,
found by bisection to 1e-7 of the range (rounded outwards). Taking the largest capital over every s <= t is
the running intersection of the intervals: bounds only tighten, so a verdict once settled stays settled.
What does not hold: a smaller alpha does not always give a wider CS (the bets grow with log(1/alpha), and
truncation caps a bet's losses but not its gains), so nothing here assumes nesting in alpha.

Decisions (``SequentialCheck``), with b the bound and alpha the check's share:

- "surely above b": K+_t(b) >= 1/alpha, i.e. the lower CS is >= b;
- "surely below b": K-_t(b) >= 1/alpha, i.e. the upper CS is < b;
- a floor passes when surely above and fails when surely below; a ceiling the mirror (passes when surely
  below, fails when surely above). Both modes settle by the same two events: what a mode changes is the
  verdict of a check still unsettled when the questions run out (``SequentialCheck.finish``): a fixed-n
  look in the mode's sense, or the mode's default (not-below passes, confident fails).

Which error each mode controls. A verdict settled by the sequence is wrong only if the CS missed the true
mean on the side that settled it: failing a floor whose true mean is >= b needs K-(mean) >= K-(b) >= 1/alpha;
passing one whose mean is < b needs K+(mean) >= 1/alpha. For a given true mean only one of the two wrong
verdicts is possible, so each side at alpha (not alpha / 2) keeps P(wrong settled verdict) <= alpha, at any
stopping rule, for both modes. The guarantee of the whole check adds the final look:

- ``not-below`` controls failing a compliant model (true mean >= floor, <= ceiling):
  P(fail) <= alpha_sequence + alpha_final; passing a non-compliant one is left uncontrolled at the final
  look, on purpose (an unsettled not-below check passes);
- ``confident`` controls passing a non-compliant model (true mean < floor, > ceiling):
  P(pass) <= alpha_sequence + alpha_final; an unsettled confident check fails;
- ``point`` compares the estimate itself and has no error rate, so nothing can settle it early:
  ``SequentialCheck`` refuses it (run every question and let the gate decide).

Ties follow ``gate``: a floor passes at mean >= floor, a ceiling at mean <= ceiling, so a floor at the bottom
of the range (or a ceiling at its top) passes before any question. A regression check is a floor of
-tolerance on mean(new - old) in not-below mode (``regression_check``). ``AlphaSplit`` spreads a run's alpha
over its checks and between the sequences and the final looks. ``simulate_stopping`` runs many simulated
streams of values through a check, vectorised; pure numpy, no torch, no pytest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from selfdisc_checks.errors import SelfDiscError

Side = Literal["floor", "ceiling"]
Outcome = Literal["pass", "fail"]
SIDES = ("floor", "ceiling")
SEQUENTIAL_MODES = ("not-below", "confident")

# Truncation of the bets: every factor 1 + l (x - m) stays >= 1 - TRUNCATION. The paper suggests 1/2 or 3/4;
# 3/4 settles a rate near 0 (invalid_rate against a ceiling of 0.1) a chunk sooner and costs little elsewhere.
TRUNCATION = 0.75
# The bet schedules averaged by "horizons": each is tuned to be sharpest after h questions; four spaced by 4x
# cover 32 to 2048 questions at the price of log(4) in capital (see the module docstring).
HORIZONS = (32, 128, 512, 2048)
Bets = Literal["horizons", "prpl"]
BETS = ("horizons", "prpl")
# Bisection steps on the rescaled [0, 1]: 2^-24 < 1e-7 of the range, far below any bound a gate compares.
_STEPS = 24


@dataclass(frozen=True)
class AlphaSplit:
    """A run-wide alpha spread over ``checks`` gated checks (Bonferroni), each check's share split between
    its confidence sequence (``sequence``) and the fixed-n look at the end for a check still unsettled
    (``final``): sequence = alpha (1 - final_share) / checks and final = alpha final_share / checks.

    Guarantee (union bound, whatever the dependence between checks and whenever each stops): the chance
    that any check makes the error its mode controls (not-below: failing a compliant model; confident:
    passing a non-compliant one) is at most checks * (sequence + final) = alpha. ``final_share = 0`` spends
    nothing on the final look: an unsettled check then takes its mode's default verdict.
    """

    alpha: float
    checks: int
    final_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise SelfDiscError(f"AlphaSplit alpha must be strictly between 0 and 1 (e.g. 0.05), not {self.alpha}.")
        if isinstance(self.checks, bool) or not isinstance(self.checks, int) or self.checks < 1:
            raise SelfDiscError(f"AlphaSplit checks must be a whole number >= 1 (the gated checks), not {self.checks}.")
        if not 0 <= self.final_share < 1:
            raise SelfDiscError(
                f"AlphaSplit final_share must be in [0, 1) (0.5 halves each check's alpha), not {self.final_share}."
            )

    @property
    def sequence(self) -> float:
        """Each check's alpha for its confidence sequence (both of its one-sided bounds use it)."""
        return self.alpha * (1 - self.final_share) / self.checks

    @property
    def final(self) -> float:
        """Each check's alpha for the fixed-n look when the questions run out unsettled (0: no look)."""
        return self.alpha * self.final_share / self.checks


@dataclass(frozen=True)
class CheckState:
    """Where a check stands: questions seen, the mean, its one-sided confidence sequences (each at the
    check's alpha, on the values' scale) and, once settled, the verdict, the questions seen at the look that
    settled it and what settled it ("sequence", "final" for the fixed-n look, "default" for the mode's)."""

    seen: int
    mean: float | None
    lower: float
    upper: float
    verdict: Outcome | None = None
    decided_at: int | None = None
    by: str | None = None

    @property
    def decided(self) -> bool:
        return self.verdict is not None


@dataclass
class SequentialCheck:
    """One gated check that can stop early: a ``bound`` on the mean of per-question values in ``value_range``.

    ``side`` is "floor" (the mean must be at least the bound) or "ceiling" (at most); ``mode`` is
    "not-below" or "confident" (``point`` has no error rate and is refused); ``alpha`` is the check's share
    for its confidence sequence (``AlphaSplit.sequence``); ``bets`` the bet schedules ("horizons", or the
    paper's "prpl"; see the module docstring). Feed each chunk of values in question order to
    ``update``; once the state is decided it stays so. ``finish`` settles a check the questions left open.
    """

    bound: float
    side: Side = "floor"
    mode: str = "not-below"
    alpha: float = 0.05
    value_range: tuple[float, float] = (0.0, 1.0)
    bets: Bets = "horizons"
    _values: list[np.ndarray] = field(default_factory=list, init=False, repr=False)
    _state: CheckState = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode == "point":
            raise SelfDiscError(
                "Mode point compares the estimate itself and has no error rate, so it cannot stop early; "
                "use mode confident or not-below for an early-stopping check, or run every question."
            )
        if self.mode not in SEQUENTIAL_MODES:
            raise SelfDiscError(
                f"Mode {self.mode!r} is not a threshold mode; use one of {', '.join(SEQUENTIAL_MODES)}."
            )
        if self.side not in SIDES:
            raise SelfDiscError(f"side must be one of {', '.join(SIDES)}, not {self.side!r}.")
        _check_alpha(self.alpha)
        _check_bets(self.bets)
        lo, hi = _check_range(self.value_range)
        if not (math.isfinite(self.bound) and lo <= self.bound <= hi):
            raise SelfDiscError(
                f"The bound {self.bound} is outside the values' range [{lo:g}, {hi:g}]; pass a bound inside it."
            )
        self._state = self._evaluate(np.empty(0))

    @property
    def state(self) -> CheckState:
        return self._state

    def update(self, values: Sequence[float] | np.ndarray) -> CheckState:
        """Add the next questions' values (in order) and return the new state."""
        chunk = _checked_values(values, self.value_range)
        if chunk.size:
            self._values.append(chunk)
            self._state = self._evaluate(np.concatenate(self._values))
        return self._state

    def finish(self, alpha_final: float = 0.0, interval: tuple[float, float] | None = None) -> CheckState:
        """The verdict when the questions have run out (call it only then: the look is valid at a sample size
        fixed in advance). A settled check keeps its verdict. An unsettled one gets the fixed-n look of its
        mode at ``alpha_final`` (``AlphaSplit.final``): not-below fails only when the fixed-n bound is surely
        on the wrong side, confident passes only when surely on the right one; with ``alpha_final = 0``, or no
        values, the mode's default (not-below passes, confident fails).

        The look is the paper's fixed-n betting interval (exact, and conservative: about sqrt(2 log(1/alpha))
        standard errors wide where the normal interval is z_alpha). ``interval`` = (lower, upper) replaces it
        with bounds the caller computed on all the values, each one-sided at ``alpha_final`` (the gate's
        bootstrap interval at level 1 - 2 alpha_final, say: more power, valid only asymptotically), read as
        ``gate`` reads an interval."""
        state = self._state
        if state.decided:
            return state
        verdict: Outcome = "pass" if self.mode == "not-below" else "fail"
        by = "default"
        if interval is not None or (alpha_final > 0 and state.seen):
            if interval is not None:
                low, high = (float(v) for v in interval)
                if self.side == "floor":
                    good, bad = low >= self.bound, high < self.bound
                else:
                    good, bad = high <= self.bound, low > self.bound
            else:
                _check_alpha(alpha_final)
                x, b = self._scaled(np.concatenate(self._values))
                above_n, below_n = (bool(v) for v in _fixed_n_decisions(x, b, alpha_final))
                good, bad = (above_n, below_n) if self.side == "floor" else (below_n, above_n)
            verdict = ("fail" if bad else "pass") if self.mode == "not-below" else ("pass" if good else "fail")
            by = "final"
        self._state = CheckState(state.seen, state.mean, state.lower, state.upper, verdict, state.seen, by)
        return self._state

    def _scaled(self, values: np.ndarray) -> tuple[np.ndarray, float]:
        lo, hi = self.value_range
        return (values - lo) / (hi - lo), (self.bound - lo) / (hi - lo)

    def _evaluate(self, values: np.ndarray) -> CheckState:
        lo, hi = self.value_range
        previous = getattr(self, "_state", None)
        if values.size == 0:
            return CheckState(0, None, lo, hi, *self._edge_verdict())
        x, b = self._scaled(values)
        (low, high), above, below = _bounds(x, self.alpha, self.bets, b)
        lower, upper = lo + (hi - lo) * low, lo + (hi - lo) * high
        # The capital at the bound itself says on which side of it each CS lies, exactly (no rounding).
        just_below = float(np.nextafter(self.bound, -np.inf))
        lower = max(lo, max(lower, self.bound) if above else min(lower, just_below))
        upper = min(hi, min(upper, just_below) if below else max(upper, self.bound))
        mean = float(values.mean())
        if previous is not None and previous.decided:
            return CheckState(values.size, mean, lower, upper, previous.verdict, previous.decided_at, previous.by)
        verdict: Outcome | None = None
        if above or below:
            verdict = "pass" if (above if self.side == "floor" else below) else "fail"
        return CheckState(
            values.size, mean, lower, upper, verdict, values.size if verdict else None, "sequence" if verdict else None
        )

    def _edge_verdict(self) -> tuple[Outcome | None, int | None, str | None]:
        """A floor at the bottom of the range (a ceiling at the top) holds for any values: settled at once."""
        lo, hi = self.value_range
        if (self.side == "floor" and self.bound <= lo) or (self.side == "ceiling" and self.bound >= hi):
            return "pass", 0, "sequence"
        return None, None, None


def regression_check(
    tolerance: float = 0.0,
    alpha: float = 0.05,
    metric_range: tuple[float, float] = (0.0, 1.0),
    bets: Bets = "horizons",
) -> SequentialCheck:
    """The regression rule as an early-stopping check: per-question new - old (paired on shared questions)
    must not be surely below -tolerance (a floor in not-below mode). The differences of a metric in
    [lo, hi] lie in [lo - hi, hi - lo]: [-1, 1] for S_gen and S_disc, [-2, 2] for DG-DIFF."""
    lo, hi = _check_range(metric_range)
    if not (math.isfinite(tolerance) and 0 <= tolerance <= hi - lo):
        raise SelfDiscError(
            f"The tolerance must be in [0, {hi - lo:g}] (how far the metric may drop), not {tolerance}."
        )
    return SequentialCheck(-tolerance, "floor", "not-below", alpha, (lo - hi, hi - lo), bets)


def lower_bound(
    values: Sequence[float] | np.ndarray,
    alpha: float = 0.05,
    value_range: tuple[float, float] = (0.0, 1.0),
    bets: Bets = "horizons",
) -> float:
    """The lower confidence sequence at level 1 - alpha after these values, in question order (one-sided:
    with probability >= 1 - alpha it stays below the true mean at every sample size at once); the bottom of
    the range for no values."""
    return _one_sided(values, alpha, value_range, bets)[0]


def upper_bound(
    values: Sequence[float] | np.ndarray,
    alpha: float = 0.05,
    value_range: tuple[float, float] = (0.0, 1.0),
    bets: Bets = "horizons",
) -> float:
    """The upper confidence sequence at level 1 - alpha after these values (one-sided, like ``lower_bound``)."""
    return _one_sided(values, alpha, value_range, bets)[1]


def confidence_sequence(
    values: Sequence[float] | np.ndarray,
    alpha: float = 0.05,
    value_range: tuple[float, float] = (0.0, 1.0),
    bets: Bets = "horizons",
) -> tuple[float, float]:
    """The two-sided confidence sequence at level 1 - alpha after these values: the hedged betting CS, both
    one-sided bounds at alpha / 2."""
    return _one_sided(values, alpha / 2, value_range, bets)


def fixed_n_bounds(
    values: Sequence[float] | np.ndarray, alpha: float = 0.05, value_range: tuple[float, float] = (0.0, 1.0)
) -> tuple[float, float]:
    """One-sided lower and upper confidence bounds, each at alpha, valid at this sample size only (fixed in
    advance): the paper's betting confidence interval, the final look of a check left unsettled."""
    lo, hi = _check_range(value_range)
    _check_alpha(alpha)
    array = _checked_values(values, value_range)
    if array.size == 0:
        return lo, hi
    x = (array - lo) / (hi - lo)
    lam = _bets(x, alpha, "fixed-n")
    low = _bisect_lower(np.stack([x, 1 - x]), np.stack([lam, lam]), alpha, running=False)
    return lo + (hi - lo) * float(low[0]), lo + (hi - lo) * (1.0 - float(low[1]))


def first_exclusion(
    values: np.ndarray,
    mean: float,
    alpha: float = 0.05,
    value_range: tuple[float, float] = (0.0, 1.0),
    bets: Bets = "horizons",
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``values`` (streams x questions, or one stream), the number of questions after which
    ``mean`` first fell below the lower CS at alpha, and after which it first rose above the upper one
    (``inf``: never). With ``mean`` the truth, either is a miss of that CS; with ``mean`` a check's bound,
    the first is "surely above" and the second "surely below". Vectorised; the rows are processed in blocks
    so memory stays bounded."""
    lo, hi = _check_range(value_range)
    _check_alpha(alpha)
    array = np.asarray(values, dtype=float)
    rows = array.reshape(-1, array.shape[-1]) if array.ndim else array.reshape(1, 1)
    _checked_values(rows.ravel(), value_range)
    if not lo <= mean <= hi:
        raise SelfDiscError(f"The mean {mean} is outside [{lo:g}, {hi:g}]; pass one inside the values' range.")
    x, m = (rows - lo) / (hi - lo), (mean - lo) / (hi - lo)
    above = np.empty(len(x))
    below = np.empty(len(x))
    block = max(1, _BLOCK_ELEMENTS // (x.shape[1] * len(HORIZONS)))
    for start in range(0, len(x), block):
        part = x[start : start + block]
        lam = _bets(part, alpha, bets)
        above[start : start + block] = _first_crossing(_capital(part, lam, m), alpha)
        below[start : start + block] = _first_crossing(_capital(1 - part, lam, 1 - m), alpha)
    shape = array.shape[:-1] if array.ndim else ()
    return above.reshape(shape), below.reshape(shape)


@dataclass(frozen=True)
class Stopping:
    """Per simulated stream: questions seen when the check stopped, its verdict and whether the sequence
    settled it (False: the questions ran out and the final look or the mode's default gave the verdict)."""

    stopped_at: np.ndarray  # int, one per stream
    passed: np.ndarray  # bool
    settled: np.ndarray  # bool


def simulate_stopping(
    values: np.ndarray, check: SequentialCheck, chunk: int = 32, alpha_final: float = 0.0
) -> Stopping:
    """Run ``check``'s rule (its bound, side, mode, alpha, range and bets; not its state) over each row of
    ``values`` (streams x questions), looking after every ``chunk`` questions, and finish the rows left
    unsettled as ``SequentialCheck.finish(alpha_final)`` does. Vectorised over streams: the settling look is
    the first chunk end at or after the capital at the bound first reaches 1/alpha, which is what ``update``
    decides (a unit test compares the two)."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 2 or array.shape[1] == 0:
        raise SelfDiscError("simulate_stopping needs a 2-d array of values, one row per stream of questions.")
    if chunk < 1:
        raise SelfDiscError(f"chunk must be at least 1 question, not {chunk}.")
    streams, n = array.shape
    if check._edge_verdict()[0] is not None:
        return Stopping(np.zeros(streams, int), np.ones(streams, bool), np.ones(streams, bool))
    above_at, below_at = first_exclusion(array, check.bound, check.alpha, check.value_range, check.bets)
    first = np.minimum(above_at, below_at)
    settled = first <= n
    looks = np.where(settled, np.minimum(n, chunk * np.ceil(np.where(settled, first, 0) / chunk)), n).astype(int)
    surely_above = settled & (above_at <= looks)  # as ``update``: a floor passes when both show at one look
    passed = surely_above if check.side == "floor" else settled & ~surely_above
    unsettled = ~settled
    if unsettled.any():
        if alpha_final > 0:
            _check_alpha(alpha_final)
            x, b = check._scaled(array[unsettled])
            above, below = _fixed_n_decisions(x, b, alpha_final)
            good, bad = (above, below) if check.side == "floor" else (below, above)
            passed[unsettled] = ~bad if check.mode == "not-below" else good
        else:
            passed[unsettled] = check.mode == "not-below"
    return Stopping(looks, passed, settled)


# --- the construction -------------------------------------------------------------------------------------

# Rows x horizons x questions per block of ``first_exclusion`` (32 MiB of float64 per array).
_BLOCK_ELEMENTS = 1 << 22


def _bets(x: np.ndarray, alpha: float, bets: str) -> np.ndarray:
    """The predictable plug-in bets of each row before truncation, shape (..., schedules, n): l_t uses only
    the values before t, through the running variance s2_{t-1}.

    "horizons": sqrt(2 log(1/alpha) / (s2_{t-1} h)) for each h in ``HORIZONS``; "prpl": the paper's anytime
    sqrt(2 log(1/alpha) / (s2_{t-1} t log(1 + t))); "fixed-n": one schedule with h = n, the paper's bets for a
    confidence interval at n (the final look).
    """
    n = x.shape[-1]
    t = np.arange(1, n + 1, dtype=float)
    mu = (0.5 + np.cumsum(x, axis=-1)) / (t + 1)
    s2 = (0.25 + np.cumsum((x - mu) ** 2, axis=-1)) / (t + 1)
    s2_before = np.concatenate([np.full((*x.shape[:-1], 1), 0.25), s2[..., :-1]], axis=-1)
    if bets == "horizons":
        scale = np.asarray(HORIZONS, dtype=float)[:, np.newaxis]
    elif bets == "prpl":
        scale = (t * np.log1p(t))[np.newaxis, :]
    else:  # fixed-n
        scale = np.full((1, 1), float(n))
    return np.sqrt(2 * math.log(1 / alpha) / (s2_before[..., np.newaxis, :] * scale))


def _capital(x: np.ndarray, lam: np.ndarray, m: np.ndarray | float) -> np.ndarray:
    """K+_t(m) for t = 1..n along the last axis: the average over the bet schedules of the capital that bets
    on "the mean is above m", each bet truncated at c / m. ``m`` broadcasts against x's leading axes (one
    candidate mean per row). K-_t(m) of x is K+_t(1 - m) of 1 - x with the same bets (the running variance of
    1 - x is that of x), which is how the upper side is computed.

    Products, not sums of logs: every factor is >= 1 - c > 0, so a product can only overflow to inf (far past
    1/alpha) or underflow to 0, both harmless for "did it reach 1/alpha", and it is several times faster.
    """
    m = np.asarray(m, dtype=float)[..., np.newaxis, np.newaxis]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        cap = np.where(m > 0, TRUNCATION / m, np.inf)
        factors = 1.0 + np.minimum(lam, cap) * (x[..., np.newaxis, :] - m)
        return np.cumprod(factors, axis=-1).mean(axis=-2)


def _first_crossing(capital: np.ndarray, alpha: float) -> np.ndarray:
    """Per row, the number of questions after which the capital first reached 1/alpha (inf: never)."""
    crossed = capital >= 1 / alpha
    return np.where(crossed.any(axis=-1), crossed.argmax(axis=-1) + 1.0, np.inf)


def _bisect_lower(x: np.ndarray, lam: np.ndarray, alpha: float, running: bool = True) -> np.ndarray:
    """Per row, the largest m (to 2^-_STEPS) whose capital K+(m) reached 1/alpha: the lower bound.

    The capital falls as m rises (every factor does), so "m excluded" holds on [0, L) and bisection keeps
    ``low`` excluded (or 0) and ``high`` not (m = 1 never is: every factor is <= 1 there). Returning ``low``
    errs on the wide side. ``running``: the largest capital so far (the running intersection); otherwise
    the capital at the last question (a fixed-n look).
    """
    low = np.zeros(x.shape[:-1])
    high = np.ones(x.shape[:-1])
    for _ in range(_STEPS):
        mid = (low + high) / 2
        capital = _capital(x, lam, mid)
        reached = (capital.max(axis=-1) if running else capital[..., -1]) >= 1 / alpha
        low = np.where(reached, mid, low)
        high = np.where(reached, high, mid)
    return low


def _bounds(x: np.ndarray, alpha: float, bets: str, bound: float) -> tuple[tuple[float, float], bool, bool]:
    """The running-intersection lower and upper CS (each one-sided at alpha) on rescaled values, and whether
    the capital at ``bound`` itself reached 1/alpha on each side (surely above it, surely below it)."""
    lam = _bets(x, alpha, bets)
    low = _bisect_lower(np.stack([x, 1 - x]), np.stack([lam, lam]), alpha)
    above = bool(_capital(x, lam, bound).max() >= 1 / alpha)
    below = bool(_capital(1 - x, lam, 1 - bound).max() >= 1 / alpha)
    return (float(low[0]), 1.0 - float(low[1])), above, below


def _fixed_n_decisions(x: np.ndarray, bound: float, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The fixed-n look at each row's last question: (surely above the bound, surely below it), each a
    level-alpha test at a sample size fixed in advance (Markov's inequality on the capital at n)."""
    lam = _bets(x, alpha, "fixed-n")
    above = _capital(x, lam, bound)[..., -1] >= 1 / alpha
    below = _capital(1 - x, lam, 1 - bound)[..., -1] >= 1 / alpha
    return above, below


def _one_sided(values, alpha: float, value_range, bets: str) -> tuple[float, float]:
    lo, hi = _check_range(value_range)
    _check_alpha(alpha)
    _check_bets(bets)
    array = _checked_values(values, value_range)
    if array.size == 0:
        return lo, hi
    x = (array - lo) / (hi - lo)
    lam = _bets(x, alpha, bets)
    low = _bisect_lower(np.stack([x, 1 - x]), np.stack([lam, lam]), alpha)
    return lo + (hi - lo) * float(low[0]), lo + (hi - lo) * (1.0 - float(low[1]))


def _check_bets(bets: str) -> None:
    if bets not in BETS:
        raise SelfDiscError(f"bets must be one of {', '.join(BETS)}, not {bets!r}.")


def _check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise SelfDiscError(f"alpha must be strictly between 0 and 1 (e.g. 0.05), not {alpha}.")


def _check_range(value_range) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise SelfDiscError(f"value_range must be a pair (low, high), not {value_range!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise SelfDiscError(f"value_range must be finite with low < high, not ({lo}, {hi}).")
    return lo, hi


def _checked_values(values, value_range) -> np.ndarray:
    lo, hi = _check_range(value_range)
    array = np.asarray(values, dtype=float).ravel() if np.ndim(values) else np.asarray([values], dtype=float)
    if not np.all(np.isfinite(array)):
        raise SelfDiscError("The values contain NaN or infinite numbers; pass one finite value per question.")
    if array.size and (array.min() < lo or array.max() > hi):
        raise SelfDiscError(
            f"A value lies outside [{lo:g}, {hi:g}] (seen {array.min():g} to {array.max():g}); pass the values' true "
            "range as value_range, or the values the check reads."
        )
    return array
