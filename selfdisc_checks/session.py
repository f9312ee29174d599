"""One evaluation run: settings, the lazily loaded model, the cache, and memoised task results.

The model is loaded only when something must be sampled: a run the cache fully covers reads the
tokenizer (to render prompts) and never the weights.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfdisc_checks.backends.checkpoint import Checkpoint, locate_checkpoint
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.pipeline import Progress, evaluate_task
from selfdisc_checks.records import TaskResult
from selfdisc_checks.report.results import task_result_json
from selfdisc_checks.settings import Settings
from selfdisc_checks.store import file_hashes
from selfdisc_checks.store.cache import Cache
from selfdisc_checks.tasks import Task, get_task

if TYPE_CHECKING:
    from selfdisc_checks.backends.hf import HFBackend


def fingerprint_memo(settings: Settings) -> Path:
    """Where file digests are remembered, so a rerun does not re-read many-GB weights."""
    return Path(settings.cache_dir) / file_hashes.FILENAME


def _bytes(gib: float | None) -> float | None:
    return None if gib is None else gib * 2**30


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
    ) -> None:
        self.settings = settings
        self.worker = worker  # the xdist worker id: with several GPUs, each worker takes its own
        self.workers = workers  # how many xdist workers share this machine
        self.started = time.time()
        self.refresh_before = refresh_before
        self._checkpoint = checkpoint
        self._backend: HFBackend | None = None
        self._judge: HFBackend | None = None
        self._cache: Cache | None = None
        self.results: dict[str, TaskResult] = {}
        self._failures: dict[str, SelfDiscError] = {}

    @property
    def checkpoint(self) -> Checkpoint:
        if self._checkpoint is None:
            if not self.settings.model:
                raise SelfDiscError(
                    "No model to check; pass --model PATH_OR_ID or set model in [tool.selfdisc] of pyproject.toml."
                )
            self._checkpoint = locate_checkpoint(
                self.settings.model,
                memo=fingerprint_memo(self.settings),
                allow_pickle=self.settings.allow_pickle_weights,
            )
        return self._checkpoint

    @property
    def backend(self) -> HFBackend:
        if self._backend is None:
            from selfdisc_checks.backends.hf import HFBackend  # torch and transformers load only when a model is needed

            s = self.settings
            if s.backend == "ray":
                from selfdisc_checks.backends.ray import RayBackend

                self._backend = RayBackend(
                    self.checkpoint,
                    device=s.device,
                    dtype=s.dtype,  # type: ignore[assignment]
                    trust_remote_code=s.trust_remote_code,
                    memory_budget=_bytes(s.memory_budget),
                    address=s.ray_address,
                    actors=s.ray_actors,
                    rows_in_flight=s.batch_size * s.samples,
                    prompts_in_flight=s.batch_size,
                )
            elif s.backend == "vllm":
                import os

                from selfdisc_checks.backends.vllm import VLLMBackend

                os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process, as tested
                options = dict(s.vllm_options)
                if s.ray_address:  # vLLM's tensor and pipeline parallelism across a Ray cluster
                    os.environ.setdefault("RAY_ADDRESS", s.ray_address)
                    options.setdefault("distributed_executor_backend", "ray")
                self._backend = VLLMBackend(
                    self.checkpoint,
                    dtype=s.dtype,
                    device=s.device,  # type: ignore[assignment]
                    trust_remote_code=s.trust_remote_code,
                    memory_budget=_bytes(s.memory_budget),
                    **options,
                )
            else:
                self._backend = HFBackend(
                    self.checkpoint,
                    device=s.device,
                    dtype=s.dtype,
                    trust_remote_code=s.trust_remote_code,
                    memory_budget=_bytes(s.memory_budget),
                    worker=self.worker,
                )
                if self._backend.device == "cpu":
                    import torch

                    from selfdisc_checks.backends.hf import cpu_threads

                    # K workers share the usable cores (a container's quota included): more threads than
                    # cores only fight over them.
                    threads = cpu_threads(self.workers)
                    if threads < torch.get_num_threads():
                        torch.set_num_threads(threads)
                # --batch-size questions' rows decode at once; the pipeline hands over several batches' worth
                # (pipeline.REFILL), and waiting questions join as rows finish.
                self._backend.rows_in_flight = s.batch_size * s.samples
                self._backend.prompts_in_flight = s.batch_size
        return self._backend

    @property
    def judge(self) -> HFBackend | None:
        """The ``--judge-model`` backend (the model under test's own when it is the same checkpoint), or None."""
        s = self.settings
        if not s.judge_model:
            return None
        if self._judge is None:
            checkpoint = locate_checkpoint(
                s.judge_model, memo=fingerprint_memo(s), allow_pickle=s.allow_pickle_weights, option="--judge-model"
            )
            if checkpoint.fingerprint == self.checkpoint.fingerprint:
                self._judge = self.backend  # one copy of the weights serves both roles
            else:
                from selfdisc_checks.backends.hf import HFBackend

                self._judge = HFBackend(
                    checkpoint,
                    device=s.device,
                    dtype=s.dtype,
                    trust_remote_code=s.trust_remote_code,
                    memory_budget=_bytes(s.memory_budget),
                    worker=self.worker,
                )
                self._judge.described_as = f"the judge model {checkpoint.model_id} (--judge-model)"
        return self._judge

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            self._cache = Cache(Path(self.settings.cache_dir), refresh_before=self.refresh_before)
        return self._cache

    def result(self, task_name: str, progress: Progress | None = None) -> TaskResult:
        """The evaluated task, computed on first use."""
        if task_name in self._failures:
            raise self._failures[task_name]
        if task_name not in self.results:
            try:
                task = build_task(self.settings, task_name)
                judge = self.judge if task.judged else None
                backends = {self.backend, judge} - {None}
                for backend in backends:
                    backend.listener = progress  # loading and decoded tokens show in the progress too
                try:
                    self.results[task_name] = evaluate_task(
                        task, self.backend, self.cache, self.settings, progress, judge
                    )
                finally:
                    for backend in backends:
                        backend.listener = None
            except SelfDiscError as error:
                self._failures[task_name] = error
                raise
        return self.results[task_name]

    def stored_candidates(self) -> int:
        """Candidates in this run's cache (all models and tasks), for the line an interrupted run ends with."""
        try:
            return self.cache.count("candidate")
        except SelfDiscError:
            return 0

    def model_json(self) -> dict[str, Any]:
        checkpoint = self.checkpoint
        return {"id": checkpoint.model_id, "fingerprint": checkpoint.fingerprint}

    def backend_json(self) -> dict[str, str] | None:
        """Device and dtype, when a backend was set up in this process."""
        return self._backend.describe() if self._backend is not None else None

    def tasks_json(self) -> dict[str, Any]:
        return {name: task_result_json(result) for name, result in self.results.items()}

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
        if self._backend is not None and hasattr(self._backend, "close"):
            self._backend.close()
