"""One evaluation run: settings, the lazily loaded model, the cache, and memoised task results.

The model is loaded only when something must be sampled: a run the cache fully covers reads the
tokenizer (to render prompts) and never the weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfdisc_checks.backends import registry
from selfdisc_checks.backends.checkpoint import Checkpoint
from selfdisc_checks.backends.registry import BackendOptions
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.pipeline import Progress, TaskEvaluation
from selfdisc_checks.records import TaskResult
from selfdisc_checks.report.results import task_result_json
from selfdisc_checks.settings import Settings
from selfdisc_checks.store import file_hashes
from selfdisc_checks.store.cache import Cache
from selfdisc_checks.tasks import Task, get_task

if TYPE_CHECKING:
    from selfdisc_checks.backends.base import Backend
    from selfdisc_checks.stopping import Stopping

# Backends that serve a checkpoint from other processes; a judge other than the model under test runs on
# transformers under them unless --judge-backend says otherwise (as documented before --judge-backend existed).
_REMOTE_BACKENDS = ("ray", "vllm")


def fingerprint_memo(settings: Settings) -> Path:
    """Where file digests are remembered, so a rerun does not re-read many-GB weights."""
    return Path(settings.cache_dir) / file_hashes.FILENAME


def _bytes(gib: float | None) -> float | None:
    return None if gib is None else gib * 2**30


@dataclass(frozen=True)
class ModelSpec:
    """One model a run involves, whatever its role: which checkpoint (or script), on which backend, and the
    option that named it (for messages such as "the judge model P (--judge-model)")."""

    role: str  # "model" (under test), "judge" or "baseline"
    model: str
    backend: str
    option: str

    def described_as(self, model_id: str) -> str:
        return model_id if self.role == "model" else f"the {self.role} model {model_id} ({self.option})"


def model_specs(settings: Settings) -> dict[str, ModelSpec]:
    """The models ``settings`` name, by role: the model under test, the judge and the baseline model."""
    specs = {}
    if settings.model:
        specs["model"] = ModelSpec("model", settings.model, settings.backend, "--model")
    if settings.judge_model:
        default = "hf" if settings.backend in _REMOTE_BACKENDS else settings.backend
        specs["judge"] = ModelSpec("judge", settings.judge_model, settings.judge_backend or default, "--judge-model")
    if settings.baseline_model:
        specs["baseline"] = ModelSpec("baseline", settings.baseline_model, settings.backend, "--baseline-model")
    return specs


def backend_options(
    settings: Settings, spec: ModelSpec, worker: str | None = None, workers: int = 1, model_id: str | None = None
) -> BackendOptions:
    """What the backend of ``spec`` is created with. The models that sample candidates (under test, baseline)
    decode --batch-size questions' rows at once; a judge's calls start all their rows together."""
    s = settings
    samples = spec.role in ("model", "baseline")
    return BackendOptions(
        device=s.device,
        dtype=s.dtype,
        trust_remote_code=s.trust_remote_code,
        memory_budget=_bytes(s.memory_budget),
        worker=worker,
        workers=workers,
        rows_in_flight=s.batch_size * s.samples if samples else None,
        prompts_in_flight=s.batch_size if samples else None,
        ray_address=s.ray_address,
        ray_actors=s.ray_actors,
        vllm_options=dict(s.vllm_options),
        allow_pickle=s.allow_pickle_weights,
        memo=fingerprint_memo(s),
        option=spec.option,
        described_as=spec.described_as(model_id) if model_id is not None and spec.role != "model" else None,
    )


def locate_model(settings: Settings, spec: ModelSpec) -> Checkpoint:
    """The record naming ``spec``'s model (a located checkpoint; a script's digest for --backend scripted)."""
    return registry.locate(spec.backend, spec.model, backend_options(settings, spec))


def build_task(settings: Settings, name: str) -> Task:
    """The task ``name`` with its options from configuration and ``--data``."""
    options = dict(settings.task_options.get(name, {}))
    if name in settings.data:
        options["data"] = settings.data[name]
    return get_task(name, task_modules=settings.task_modules, task_definitions=settings.task_definitions, **options)


class EvaluationSession:
    """Evaluates tasks on demand and remembers results (and failures) for the rest of the session."""

    def __init__(
        self,
        settings: Settings,
        refresh_before: float | None = None,
        checkpoint: Checkpoint | None = None,
        worker: str | None = None,
        workers: int = 1,
        role: str = "model",
    ) -> None:
        """``role="baseline"``: this session evaluates ``settings``' --baseline-model as its model (named so in
        messages), with the same settings."""
        self.settings = settings
        self.worker = worker  # the xdist worker id: with several GPUs, each worker takes its own
        self.workers = workers  # how many xdist workers share this machine
        self.started = time.time()
        self.refresh_before = refresh_before
        self.specs = model_specs(settings)
        if role != "model":
            if role not in self.specs:
                raise SelfDiscError(f"No {role} model is set; pass --{role}-model PATH_OR_ID.")
            # The session's model is the baseline (named by its own option); the judge stays the judge.
            self.specs = {**self.specs, "model": self.specs[role]}
            self.specs.pop(role)
        self._checkpoints: dict[str, Checkpoint] = {"model": checkpoint} if checkpoint is not None else {}
        self._backends: dict[str, Backend] = {}
        self._cache: Cache | None = None
        self.results: dict[str, TaskResult] = {}
        self._failures: dict[str, SelfDiscError] = {}
        # --stop-when-decided: how each task is run a chunk at a time (``stopping.Stopping``), set by the caller
        self.stopping: Stopping | None = None

    def located(self, role: str) -> Checkpoint:
        """The checkpoint (or script) of ``role``'s model, located once."""
        if role not in self._checkpoints:
            self._checkpoints[role] = locate_model(self.settings, self.specs[role])
        return self._checkpoints[role]

    @property
    def checkpoint(self) -> Checkpoint:
        if "model" not in self.specs and "model" not in self._checkpoints:
            raise SelfDiscError(
                "No model to check; pass --model PATH_OR_ID or set model in [tool.selfdisc] of pyproject.toml."
            )
        return self.located("model")

    def backend_of(self, role: str) -> Backend:
        """The backend of ``role``'s model, created on first use through the registry (torch and transformers
        load only then); a role whose model and backend are the model under test's shares its backend."""
        if role not in self._backends:
            spec = self.specs[role]
            checkpoint = self.checkpoint if role == "model" else self.located(role)
            model = self.specs.get("model")
            # A judge without --judge-backend that is the model under test is served by the model's backend.
            same_backend = model is not None and (
                spec.backend == model.backend or (role == "judge" and self.settings.judge_backend is None)
            )
            if role != "model" and same_backend and checkpoint.fingerprint == self.checkpoint.fingerprint:
                self._backends[role] = self.backend  # one copy of the weights serves both roles
            else:
                options = backend_options(self.settings, spec, self.worker, self.workers, checkpoint.model_id)
                self._backends[role] = registry.create(spec.backend, checkpoint, options)
        return self._backends[role]

    @property
    def backend(self) -> Backend:
        self.checkpoint  # noqa: B018 - "no model" is said before anything loads
        return self.backend_of("model")

    @property
    def judge(self) -> Backend | None:
        """The ``--judge-model`` backend (the model under test's own when it is the same model on the same
        backend), or None."""
        return self.backend_of("judge") if "judge" in self.specs else None

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            self._cache = Cache(Path(self.settings.cache_dir), refresh_before=self.refresh_before)
        return self._cache

    def result(self, task_name: str, progress: Progress | None = None) -> TaskResult:
        """The evaluated task, computed on first use (a chunk at a time until decided, with ``stopping``)."""
        if task_name in self._failures:
            raise self._failures[task_name]
        if task_name not in self.results:
            try:
                evaluation = self.evaluation(task_name, progress)
                if self.stopping is not None:
                    self.results[task_name] = self.stopping.evaluate(evaluation)
                else:
                    self.results[task_name] = evaluation.result(evaluation.run(evaluation.examples))
            except SelfDiscError as error:
                self._failures[task_name] = error
                raise
        return self.results[task_name]

    def evaluation(self, task_name: str, progress: Progress | None = None) -> TaskEvaluation:
        """The task on this session's model (and judge), ready to run questions."""
        task = build_task(self.settings, task_name)
        judge = self.judge if task.judged else None
        return TaskEvaluation(task, self.backend, self.cache, self.settings, progress, judge)

    def stored_candidates(self) -> int:
        """Candidates this run stored in its cache (all models and tasks, its xdist workers' too), for the line an
        interrupted run ends with: what a rerun will not sample again, not what the cache held before."""
        try:
            return self.cache.count("candidate", since=self.started)
        except SelfDiscError:
            return 0

    def model_json(self) -> dict[str, Any]:
        checkpoint = self.checkpoint
        return {"id": checkpoint.model_id, "fingerprint": checkpoint.fingerprint}

    def backend_json(self) -> dict[str, str] | None:
        """Device and dtype, when a backend was set up in this process."""
        backend = self._backends.get("model")
        return backend.describe() if backend is not None else None

    def tasks_json(self) -> dict[str, Any]:
        return {name: task_result_json(result) for name, result in self.results.items()}

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
        for backend in {id(b): b for b in self._backends.values()}.values():
            backend.close()
