"""The Ray backend (``--backend ray``): actors, one per GPU (or per CPU share), each load the model once and
decode their shard of every batch in parallel, streaming each question's candidates back as they finish.

The actors run this package's transformers backend, so candidates are exactly those of the in-process backend
for the same seeds (tested on a local Ray instance) and share its cache entries. The driver renders prompts
with the tokenizer alone and never loads the weights. Each question goes into the cache as soon as its
candidates are back: a crash loses only the questions still decoding. Without ``--ray-address`` a local instance is started; with it
(``auto`` or ``ray://host:10001``) the actors go where the cluster has room.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selfdisc_checks.backends.checkpoint import Checkpoint
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import Completion, DecodeSpec, Prompt, Sampling


class _Worker:
    """One actor: the transformers backend on its own device."""

    def __init__(self, checkpoint: Checkpoint, options: dict[str, Any], widths: tuple[int | None, int | None]) -> None:
        from selfdisc_checks.backends.hf import HFBackend

        self.backend = HFBackend(checkpoint, **options)
        # Rows (sampling) and prompts (greedy) in flight: an actor refills its batch as rows finish, as in process.
        self.backend.rows_in_flight, self.backend.prompts_in_flight = widths

    def identity(self) -> tuple[str, dict[str, str]]:
        return self.backend.fingerprint, self.backend.describe()

    def sample(self, prompts: list[str], seeds: list[list[int]], sampling: Sampling, spec: DecodeSpec) -> Any:
        """Yields ``(i, completions)`` as each prompt's candidates finish (a Ray streaming generator): the
        decoding runs in a thread, handing finished questions over through a queue."""
        import queue
        import threading

        finished: queue.Queue = queue.Queue()
        end = object()

        def work() -> None:
            try:
                self.backend.sample(prompts, seeds, sampling, spec, done=lambda i, c: finished.put((i, list(c))))
                finished.put(end)
            except BaseException as error:  # handed to the generator, which raises it to the driver
                finished.put(error)

        threading.Thread(target=work, daemon=True).start()
        while (item := finished.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item

    def greedy(self, prompts: list[str], spec: DecodeSpec) -> list[Completion]:
        return self.backend.greedy(prompts, spec)

    def option_logprobs(self, prompts: list[str], options: list[list[str]]) -> list[list[float]]:
        return self.backend.option_logprobs(prompts, options)

    def counters(self) -> dict[str, int]:
        return dict(self.backend.counters)


class RayBackend:
    """The Backend protocol over Ray actors; see the module docstring."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
        memory_budget: float | None = None,
        address: str | None = None,
        actors: int | None = None,
        rows_in_flight: int | None = None,
        prompts_in_flight: int | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise SelfDiscError("--backend ray needs Ray; pip install 'selfdisc-checks[ray]' (or ray).") from None
        from selfdisc_checks.backends.hf import HFBackend

        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as error:
                raise SelfDiscError(
                    f"Cannot reach the Ray cluster at {address!r} ({error}); pass --ray-address auto, ray://HOST:10001 "
                    "or leave it out for a local instance."
                ) from None
        gpus = int(ray.cluster_resources().get("GPU", 0))
        cpus = int(ray.cluster_resources().get("CPU", 1))
        count = actors or gpus or min(2, cpus)
        share = {"num_gpus": 1} if gpus else {"num_cpus": max(1, cpus // count)}
        remote = ray.remote(_Worker)
        options = {
            "device": device,
            "dtype": dtype,
            "trust_remote_code": trust_remote_code,
            "memory_budget": memory_budget,
        }
        widths = (rows_in_flight, prompts_in_flight)
        # Actor handles: Ray adds .remote to their methods at run time, which no type checker sees.
        self._actors: list[Any] = [remote.options(**share).remote(checkpoint, options, widths) for _ in range(count)]
        identities = self._get([actor.identity.remote() for actor in self._actors])
        self.fingerprint, self._describe = identities[0]
        if any(fingerprint != self.fingerprint for fingerprint, _ in identities):
            raise SelfDiscError("The Ray actors run the model in different precisions; pass --dtype explicitly.")
        # Prompts are rendered here with the tokenizer alone (the weights never load in the driver).
        self._local = HFBackend(checkpoint, device="cpu", dtype=dtype, trust_remote_code=trust_remote_code)
        self.sampler = self._local.sampler  # the actors sample exactly as the in-process backend does
        self.listener: Any = None
        self.checkpoint = checkpoint
        self.described_as = checkpoint.model_id  # how messages name this model (the session names a judge)

    @property
    def actors(self) -> int:
        return len(self._actors)

    def render(self, prompt: Prompt) -> str:
        return self._local.render(prompt)

    def describe(self) -> dict[str, str]:
        return {**self._describe, "backend": f"ray x {len(self._actors)}"}

    @property
    def counters(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for counters in self._get([actor.counters.remote() for actor in self._actors]):
            for name, value in counters.items():
                totals[name] = totals.get(name, 0) + value
        return totals

    def sample(
        self,
        prompts: list[str],
        seeds: list[list[int]],
        sampling: Sampling,
        spec: DecodeSpec,
        done: Callable[[int, list[Completion]], None] | None = None,
    ) -> list[list[Completion]]:
        """Each actor samples its shard and streams each question back as it finishes; ``done`` hears of it
        at once, so the cache keeps every finished question even if an actor or the driver dies later."""
        ray = self._ray
        shards = _shards(len(prompts), len(self._actors))
        streams = {
            actor.sample.options(num_returns="streaming").remote(
                [prompts[i] for i in shard], [seeds[i] for i in shard], sampling, spec
            ): shard
            for actor, shard in zip(self._actors, shards, strict=False)
        }
        grouped: list[list[Completion] | None] = [None] * len(prompts)
        while streams:
            ready, _ = ray.wait(list(streams), num_returns=1)
            stream = ready[0]
            try:
                ref = next(stream)
            except StopIteration:
                del streams[stream]
                continue
            local, completions = self._get([ref])[0]
            index = streams[stream][local]
            grouped[index] = completions
            if done is not None:
                done(index, completions)
        missing = [i for i, group in enumerate(grouped) if group is None]
        if missing:
            raise SelfDiscError(
                f"The Ray actors returned no candidates for {len(missing)} prompt(s); rerun to sample them."
            )
        return grouped  # type: ignore[return-value]

    def greedy(self, prompts: list[str], spec: DecodeSpec) -> list[Completion]:
        shards = _shards(len(prompts), len(self._actors))
        refs = [
            actor.greedy.remote([prompts[i] for i in shard], spec)
            for actor, shard in zip(self._actors, shards, strict=False)
        ]
        return [completion for part in self._get(refs) for completion in part]

    def option_logprobs(self, prompts: list[str], options: list[list[str]]) -> list[list[float]]:
        shards = _shards(len(prompts), len(self._actors))
        refs = [
            actor.option_logprobs.remote([prompts[i] for i in shard], [options[i] for i in shard])
            for actor, shard in zip(self._actors, shards, strict=False)
        ]
        return [row for part in self._get(refs) for row in part]

    def _get(self, refs: list[Any]) -> list[Any]:
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayActorError as error:
            raise SelfDiscError(
                f"A Ray actor stopped ({type(error).__name__}); finished batches are in the cache, so a rerun "
                "continues from there."
            ) from None
        except self._ray.exceptions.RayTaskError as error:
            cause = error.cause if isinstance(getattr(error, "cause", None), SelfDiscError) else None
            if cause is not None:
                raise cause from None
            raise

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._started:
            self._ray.shutdown()


def _shards(n: int, parts: int) -> list[list[int]]:
    """``range(n)`` in at most ``parts`` contiguous, non-empty, nearly equal shards (in order)."""
    parts = max(1, min(parts, n))
    size, extra = divmod(n, parts)
    shards, start = [], 0
    for k in range(parts):
        end = start + size + (1 if k < extra else 0)
        shards.append(list(range(start, end)))
        start = end
    return [shard for shard in shards if shard]
