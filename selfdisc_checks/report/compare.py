"""Compare two results documents question by question: did S_gen, S_disc or DG-DIFF regress?

Works only from the per-question records of two ``--results-json`` files (no model), of any results
version (older ones are migrated; every document is validated first). Questions are paired by id, so
question difficulty cancels out of the difference; only questions both runs answered count. Runs are
compared only when they measured the same thing: same task options, same protocol (sampling, prompt
variant, token limits, demonstrations) and the same questions by content (the data digest, else each
shared question's text and reference), wherever each run read its data file from.
The seed and the sampler may differ (independent re-sampling is the point), and so may the model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from selfdisc_checks import family as families
from selfdisc_checks import metric_registry as registry
from selfdisc_checks.document.read import parse_results
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.metrics import question_s_disc, question_s_gen
from selfdisc_checks.statistics import paired_difference

METRICS = registry.names(registry.select(compared=True))
# Metrics of likelihood discrimination exist only in runs that asked for it (--discriminate ...likelihood).
_LIKELIHOOD = registry.names(registry.select(compared=True, method="likelihood"))

# Keys that may differ between comparable runs, wherever they appear in options or protocol: the seed, and
# the sampler (ours by version, or vLLM's), since every sampler draws exactly from the same restricted softmax
# and so only changes which draw a candidate is, as another seed does. A baseline measured before a sampler
# change (or on another backend) stays usable.
_FREE_KEYS = frozenset({"seed", "sampler"})

# Per-question changes smaller than this are float noise, not a flipped question.
_EPSILON = 1e-9


class IncomparableResults(SelfDiscError):
    """The two runs measured different things (data, options or protocol), so a difference means nothing."""


@dataclass(frozen=True)
class Change:
    """How one metric of one task moved from the old run to the new one, on their shared questions."""

    task: str
    metric: str
    old: float  # mean over shared questions
    new: float
    difference: float  # new - old
    interval: tuple[float, float]  # two-sided paired bootstrap interval at ``level``
    upper_bound: float  # one-sided bootstrap upper bound at ``level``
    regressed: bool  # the family's decision (family "none": upper_bound < -tolerance)
    n: int  # shared questions
    flipped: dict[str, list[str]]  # "fixed": ids whose value rose (wrong -> right), "broke": fell
    level: float
    tolerance: float
    p_value: float = 1.0  # sign-flip test of "mean(new - old) >= -tolerance" (``family.sign_flip_test``)
    p_adjusted: float = 1.0  # p_value adjusted over every change returned (``family``)
    family: str = "none"
    alpha: float = 0.05  # run-wide false-alarm rate the family holds (family "none": 1 - level per change)
    family_size: int = 1
    differences: tuple[float, ...] = field(default=(), repr=False)  # new - old per shared question


@dataclass(frozen=True)
class _Question:
    id: str
    question: Any
    reference: Any
    values: dict[str, float]  # metric -> this question's value


def compare_results(
    old: dict,
    new: dict,
    metrics: Sequence[str] | None = None,
    tolerance: float = 0.0,
    level: float = 0.95,
    *,
    resamples: int = 2000,
    seed: int = 0,
    family: str = families.DEFAULT_FAMILY,
    alpha: float | None = None,
) -> list[Change]:
    """One ``Change`` per task present in both documents and per metric (default: s_gen, s_disc, dg_diff).

    Each change's ``p_value`` is the sign-flip test of "mean(new - old) >= -tolerance" over shared
    questions (exact for an unchanged model). ``family`` decides over all the changes returned at once:
    ``"holm"`` (default) or ``"max-t"`` call a change regressed when its adjusted p-value is at most
    ``alpha`` (default 1 - level), so an unchanged model is called regressed anywhere at most ``alpha`` of
    the time; ``"none"`` keeps the per-change rule of before: the one-sided ``level`` bootstrap upper bound
    of mean(new - old) is below ``-tolerance``. ``flipped`` lists question ids whose per-question value
    rose ("fixed") or fell ("broke"); for right/wrong scores and s_disc that is wrong -> right and right ->
    wrong.
    """
    if family not in families.FAMILIES:
        raise SelfDiscError(f"Unknown family {family!r}; choose one of {', '.join(families.FAMILIES)}.")
    from selfdisc_checks.statistics import _check_level

    _check_level(level)
    alpha = round(1 - level, 12) if alpha is None else alpha
    if not 0 < alpha < 1:
        raise SelfDiscError(f"alpha must be strictly between 0 and 1 (e.g. 0.05), not {alpha}.")
    chosen = _metrics(metrics)
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise SelfDiscError(f"The tolerance must be a number >= 0 (e.g. 0.01 for one point), not {tolerance}.")
    old_tasks, new_tasks = results_tasks(old, "old"), results_tasks(new, "new")
    shared = [name for name in old_tasks if name in new_tasks]
    if not shared:
        raise IncomparableResults(
            f"Cannot compare: the files share no task (old: {', '.join(old_tasks) or 'none'}; "
            f"new: {', '.join(new_tasks) or 'none'}); run the same tasks in both."
        )
    changes: list[Change] = []
    members: list[families.Member] = []
    for name in shared:
        before, after = old_tasks[name], new_tasks[name]
        check_comparable(name, before, after)
        old_questions = _questions(before, name, "old")
        new_questions = _questions(after, name, "new")
        pairs = [(q, new_questions[qid]) for qid, q in old_questions.items() if qid in new_questions]
        for metric in chosen:
            missing = [
                label
                for label, side in (("old", 0), ("new", 1))
                if any(metric not in pair[side].values for pair in pairs)
            ]
            method = registry.get(metric).method or registry.GENERATE
            if missing:
                if metrics is None:
                    continue  # by default, what both runs measured
                raise IncomparableResults(
                    f"Cannot compare {metric}: the {missing[0]} run of {name} did not measure it; rerun it with "
                    f"--discriminate {method}."
                )
            if method != registry.GENERATE:  # its protocol section is checked only when its metrics are compared
                _check_section(name, before, after, method)
            changes.append(_change(name, metric, pairs, tolerance, level, resamples, seed))
            members.append(families.Member(f"{name}:{metric}", name, changes[-1].differences, -tolerance))
    return decide(changes, members, family, alpha, seed)


def decide(
    changes: list[Change], members: list[families.Member], family: str, alpha: float, seed: int = 0
) -> list[Change]:
    """The changes with their family decision: adjusted p-values over all of them, ``regressed`` where the
    adjusted p-value is at most ``alpha`` (family "none": each change's own bootstrap rule)."""
    from dataclasses import replace

    p_values = {member.key: change.p_value for member, change in zip(members, changes, strict=True)}
    adjusted = families.adjust(family, p_values, members, seed)
    decided = []
    for member, change in zip(members, changes, strict=True):
        regressed = change.regressed if family == "none" else adjusted[member.key] <= alpha
        decided.append(
            replace(
                change,
                p_adjusted=adjusted[member.key],
                regressed=regressed,
                family=family,
                alpha=alpha,
                family_size=len(changes),
            )
        )
    return decided


def _change(
    task: str,
    metric: str,
    pairs: list[tuple[_Question, _Question]],
    tolerance: float,
    level: float,
    resamples: int,
    seed: int,
) -> Change:
    before = [q.values[metric] for q, _ in pairs]
    after = [q.values[metric] for _, q in pairs]
    result = paired_difference(before, after, level=level, resamples=resamples, seed=seed)
    test = families.sign_flip_test([b - a for a, b in zip(before, after, strict=True)], tolerance, level, seed=seed)
    fixed = [q.id for (q, r) in pairs if r.values[metric] > q.values[metric] + _EPSILON]
    broke = [q.id for (q, r) in pairs if r.values[metric] < q.values[metric] - _EPSILON]
    return Change(
        task=task,
        metric=metric,
        old=math.fsum(before) / len(before),
        new=math.fsum(after) / len(after),
        difference=result.difference,
        interval=result.interval,
        upper_bound=result.upper_one_sided,
        regressed=result.upper_one_sided < -tolerance,
        n=len(pairs),
        flipped={"fixed": fixed, "broke": broke},
        level=level,
        tolerance=tolerance,
        p_value=test.p_value,
        p_adjusted=test.p_value,
        differences=tuple(b - a for a, b in zip(before, after, strict=True)),
    )


def _metrics(metrics: Sequence[str] | None) -> tuple[str, ...]:
    if metrics is None:
        return METRICS
    if isinstance(metrics, str):
        metrics = [metrics]
    if not metrics:
        raise SelfDiscError(f"No metric to compare; name at least one of {', '.join(METRICS)}.")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise SelfDiscError(f"Unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}.")
    return tuple(dict.fromkeys(metrics))


def results_tasks(document: Any, label: str) -> dict[str, dict]:
    """The document's tasks, after migrating it to the current version and validating it (one sentence
    naming the field when it is malformed)."""
    return parse_results(document, f"The {label} results document")["tasks"]


def check_comparable(name: str, old: dict, new: dict) -> None:
    """Refuse (``IncomparableResults``) unless two results of task ``name`` measured the same thing: the same
    options (but where the data lies) and protocol (anywhere but a seed), and the same questions: the same
    data digest, or else the same text and reference for every question id both hold, with at least one
    shared id. ``new`` may be a planned run: its ``questions`` need only ``id``, ``question`` and
    ``reference``."""
    _check_settings(name, old, new)
    old_digest, new_digest = (_digest(side) for side in (old, new))
    if old_digest is not None and old_digest == new_digest:
        return  # the very same questions, wherever each run read them from
    shared = 0
    new_questions = {str(q.get("id")): q for q in new.get("questions", []) if isinstance(q, dict)}
    for record in old.get("questions", []):
        if not isinstance(record, dict) or str(record.get("id")) not in new_questions:
            continue
        shared += 1
        other = new_questions[str(record.get("id"))]
        for part in ("question", "reference"):
            a, b = record.get(part), other.get(part)
            if a != b:
                raise IncomparableResults(
                    f"Cannot compare: {name}: question {record.get('id')}'s {part} differs ({_show(a)} vs "
                    f"{_show(b)}); compare runs on the same task data."
                )
    if not shared:
        raise IncomparableResults(
            f"Cannot compare: {name} has no question id in both runs; compare runs on the same task data."
        )


def _digest(task: dict) -> str | None:
    data = task.get("data")
    digest = data.get("digest") if isinstance(data, dict) else None
    return digest if isinstance(digest, str) else None


def _check_settings(name: str, old: dict, new: dict) -> None:
    """Refuse when the task options or protocol differ anywhere but a seed. The data's path or hub id is no
    option here (the questions are compared by content); the protocol of likelihood discrimination is checked
    only when its metrics are compared: asking for it does not change the rest."""
    for section, mine in (("options", "data"), ("protocol", "likelihood")):
        a, b = old.get(section, {}), new.get(section, {})
        if isinstance(a, dict) and isinstance(b, dict):  # where the data lies: compared by content instead
            a, b = ({k: v for k, v in side.items() if k != mine} for side in (a, b))
        _refuse_difference(name, a, b, section)


def _check_section(name: str, old: dict, new: dict, key: str) -> None:
    _refuse_difference(name, old.get("protocol", {}).get(key), new.get("protocol", {}).get(key), f"protocol.{key}")


def _refuse_difference(name: str, old: Any, new: Any, path: str) -> None:
    found = _first_difference(old, new, path)
    if found is not None:
        where, a, b = found
        raise IncomparableResults(
            f"Cannot compare: {name} {where} differs ({_show(a)} vs {_show(b)}); rerun both with the same settings."
        )


_ABSENT = object()


def _first_difference(old: Any, new: Any, path: str) -> tuple[str, Any, Any] | None:
    """The first dotted path (in sorted key order) where two JSON values differ, ignoring seed and sampler keys."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if key in _FREE_KEYS:
                continue
            found = _first_difference(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}")
            if found is not None:
                return found
        return None
    same_kind = type(old) is type(new) or _both_numbers(old, new)  # 1 == 1.0, but True != 1 and [] != {}
    return None if same_kind and old == new else (path, old, new)


def _both_numbers(a: Any, b: Any) -> bool:
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))


def _questions(task: dict, name: str, label: str) -> dict[str, _Question]:
    """Per-question metric values by id, from the candidates' scores and each method's pick (worst when
    invalid); a method the run did not ask for has no values."""
    questions: dict[str, _Question] = {}
    for position, record in enumerate(task["questions"]):
        if isinstance(record, dict) and any(
            isinstance(c, dict) and c.get("score", 0) is None for c in record.get("candidates") or []
        ):
            continue  # a candidate the judge left unscored: the question is out of the metrics, and so out of here
        try:
            qid = str(record["id"])
            values = _values(record)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise SelfDiscError(
                f"The {label} results' {name} question #{position + 1} is malformed ({type(error).__name__}: "
                f"{error}); pass an unedited results file."
            ) from None
        if qid in questions:
            raise SelfDiscError(
                f"The {label} results list {name} question {qid!r} twice; pass an unedited results file."
            )
        questions[qid] = _Question(qid, record.get("question"), record.get("reference"), values)
    return questions


def _values(record: dict) -> dict[str, float]:
    """s_gen, and s_disc and dg_diff per discrimination method, from the candidates and picks (the stored
    values when candidates were left out)."""
    candidates = record.get("candidates")
    if not candidates:
        values = {"s_gen": float(record["s_gen"])}
        if "s_disc" in record:
            values["s_disc"] = float(record["s_disc"])
    else:
        scores = [float(c["score"]) for c in candidates]
        values = {"s_gen": question_s_gen(scores)}
        for method, pick in (("", record.get("choice")), ("_likelihood", record.get("likelihood"))):
            if pick is None:
                continue
            index = pick["index"]
            if index is not None and not (isinstance(index, int) and 0 <= index < len(scores)):
                raise ValueError(f"choice index {index!r} is not a candidate position")
            values[f"s_disc{method}"] = question_s_disc(scores, index)
    for method in ("", "_likelihood"):
        if f"s_disc{method}" in values:
            values[f"dg_diff{method}"] = values[f"s_disc{method}"] - values["s_gen"]
    if not all(math.isfinite(value) for value in values.values()):
        raise ValueError("scores must be finite")
    return values


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
