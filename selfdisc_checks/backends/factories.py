"""The factories of the built-in checkpoint backends (hf, ray, vllm), registered in ``registry.BUILTIN``.

Each turns a located ``Checkpoint`` and the run's ``BackendOptions`` into a backend. This module imports no
torch: the backend's own module loads only when the factory is called, so listing or choosing a backend is
cheap.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from selfdisc_checks.backends.checkpoint import Checkpoint

if TYPE_CHECKING:
    from selfdisc_checks.backends.base import Backend
    from selfdisc_checks.backends.registry import BackendOptions


def hf(model: Checkpoint, options: BackendOptions) -> Backend:
    """transformers in this process; on CPU, torch gets this worker's share of the usable cores."""
    from selfdisc_checks.backends.hf import HFBackend, cpu_threads

    backend = HFBackend(
        model,
        device=options.device,
        dtype=options.dtype,
        trust_remote_code=options.trust_remote_code,
        memory_budget=options.memory_budget,
        worker=options.worker,
    )
    if options.described_as:
        backend.described_as = options.described_as
    if backend.device == "cpu":
        import torch

        # K workers share the usable cores (a container's quota included): more threads than cores only fight
        # over them.
        threads = cpu_threads(options.workers)
        if threads < torch.get_num_threads():
            torch.set_num_threads(threads)
    # --batch-size questions' rows decode at once; the pipeline hands over several batches' worth
    # (pipeline.REFILL), and waiting questions join as rows finish.
    backend.rows_in_flight = options.rows_in_flight
    backend.prompts_in_flight = options.prompts_in_flight
    return backend


def ray(model: Checkpoint, options: BackendOptions) -> Backend:
    """Actors on a Ray instance or cluster, each running the hf backend."""
    from selfdisc_checks.backends.ray import RayBackend

    backend = RayBackend(
        model,
        device=options.device,
        dtype=options.dtype,
        trust_remote_code=options.trust_remote_code,
        memory_budget=options.memory_budget,
        address=options.ray_address,
        actors=options.ray_actors,
        rows_in_flight=options.rows_in_flight,
        prompts_in_flight=options.prompts_in_flight,
    )
    if options.described_as:
        backend.described_as = options.described_as
    return backend


def vllm(model: Checkpoint, options: BackendOptions) -> Backend:
    """A vLLM engine in this process (with --ray-address: its parallelism across that Ray cluster)."""
    from selfdisc_checks.backends.vllm import VLLMBackend

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process, as tested
    engine = dict(options.vllm_options)
    if options.ray_address:  # vLLM's tensor and pipeline parallelism across a Ray cluster
        os.environ.setdefault("RAY_ADDRESS", options.ray_address)
        engine.setdefault("distributed_executor_backend", "ray")
    backend = VLLMBackend(
        model,
        dtype=options.dtype,
        device=options.device,
        trust_remote_code=options.trust_remote_code,
        memory_budget=options.memory_budget,
        **engine,
    )
    if options.described_as:
        backend.described_as = options.described_as
    return backend
