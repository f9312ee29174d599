"""One task end to end: questions -> candidates (cached) -> discrimination (cached) -> metrics."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol

from ._cache import Cache, cache_key
from ._discrimination import build_discrimination_prompt
from ._labels import parse_label
from ._metrics import task_metrics
from ._records import Candidate, Choice, Example, Prompt, QuestionResult, TaskResult
from ._seeds import SAMPLER_VERSION, candidate_seed
from ._settings import Settings
from ._task import DecodeSpec, Task

Progress = Callable[[str, int, int], None]  # (phase description, questions done, questions total)


class Backend(Protocol):
    """What the pipeline needs from a model (see ``HFBackend``)."""

    fingerprint: str

    def render(self, prompt: Prompt) -> str: ...

    def sample(self, prompts: list[str], seeds: list[list[int]], temperature: float, spec: DecodeSpec) -> list[list[str]]: ...

    def greedy(self, prompts: list[str], spec: DecodeSpec) -> list[str]: ...


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def evaluate_task(
    task: Task, backend: Backend, cache: Cache, settings: Settings, progress: Progress | None = None
) -> TaskResult:
    """Measure S_gen, S_disc, DG-DIFF and friends for ``task``, sampling only what the cache lacks."""
    examples = task.load(settings.limit)
    report = progress or (lambda *_: None)

    # Generation phase: N candidates per question.
    prompts = {ex.id: backend.render(task.prompt(ex)) for ex in examples}
    seeds = {ex.id: [candidate_seed(settings.seed, task.name, ex.id, i) for i in range(settings.samples)] for ex in examples}
    sampling = {
        "samples": settings.samples,
        "temperature": settings.temperature,
        "max_new_tokens": task.generation.max_new_tokens,
        "stop": list(task.generation.stop),
        "seed": settings.seed,
        "sampler": SAMPLER_VERSION,
    }
    gen_keys = {
        ex.id: cache_key(
            kind="candidates", model=backend.fingerprint, task=task.name, question=ex.id,
            prompt=_digest(prompts[ex.id]), sampling=sampling,
        )
        for ex in examples
    }
    by_key = {key: qid for qid, key in gen_keys.items()}

    def sample(keys: list[str]) -> dict[str, list[str]]:
        ids = [by_key[k] for k in keys]
        texts = backend.sample([prompts[i] for i in ids], [seeds[i] for i in ids], settings.temperature, task.generation)
        return dict(zip(keys, texts))

    report(f"{task.name}: sampling", 0, len(examples))
    sampled, n_sampled = _resolve(cache, "candidates", list(gen_keys.values()), sample, settings.batch_size,
                                  lambda done: report(f"{task.name}: sampling", done, len(examples)))
    candidates = {ex.id: _score_all(task, ex, sampled[gen_keys[ex.id]]) for ex in examples}

    # Discrimination phase: the same model picks among its own candidates, greedily.
    demos = task.discrimination_demos()
    disc_prompts = {
        ex.id: backend.render(
            build_discrimination_prompt(
                ex.question, [task.option_text(ex, c.text) for c in candidates[ex.id]], demos,
                task.discrimination_instruction,
            )
        )
        for ex in examples
    }
    decode = {"max_new_tokens": task.discrimination.max_new_tokens, "stop": list(task.discrimination.stop)}
    disc_keys = {
        ex.id: cache_key(
            kind="choices", model=backend.fingerprint, task=task.name, question=ex.id,
            prompt=_digest(disc_prompts[ex.id]), decoding=decode,
        )
        for ex in examples
    }
    disc_by_key = {key: qid for qid, key in disc_keys.items()}

    def discriminate(keys: list[str]) -> dict[str, str]:
        outputs = backend.greedy([disc_prompts[disc_by_key[k]] for k in keys], task.discrimination)
        return dict(zip(keys, outputs))

    report(f"{task.name}: discriminating", 0, len(examples))
    raw, n_discriminated = _resolve(cache, "choices", list(disc_keys.values()), discriminate, settings.batch_size,
                                    lambda done: report(f"{task.name}: discriminating", done, len(examples)))

    questions = []
    for ex in examples:
        output = raw[disc_keys[ex.id]]
        choice = Choice(raw=output, index=parse_label(output, len(candidates[ex.id])))
        questions.append(QuestionResult(ex.id, ex.question, ex.reference, tuple(candidates[ex.id]), choice))
    return TaskResult(task=task.name, metrics=task_metrics(questions), questions=questions,
                      sampled=n_sampled, discriminated=n_discriminated)


def _score_all(task: Task, example: Example, texts: list[str]) -> list[Candidate]:
    scored = []
    for text in texts:
        answer, how = task.extract(text)
        scored.append(Candidate(text=text, answer=answer, score=task.score(example, text), extraction=how))
    return scored


def _resolve(cache: Cache, kind: str, keys: list[str], compute, batch_size: int, on_done: Callable[[int], None]):
    done = len(cache.get_many(kind, keys))
    on_done(done)

    def compute_and_report(batch: list[str]):
        nonlocal done
        values = compute(batch)
        done += len(batch)
        on_done(done)
        return values

    return cache.resolve(kind, keys, compute_and_report, batch_size)
