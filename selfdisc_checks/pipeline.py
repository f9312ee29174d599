"""One task end to end: questions -> candidates (cached) -> discrimination (cached) -> metrics."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict

from selfdisc_checks.store.cache import Cache, cache_key
from selfdisc_checks.discrimination.prompt import build_discrimination_prompt
from selfdisc_checks.discrimination.parse import parse_label
from selfdisc_checks.backends.rendering import RENDERING
from selfdisc_checks.metrics import task_metrics
from selfdisc_checks.records import Candidate, Choice, Example, Prompt, QuestionResult, TaskResult
from selfdisc_checks.backends.seeds import SAMPLER_VERSION, candidate_seed
from selfdisc_checks.settings import Settings
from selfdisc_checks.backends.base import Backend
from selfdisc_checks.tasks.base import Task

Progress = Callable[[str, int, int], None]  # (phase description, questions done, questions total)


def _digest(prompt: Prompt) -> str:
    """Identifies the text the model reads: the checkpoint's tokenizer and chat template are in its fingerprint,
    so the prompt's parts (and RENDERING, the version of our renderers) fix the rendered text."""
    payload = json.dumps({"rendering": RENDERING, "prompt": asdict(prompt)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def evaluate_task(
    task: Task, backend: Backend, cache: Cache, settings: Settings, progress: Progress | None = None
) -> TaskResult:
    """Measure S_gen, S_disc, DG-DIFF and friends for ``task``, sampling only what the cache lacks."""
    examples = task.load(settings.limit)
    phase = _Phase(task, backend, cache, settings, progress or (lambda *_: None))

    # Generation phase: N candidates per question, each with its own seed.
    prompts = {ex.id: task.prompt(ex) for ex in examples}
    seeds = {ex.id: [candidate_seed(settings.seed, task.name, ex.id, i) for i in range(settings.samples)] for ex in examples}
    sampling = {
        "samples": settings.samples,
        "temperature": settings.temperature,
        "max_new_tokens": task.generation.max_new_tokens,
        "stop": list(task.generation.stop),
        "seed": settings.seed,
        "sampler": SAMPLER_VERSION,
    }
    texts, n_sampled = phase.run(
        "candidates", "sampling", prompts, sampling,
        lambda ids: backend.sample(
            [backend.render(prompts[i]) for i in ids], [seeds[i] for i in ids], settings.temperature, task.generation
        ),
    )
    candidates = {ex.id: _score_all(task, ex, texts[ex.id]) for ex in examples}

    # Discrimination phase: the same model picks among its own candidates, greedily.
    demos = task.discrimination_demos()
    disc_prompts = {
        ex.id: build_discrimination_prompt(
            ex.question, [task.option_text(ex, c.text) for c in candidates[ex.id]], demos, task.discrimination_instruction
        )
        for ex in examples
    }
    decoding = {"max_new_tokens": task.discrimination.max_new_tokens, "stop": list(task.discrimination.stop)}
    outputs, n_discriminated = phase.run(
        "choices", "discriminating", disc_prompts, decoding,
        lambda ids: backend.greedy([backend.render(disc_prompts[i]) for i in ids], task.discrimination),
    )

    questions = []
    for ex in examples:
        choice = Choice(raw=outputs[ex.id], index=parse_label(outputs[ex.id], len(candidates[ex.id])))
        questions.append(QuestionResult(ex.id, ex.question, ex.reference, tuple(candidates[ex.id]), choice))
    return TaskResult(task=task.name, metrics=task_metrics(questions), questions=questions,
                      sampled=n_sampled, discriminated=n_discriminated, options=task.describe())


def _score_all(task: Task, example: Example, texts: list[str]) -> list[Candidate]:
    scored = []
    for text in texts:
        answer, how = task.extract(text)
        scored.append(Candidate(text=text, answer=answer, score=task.score(example, text), extraction=how))
    return scored


class _Phase:
    """One cached phase: key each question's prompt, compute what the cache lacks in batches, report progress."""

    def __init__(self, task: Task, backend: Backend, cache: Cache, settings: Settings, report: Progress) -> None:
        self.task, self.backend, self.cache, self.settings, self.report = task, backend, cache, settings, report

    def run(
        self, kind: str, label: str, prompts: dict[str, Prompt], decoding: dict, compute: Callable[[list[str]], list]
    ) -> tuple[dict[str, object], int]:
        """Values by question id, and how many questions this process computed."""
        keys = {
            qid: cache_key(kind=kind, model=self.backend.fingerprint, task=self.task.name, question=qid,
                           prompt=_digest(prompt), decoding=decoding)
            for qid, prompt in prompts.items()
        }
        ids_by_key = {key: qid for qid, key in keys.items()}
        description, total = f"{self.task.name}: {label}", len(prompts)
        values = self.cache.get_many(kind, keys.values())  # read once; resolve() sees only what is missing
        done = len(values)
        self.report(description, done, total)

        def compute_batch(batch: list[str]) -> dict[str, object]:
            nonlocal done
            values = compute([ids_by_key[key] for key in batch])
            done += len(batch)
            self.report(description, done, total)
            return dict(zip(batch, values, strict=True))

        missing = [key for key in keys.values() if key not in values]
        filled, computed = self.cache.resolve(kind, missing, compute_batch, self.settings.batch_size)
        values.update(filled)
        return {qid: values[key] for qid, key in keys.items()}, computed
