"""One task end to end: questions -> candidates (cached per index) -> discrimination (cached) -> metrics.

Cache entries are keyed by everything that determines them: the checkpoint fingerprint, the task, the
question, the prompt (its parts and our renderer version; the tokenizer and chat template are in the
fingerprint), the decoding limits and stop sequences, the sampling settings and sampler version, the run
seed and, for candidates, the candidate's index. Candidate ``i`` is its own entry, so asking for more
samples later samples only the new indices.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.backends.base import Backend
from selfdisc_checks.backends.rendering import RENDERING
from selfdisc_checks.backends.seeds import candidate_seed, orderings, sampler_family
from selfdisc_checks.document.identity import data_identity
from selfdisc_checks.errors import SelfDiscWarning
from selfdisc_checks.metrics import task_metrics
from selfdisc_checks.records import (
    Candidate,
    Choice,
    Completion,
    Example,
    PermutedChoice,
    Prompt,
    QuestionResult,
    Sampling,
    TaskResult,
)
from selfdisc_checks.settings import Settings
from selfdisc_checks.store.cache import Cache, cache_key
from selfdisc_checks.tasks.base import Task

# Batches handed to the backend per call, so that waiting questions can join its decoding batch as rows
# finish (a crash loses at most this many batches).
REFILL = 4

# What a likelihood score means; part of its cache key (bump when HFBackend.option_logprobs changes).
LIKELIHOOD_SCORER = "first-differing-label-token-logprob-1"

Progress = Callable[[str, int, int], None]  # (phase description, units done, units total)


def prompt_digest(prompt: Prompt) -> str:
    """Identifies the text the model reads: the checkpoint's tokenizer and chat template are in its
    fingerprint, so the prompt's parts (and RENDERING, the version of our renderers) fix the rendered text."""
    payload = json.dumps({"rendering": RENDERING, "prompt": asdict(prompt)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def evaluate_task(
    task: Task,
    backend: Backend,
    cache: Cache,
    settings: Settings,
    progress: Progress | None = None,
    judge: Backend | None = None,
) -> TaskResult:
    """Measure S_gen, S_disc, DG-DIFF and friends for ``task``, sampling only what the cache lacks; a judged
    task's candidates are graded by ``judge`` when one is given."""
    evaluation = TaskEvaluation(task, backend, cache, settings, progress, judge)
    return evaluation.result(evaluation.run(evaluation.examples))


class TaskEvaluation:
    """One task on one model, a set of questions at a time: ``run`` takes both phases (and judging) through
    the cache for the questions it is given, ``result`` measures the questions run. ``evaluate_task`` runs
    every question at once; ``stopping`` runs them a chunk at a time until the gate's verdicts are settled."""

    def __init__(
        self,
        task: Task,
        backend: Backend,
        cache: Cache,
        settings: Settings,
        progress: Progress | None = None,
        judge: Backend | None = None,
    ) -> None:
        self.task, self.backend, self.settings, self.judge = task, backend, settings, judge
        self.progress = progress or (lambda *_: None)
        self._run = _Run(task, backend, cache, settings, self.progress)
        self.examples = task.load(settings.limit)
        if settings.limit is not None and len(self.examples) < settings.limit:
            warnings.warn(
                SelfDiscWarning(
                    f"{task.name}: --limit {settings.limit} asks for more questions than its data holds "
                    f"({len(self.examples)}); all {len(self.examples)} are run."
                ),
                stacklevel=3,
            )
        self.clock = _Clock(backend)
        self.sampled_questions = self.sampled = self.discriminated = 0

    def cached(self) -> set[str]:
        """The ids of questions whose candidates are all in the cache already (they cost nothing to run)."""
        prompts = {ex.id: self.task.prompt(ex) for ex in self.examples}
        units = self._run.candidate_units(prompts)
        found = self._run.cache.get_many("candidate", units.keys())
        missing = {units[key][0] for key in units if key not in found}
        return {ex.id for ex in self.examples if ex.id not in missing}

    def run(self, examples: list[Example], shown: tuple[int, int] | None = None) -> list[QuestionResult]:
        """Both phases for ``examples``: what the cache lacks is computed, the rest read. ``shown`` =
        (questions run before, questions in all) makes the progress count the whole task, not this set."""
        report = self.progress if shown is None else _share_of(self.progress, len(examples), *shown)
        self._run.report = report
        backends = [self.backend] + ([self.judge] if self.judge is not None and self.judge is not self.backend else [])
        for backend in backends:
            backend.listener = self.progress  # loading and decoded tokens show in the progress too
        try:
            return self._questions(examples)
        finally:
            for backend in backends:
                backend.listener = None

    def _questions(self, examples: list[Example]) -> list[QuestionResult]:
        task, settings, run, clock, judge = self.task, self.settings, self._run, self.clock, self.judge
        # Generation phase: N candidates per question, candidate i with seed s_q + i.
        gen_prompts = {ex.id: task.prompt(ex) for ex in examples}
        completions, sampled_questions, sampled = run.candidates(gen_prompts)
        self.sampled_questions += sampled_questions
        self.sampled += sampled
        clock.lap("generation")
        if task.judged and judge is not None:
            judge_prompts = {
                (ex.id, i): task.judge_prompt(ex, c.text) for ex in examples for i, c in enumerate(completions[ex.id])
            }
            verdicts = run.judgements(judge_prompts, judge)
            clock.lap("judging")
            candidates = {
                ex.id: [_judged(task, ex, c, verdicts[(ex.id, i)]) for i, c in enumerate(completions[ex.id])]
                for ex in examples
            }
        else:
            candidates = {ex.id: _score_all(task, ex, completions[ex.id]) for ex in examples}

        # Discrimination phase: the same model picks among its own candidates, greedily.
        # With --permutations K, the same question is also asked under K - 1 other orderings of its candidates.
        orders = {
            ex.id: orderings(settings.seed, task.name, ex.id, settings.samples, settings.permutations)
            for ex in examples
        }
        disc_prompts = {
            (ex.id, k): task.discrimination_prompt_for(ex, [candidates[ex.id][i].text for i in order])
            for ex in examples
            for k, order in enumerate(orders[ex.id])
        }
        methods = settings.discriminate
        outputs, discriminated = run.choices(disc_prompts) if "generate" in methods else ({}, 0)
        if "likelihood" in methods:
            lead, labels = task.label_continuations(settings.samples)
            label_scores, scored = run.likelihoods(disc_prompts, lead, labels)
            discriminated += scored
        self.discriminated += discriminated
        clock.lap("discrimination")
        rendered = run.rendered(
            {
                **{("g", qid): p for qid, p in gen_prompts.items()},
                **{("d", qid): p for (qid, k), p in disc_prompts.items() if k == 0},
            }
        )

        questions = []
        for ex in examples:
            picks = (
                [
                    PermutedChoice(order, _choice(task, outputs[(ex.id, k)], order, candidates[ex.id]))
                    for k, order in enumerate(orders[ex.id])
                ]
                if "generate" in methods
                else []
            )
            likely = (
                tuple(
                    PermutedChoice(order, _likeliest(label_scores[(ex.id, k)], order))
                    for k, order in enumerate(orders[ex.id])
                )
                if "likelihood" in methods
                else ()
            )
            prompts = {"generation": rendered[("g", ex.id)], "discrimination": rendered[("d", ex.id)]}
            questions.append(
                QuestionResult(
                    ex.id,
                    ex.question,
                    ex.reference,
                    tuple(candidates[ex.id]),
                    picks[0].choice if picks else None,
                    prompts,
                    tuple(picks[1:]),
                    likely,
                )
            )
        return questions

    def result(self, questions: list[QuestionResult], sequential: dict[str, Any] | None = None) -> TaskResult:
        """The task's metrics over ``questions`` (those run), with what this run computed; the data identity
        is every loaded question's, so a run that stopped early still pairs with its baseline."""
        task, settings, judge, backend = self.task, self.settings, self.judge, self.backend
        methods = settings.discriminate
        metrics = task_metrics(questions, settings.level, settings.seed, methods, task.majority_by)
        if task.scale and metrics.get("n"):
            metrics.update(on_scale(metrics, task.scale))
        protocol = task_protocol(task, settings)
        if task.judged and judge is not None:
            protocol["judge"] = {
                "fingerprint": judge.fingerprint,
                "same_as_model": judge.fingerprint == backend.fingerprint,
                **task.judge_protocol(),
            }
        options = task.describe()
        return TaskResult(
            task=task.name,
            metrics=metrics,
            questions=questions,
            sampled=self.sampled_questions,
            discriminated=self.discriminated,
            options=options,
            protocol=protocol,
            candidates_sampled=self.sampled,
            timing=self.clock.record(self.sampled),
            data=data_identity(((ex.id, ex.question, ex.reference) for ex in self.examples), options.get("data")),
            sequential=sequential,
        )


def _share_of(report: Progress, size: int, before: int, total: int) -> Progress:
    """A progress callback for one chunk of ``size`` questions that counts the whole task: the units of the
    ``before`` questions run already are added, and the total is every question's."""

    def shown(phase: str, done: int, units: int) -> None:
        per_question = units / size if size else 0
        report(phase, round(per_question * before) + done, max(round(per_question * total), units))

    return shown


def on_scale(metrics: dict[str, Any], scale: dict[str, Any]) -> dict[str, Any]:
    """A graded task's levels on its own scale (a 1-10 rating: low + value * (high - low)), DG-DIFF as a
    difference on that scale; the metrics themselves stay normalised to [0, 1]."""
    low, span = scale["low"], scale["high"] - scale["low"]
    levels, differences = registry.select(units=("level",)), registry.select(units=("difference",))
    shown = {m.name: low + metrics[m.name] * span for m in levels if m.name in metrics}
    shown.update({m.name: metrics[m.name] * span for m in differences if m.name in metrics})
    return {"scale": dict(scale), "on_scale": shown}


def task_protocol(task: Task, settings: Settings) -> dict[str, Any]:
    """What a run of ``task`` under ``settings`` measures (prompts, limits, sampling), known before any
    sampling, so a baseline measured differently can be refused up front."""
    protocol = task.protocol()  # with the discrimination ablation options that are off their defaults
    protocol["generation"].update(sampling_record(settings))
    protocol["discrimination"]["orderings"] = settings.permutations
    if "likelihood" in settings.discriminate:
        lead, labels = task.label_continuations(settings.samples)
        protocol["likelihood"] = {"lead": lead, "labels": labels, "scorer": LIKELIHOOD_SCORER}
    return protocol


def sampling_record(settings: Settings) -> dict[str, Any]:
    sampling = Sampling(settings.temperature, settings.top_p, settings.top_k)
    return {
        "samples": settings.samples,
        **sampling.describe(),
        "seed": settings.seed,
        "sampler": sampler_family(settings.backend),
    }


def _choice(task: Task, output: Completion, order: tuple[int, ...], candidates: list[Candidate]) -> Choice:
    """The choice read from ``output`` (a label, or in verbatim mode the candidates' extracted answers in
    shown order), its index mapped from a shown position back to the candidate."""
    parsed = task.read_discrimination(output.text, [candidates[i].answer for i in order], output.truncated)
    index = None if parsed.index is None else order[parsed.index]
    return Choice(raw=output.text, index=index, reason=parsed.reason, value=parsed.value, truncated=output.truncated)


def _first_unit_per_key(keys: dict[Any, str]) -> dict[str, Any]:
    """key -> the first unit with that key: units that share a key (identical prompts) are computed once."""
    units: dict[str, Any] = {}
    for unit, key in keys.items():
        units.setdefault(key, unit)
    return units


def _likeliest(logprobs: list[float], order: tuple[int, ...]) -> Choice:
    """The likelihood pick: the shown option whose label scored highest (the first of equals), mapped back
    to the candidate."""
    best = max(range(len(logprobs)), key=lambda position: logprobs[position])
    return Choice(raw="", index=order[best], logprobs=tuple(logprobs))


def _judged(task: Task, example: Example, completion: Completion, verdict: Completion) -> Candidate:
    """A candidate scored by the judge's output (score None when the output holds no verdict)."""
    answer, how = task.extract(completion.text)
    return Candidate(
        text=completion.text,
        answer=answer,
        score=task.read_judgement(example, completion.text, verdict.text),
        extraction=how,
        truncated=completion.truncated,
        judgement=verdict.text,
    )


def _score_all(task: Task, example: Example, completions: list[Completion]) -> list[Candidate]:
    scored = []
    for completion in completions:
        answer, how = task.extract(completion.text)
        scored.append(
            Candidate(
                text=completion.text,
                answer=answer,
                score=task.score(example, completion.text),
                extraction=how,
                truncated=completion.truncated,
            )
        )
    return scored


def _size(prompt: Prompt) -> int:
    """A prompt's length in characters (its parts, before rendering): the order batches are formed in."""
    return len(json.dumps(asdict(prompt)))


class _Clock:
    """Seconds per phase and the backend's token counts (what this process computed; the cache costs ~0)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.start = self.last = time.perf_counter()
        self.counters = dict(getattr(backend, "counters", {}))
        self.seconds: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self.last
        self.last = now

    def record(self, candidates: int) -> dict[str, Any]:
        now = getattr(self.backend, "counters", {})
        spent = {name: now.get(name, 0) - self.counters.get(name, 0) for name in ("prompt_tokens", "generated_tokens")}
        return {
            "generation_s": round(self.seconds.get("generation", 0.0), 3),
            "discrimination_s": round(self.seconds.get("discrimination", 0.0), 3),
            **({"judging_s": round(self.seconds["judging"], 3)} if "judging" in self.seconds else {}),
            "candidates": candidates,
            **spent,
        }


class _Run:
    """The cached phases of one task: key every unit, compute what the cache lacks in batches, report."""

    def __init__(self, task: Task, backend: Backend, cache: Cache, settings: Settings, report: Progress) -> None:
        self.task, self.backend, self.cache, self.settings, self.report = task, backend, cache, settings, report
        self.sampling = Sampling(settings.temperature, settings.top_p, settings.top_k)

    def candidate_units(self, prompts: dict[str, Prompt]) -> dict[str, tuple[str, int]]:
        """Cache key -> (question, candidate index) of every candidate of ``prompts``."""
        spec, n = self.task.generation, self.settings.samples
        common = {
            "kind": "candidate",
            "model": self.backend.fingerprint,
            "task": self.task.name,
            "decoding": {"max_new_tokens": spec.max_new_tokens, "stop": list(spec.stop)},
            "sampling": {**self.sampling.describe(), "sampler": self.backend.sampler},
            "seed": self.settings.seed,
        }
        digests = {qid: prompt_digest(prompt) for qid, prompt in prompts.items()}  # once per question
        return {
            cache_key(**common, question=qid, prompt=digests[qid], index=i): (qid, i)
            for qid in prompts
            for i in range(n)
        }

    def candidates(self, prompts: dict[str, Prompt]) -> tuple[dict[str, list[Completion]], int, int]:
        """Each question's N completions; also how many questions and candidates were sampled here."""
        spec = self.task.generation
        units = self.candidate_units(prompts)
        sizes = {qid: _size(prompt) for qid, prompt in prompts.items()}

        def compute(batch: list[tuple[str, int]], store: Callable[[dict[Any, Any]], None]) -> list[Completion]:
            by_question: dict[str, list[int]] = {}
            for qid, i in batch:
                by_question.setdefault(qid, []).append(i)
            seeds = [
                [candidate_seed(self.settings.seed, self.task.name, qid, i) for i in indices]
                for qid, indices in by_question.items()
            ]
            texts = self._render_and_keep([prompts[qid] for qid in by_question])
            order = list(by_question.items())

            def done(k: int, completions: list[Completion]) -> None:  # a question's set goes to the cache at once
                qid, indices = order[k]
                store({(qid, i): c for i, c in zip(indices, completions, strict=True)})

            grouped = self.backend.sample(texts, seeds, self.sampling, spec, done=done)
            found = {
                (qid, i): c
                for (qid, indices), row in zip(by_question.items(), grouped, strict=True)
                for i, c in zip(indices, row, strict=True)
            }
            return [found[unit] for unit in batch]

        values, computed = self._phase(
            "candidate",
            f"{self.task.name}: sampling",
            units,
            compute,
            REFILL * self.settings.batch_size * self.settings.samples,
            size=lambda unit: sizes[unit[0]],
            streamed=True,
        )
        grouped: dict[str, list[Completion]] = {qid: [] for qid in prompts}
        for (qid, _), value in zip(units.values(), values, strict=True):
            grouped[qid].append(value)
        sampled_questions = len({units[key][0] for key in computed})
        return grouped, sampled_questions, len(computed)

    def choices(self, prompts: dict[tuple[str, int], Prompt]) -> tuple[dict[tuple[str, int], Completion], int]:
        """The greedy discrimination output of each (question, ordering); also how many were computed here."""
        spec = self.task.discrimination
        common = {
            "kind": "choice",
            "model": self.backend.fingerprint,
            "task": self.task.name,
            "decoding": {"max_new_tokens": spec.max_new_tokens, "stop": list(spec.stop), "greedy": True},
        }
        # The candidates' order is part of the prompt, so each ordering has its own key; orderings that show
        # the same texts (candidates can repeat) share one.
        keys = {
            unit: cache_key(**common, question=unit[0], prompt=prompt_digest(prompt))
            for unit, prompt in prompts.items()
        }
        units = _first_unit_per_key(keys)

        def compute(batch: list[tuple[str, int]]) -> list[Completion]:
            return self.backend.greedy(self._render_and_keep([prompts[unit] for unit in batch]), spec)

        values, computed = self._phase(
            "choice",
            f"{self.task.name}: discriminating",
            units,
            compute,
            REFILL * self.settings.batch_size,
            size=lambda unit: _size(prompts[unit]),
        )
        by_key = dict(zip(units, values, strict=True))
        return {unit: by_key[key] for unit, key in keys.items()}, len(computed)

    def likelihoods(
        self, prompts: dict[tuple[str, int], Prompt], lead: str, labels: list[str]
    ) -> tuple[dict[tuple[str, int], list[float]], int]:
        """Each (question, ordering)'s label log-probabilities after the prompt and ``lead``; also how many
        were computed here."""
        common = {
            "kind": "likelihood",
            "model": self.backend.fingerprint,
            "task": self.task.name,
            "lead": lead,
            "labels": labels,
            "scorer": LIKELIHOOD_SCORER,
        }
        keys = {
            unit: cache_key(**common, question=unit[0], prompt=prompt_digest(prompt))
            for unit, prompt in prompts.items()
        }
        units = _first_unit_per_key(keys)

        def compute(batch: list[tuple[str, int]]) -> list[dict[str, list[float]]]:
            texts = self._render_and_keep([prompts[unit] for unit in batch])
            scores = self.backend.option_logprobs([text + lead for text in texts], [labels] * len(batch))
            return [{"logprobs": row} for row in scores]

        values, computed = self._phase(
            "likelihood",
            f"{self.task.name}: label likelihoods",
            units,
            compute,
            self.settings.batch_size,
            encode=dict,
            decode=lambda v: v["logprobs"],
        )
        by_key = dict(zip(units, values, strict=True))
        return {unit: by_key[key] for unit, key in keys.items()}, len(computed)

    def judgements(self, prompts: dict[tuple[str, int], Prompt], judge: Backend) -> dict[tuple[str, int], Completion]:
        """The judge's greedy output for each (question, candidate) grading prompt, cached under the judge's
        fingerprint (the candidate's text is in the prompt)."""
        spec, lead = self.task.judge_decoding, self.task.judge_lead
        common = {
            "kind": "judgement",
            "judge": judge.fingerprint,
            "task": self.task.name,
            "lead": lead,
            "decoding": {"max_new_tokens": spec.max_new_tokens, "stop": list(spec.stop), "greedy": True},
        }
        keys = {
            unit: cache_key(**common, question=unit[0], prompt=prompt_digest(prompt))
            for unit, prompt in prompts.items()
        }
        units = _first_unit_per_key(keys)

        def compute(batch: list[tuple[str, int]]) -> list[Completion]:
            # A verdict-first judge reads the start of its answer (the lead) and continues from there.
            texts = self._render_and_keep([prompts[unit] for unit in batch], judge)
            return judge.greedy([text + lead for text in texts], spec)

        values, _ = self._phase("judgement", f"{self.task.name}: judging", units, compute, self.settings.batch_size)
        by_key = dict(zip(units, values, strict=True))
        return {unit: by_key[key] for unit, key in keys.items()}

    def rendered(self, prompts: dict[Any, Prompt]) -> dict[Any, str]:
        """The exact text of each prompt as the model read it (kept in the cache when it was rendered)."""
        keys = {name: self._rendered_key(prompt) for name, prompt in prompts.items()}
        stored = self.cache.get_many("rendered", set(keys.values()))
        missing = [name for name, key in keys.items() if key not in stored]
        if missing:  # e.g. a cache written before prompts were kept: render again (loads only the tokenizer)
            texts = self._render_and_keep([prompts[name] for name in missing])
            stored.update({keys[name]: text for name, text in zip(missing, texts, strict=True)})
        return {name: stored[key] for name, key in keys.items()}

    def _rendered_key(self, prompt: Prompt, backend: Backend | None = None) -> str:
        return cache_key(kind="rendered", model=(backend or self.backend).fingerprint, prompt=prompt_digest(prompt))

    def _render_and_keep(self, prompts: list[Prompt], backend: Backend | None = None) -> list[str]:
        """Render with ``backend`` (default: the model under test) and keep the texts in the cache."""
        backend = backend or self.backend
        texts = [backend.render(prompt) for prompt in prompts]
        self.cache.put_many(
            "rendered", {self._rendered_key(p, backend): t for p, t in zip(prompts, texts, strict=True)}
        )
        return texts

    def _phase(
        self,
        kind: str,
        description: str,
        units: dict[str, Any],
        compute: Callable[..., list[Any]],  # (units) or, when streamed, (units, store)
        batch: int,
        encode: Callable[[Any], dict] = asdict,
        decode: Callable[[dict], Any] = lambda v: Completion(**v),
        size: Callable[[Any], int] | None = None,
        streamed: bool = False,
    ) -> tuple[list[Any], list[str]]:
        """Values in the order of ``units`` (key -> unit), and the keys computed by this process; ``encode``
        and ``decode`` turn a computed value into its cached JSON and back. With ``size``, what must be
        computed goes longest prompt first, so a batch holds prompts of similar length (little padding) and
        the largest batch comes first. A ``streamed`` compute also gets a ``store(unit -> value)`` to call as
        values finish, so what finished is in the cache even if the rest of its batch never does."""
        total = len(units)
        values = self.cache.get_many(kind, units.keys())  # read once; resolve() sees only what is missing
        done = len(values)
        self.report(description, done, total)

        def compute_batch(
            keys: list[str], store_keys: Callable[[dict[str, Any]], None] | None = None
        ) -> dict[str, Any]:
            nonlocal done
            if store_keys is not None:
                key_of = {units[key]: key for key in keys}

                def store(finished: dict[Any, Any]) -> None:
                    store_keys({key_of[unit]: encode(value) for unit, value in finished.items()})

                outputs = compute([units[key] for key in keys], store)
            else:
                outputs = compute([units[key] for key in keys])
            done += len(keys)
            self.report(description, done, total)
            return {key: encode(output) for key, output in zip(keys, outputs, strict=True)}

        missing = [key for key in units if key not in values]
        if size is not None:
            missing.sort(key=lambda key: -size(units[key]))  # stable: a question's candidates stay together
        filled, computed = self.cache.resolve(kind, missing, compute_batch, batch, streams=streamed)
        values.update(filled)
        if done < total:  # the rest came from another worker through the cache
            self.report(description, total, total)
        return [decode(values[key]) for key in units], computed
