"""Speed ratios, measured side by side in one run (a command, not a timed test):

    python -m selfdisc_checks.bench [--model PATH] [--task arithmetic] [--data FILE] [--limit 8] [--samples 4]

Prints one table. Ratios, not seconds, are what to compare across machines:

- cold run / warm-cache run of the whole pipeline (in process, so pytest's start-up is not in it);
- batched sampling against question-by-question sampling (candidates/s, tokens/s);
- useful row-steps / computed row-steps, ours against a static batch that decodes every row until the
  longest ends (what ``generate`` does);
- discrimination time / generation time;
- ``pytest -n 2`` against ``-n 1`` on two tasks (subprocesses, fixture only; ``--no-xdist`` skips it);
- peak memory (resident set on CPU, allocated on CUDA);
- one decode step at ``--rows`` rows in flight: the sampler's share of the step, and decode tokens/s against
  the memory-bandwidth floor (weights and KV cache read once per step, at the bandwidth a device-to-device
  copy reaches here). ``--llama-8b`` measures that on a randomly initialised Llama-3-8B shape instead of
  ``--model`` (needs a GPU with ~30 GiB free).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from selfdisc_checks.records import Sampling
from selfdisc_checks.settings import Settings

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-arith"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m selfdisc_checks.bench",
        description="Speed ratios, measured side by side in one run (a command, not a timed test); prints one "
        "table, whose ratios, not seconds, are what to compare across machines.",
    )
    parser.add_argument("--model", default=str(FIXTURE), help="checkpoint (default: the fixture)")
    parser.add_argument("--task", default="arithmetic")
    parser.add_argument("--data", help="data file for the task")
    parser.add_argument("--limit", type=int, default=8, help="questions (default 8)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-xdist", action="store_true", help="skip the pytest -n 2 vs -n 1 comparison")
    parser.add_argument(
        "--rows", type=int, default=None, help="rows in flight for the decode-step row (default: 256 on GPU, 32 on CPU)"
    )
    parser.add_argument("--context", type=int, default=512, help="cached tokens per row for the decode-step row")
    parser.add_argument(
        "--llama-8b",
        action="store_true",
        help="decode-step row on a random Llama-3-8B shape (bfloat16, GPU) instead of --model",
    )
    parser.add_argument(
        "--verdict-limit",
        type=int,
        default=200,
        help="questions in the time-to-verdict row, run whole and with --stop-when-decided (default 200; 0: skip)",
    )
    parser.add_argument(
        "--xdist-limit",
        type=int,
        default=200,
        help="questions per task in the -n 2 vs -n 1 runs (default 200: enough work to outweigh start-up)",
    )
    args = parser.parse_args(argv)

    from selfdisc_checks import Cache, HFBackend, evaluate_task, get_task, locate_checkpoint

    backend = HFBackend(locate_checkpoint(args.model), device=args.device)
    task = get_task(args.task, **({"data": args.data} if args.data else {}))
    settings = Settings(
        model=args.model,
        tasks=(args.task,),
        limit=args.limit,
        samples=args.samples,
        batch_size=args.batch_size,
        device=args.device,
    )
    _ = backend.model  # loading is not part of any measurement
    rows: list[tuple[str, str, str]] = []

    with tempfile.TemporaryDirectory() as folder:
        cache = Cache(Path(folder))
        started = time.perf_counter()
        result = evaluate_task(task, backend, cache, settings)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        evaluate_task(task, backend, cache, settings)
        warm = time.perf_counter() - started
        cache.close()
    timing = result.timing
    rows.append(("cold run / warm-cache run", f"{cold / warm:,.0f}x", f"{cold:.2f} s vs {warm:.3f} s"))
    if timing.get("generation_s"):
        rows.append(
            (
                "discrimination / generation time",
                f"{timing['discrimination_s'] / timing['generation_s']:.2f}",
                f"{timing['discrimination_s']:.2f} s vs {timing['generation_s']:.2f} s",
            )
        )

    batched, single, useful, static = _sampling(backend, task, settings)
    rows.append(
        (
            "batched / question-by-question sampling",
            f"{single['seconds'] / batched['seconds']:.1f}x",
            f"{batched['candidates'] / batched['seconds']:.1f} vs {single['candidates'] / single['seconds']:.1f} "
            f"candidates/s; {batched['tokens'] / batched['seconds']:.0f} vs "
            f"{single['tokens'] / single['seconds']:.0f} tok/s",
        )
    )
    rows.append(
        (
            "useful / computed row-steps",
            f"{useful / batched['row_steps']:.2f}",
            f"a static batch (generate): {useful / static:.2f} ({static:,} row-steps for {useful:,} tokens)",
        )
    )
    if args.verdict_limit:
        (whole, ran_all, said), (early, ran, said_early) = _time_to_verdict(backend, task, settings, args.verdict_limit)
        same = "the same verdicts" if said == said_early else f"DIFFERENT verdicts ({said} vs {said_early})"
        rows.append(
            (
                "time to verdict: whole run / --stop-when-decided",
                f"{whole / early:.1f}x",
                f"{whole:.2f} s for {ran_all} questions vs {early:.2f} s for {ran}; {same} of a gate on S_gen, "
                "S_disc, DG-DIFF and invalid picks with bounds far from the values",
            )
        )
    if not args.no_xdist and Path(args.model).resolve() == FIXTURE.resolve():
        one, two = _xdist(args.xdist_limit)
        rows.append(("pytest -n 2 / -n 1 on two tasks (speed-up)", f"{one / two:.2f}x", f"{two:.1f} s vs {one:.1f} s"))
    rows.append(("peak memory", _peak_memory(backend), backend.describe()["device"]))
    step_rows = args.rows or (256 if backend.device.startswith("cuda") else 32)
    model = _random_llama_8b(backend.device) if args.llama_8b else backend.model
    cost = step_costs(model, backend.device, step_rows, args.context)
    shape = "Llama-3-8B shape, random weights" if args.llama_8b else "the model"
    rows.append(
        (
            "sampler / decode step",
            f"{cost['sampler_s'] / cost['step_s']:.3f}",
            f"{cost['sampler_s'] * 1e3:.2f} ms vs {cost['step_s'] * 1e3:.2f} ms; {step_rows} rows x "
            f"{cost['vocab']:,} vocabulary, {shape}",
        )
    )
    rows.append(
        (
            "decode tokens/s / bandwidth floor",
            f"{cost['tokens_s'] / cost['floor_tokens_s']:.2f}",
            f"{cost['tokens_s']:,.0f} vs {cost['floor_tokens_s']:,.0f} tok/s ({cost['bytes'] / 2**30:.2f} GiB "
            f"read per step at {cost['bandwidth'] / 1e9:,.0f} GB/s measured; {step_rows} rows, "
            f"{args.context} cached tokens)",
        )
    )

    width = max(len(r[0]) for r in rows)
    print(f"selfdisc-checks bench: {args.model}, {args.task}, {args.limit} questions x {args.samples} samples")
    for name, ratio, detail in rows:
        print(f"  {name.ljust(width)}  {ratio:>8}   {detail}")
    return 0


def _sampling(backend: Any, task: Any, settings: Settings) -> tuple[dict, dict, int, int]:
    """The task's generation prompts sampled in device batches, then one question at a time; also the tokens
    rows needed against the row-steps a static batch would decode."""
    from selfdisc_checks.backends.seeds import candidate_seed

    examples = task.load(settings.limit)
    texts = [backend.render(task.prompt(ex)) for ex in examples]
    seeds = [[candidate_seed(settings.seed, task.name, ex.id, i) for i in range(settings.samples)] for ex in examples]
    sampling = Sampling(settings.temperature, settings.top_p, settings.top_k)
    spec = task.generation

    def measure(groups: list[tuple[list[str], list[list[int]]]]) -> tuple[dict, list]:
        before = dict(backend.counters)
        started = time.perf_counter()
        outputs = [backend.sample(batch, batch_seeds, sampling, spec) for batch, batch_seeds in groups]
        seconds = time.perf_counter() - started
        spent = {k: backend.counters[k] - before[k] for k in before}
        return {
            "seconds": seconds,
            "candidates": len(texts) * settings.samples,
            "tokens": spent["generated_tokens"],
            "row_steps": spent["row_steps"],
        }, outputs

    size = settings.batch_size
    batched, outputs = measure([(texts[i : i + size], seeds[i : i + size]) for i in range(0, len(texts), size)])
    single, _ = measure([([text], [row]) for text, row in zip(texts, seeds, strict=True)])
    # A static batch decodes all its rows for as many steps as its longest row takes.
    lengths = [
        [len(backend.tokenizer(c.text, add_special_tokens=False)["input_ids"]) + 1 for c in group]
        for batch in outputs
        for group in batch
    ]
    static = sum(
        len(batch_lengths) * max(batch_lengths)
        for batch_lengths in (
            [n for group in lengths[i : i + size] for n in group] for i in range(0, len(lengths), size)
        )
    )
    return batched, single, batched["row_steps"], max(static, batched["row_steps"])


# A gate whose bounds are far from what the fixture measures (S_gen 43%, S_disc 39%, DG-DIFF -5 points, no
# invalid picks): a clear pass that early stopping settles within its first chunks.
VERDICT_THRESHOLDS = {
    "s_gen": {"floor": 0.1, "mode": "confident"},
    "s_disc": {"floor": 0.1, "mode": "confident"},
    "dg_diff": {"floor": -0.4, "mode": "not-below"},
    "invalid_rate": {"ceiling": 0.5, "mode": "confident"},
}


def _time_to_verdict(backend: Any, task: Any, settings: Settings, limit: int) -> list[tuple[float, int, dict]]:
    """Seconds, questions run and the gate's verdicts, each way in its own cold cache, side by side on the
    same loaded model: every question, then ``--stop-when-decided``."""
    from dataclasses import replace

    from selfdisc_checks import Cache
    from selfdisc_checks.gate import parse_thresholds
    from selfdisc_checks.pipeline import TaskEvaluation
    from selfdisc_checks.stopping import Stopping
    from selfdisc_checks.verdicts import decide_family, plan_threshold

    thresholds = parse_thresholds(VERDICT_THRESHOLDS, [task.name])
    gate = replace(settings, limit=limit, thresholds=thresholds, stop_when_decided=True)
    measured = []
    for early in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            cache = Cache(Path(folder))
            started = time.perf_counter()
            evaluation = TaskEvaluation(task, backend, cache, gate)
            if early:
                result = Stopping(gate).evaluate(evaluation)
            else:
                result = evaluation.result(evaluation.run(evaluation.examples))
            seconds = time.perf_counter() - started
            planned = [plan_threshold(result, gate, metric) for metric in VERDICT_THRESHOLDS]
            verdicts = {key[1]: decision.verdict.passed for key, decision in decide_family(planned, gate).items()}
            measured.append((seconds, len(result.questions), verdicts))
            cache.close()
    return measured


def _xdist(limit: int) -> tuple[float, float]:  # limit: questions per task
    """Wall time of the shipped checks on two tasks (arithmetic and a declarative copy of it) with -n 1 and -n 2."""
    seconds = []
    for workers in ("1", "2"):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            data = root / "sums.jsonl"
            data.write_text(
                "".join(f'{{"question": "{a}+{b}", "answer": {a + b}}}\n' for a in range(1, 21) for b in range(1, 21))
            )
            (root / "pyproject.toml").write_text(
                '[tool.selfdisc]\ncache_dir = "cache"\n'
                '[tool.selfdisc.tasks.sums]\ndata = "sums.jsonl"\nquestion = "question"\nanswer = "answer"\n'
                'metric = "numeric"\nprompt = "Q: {question}=\\nA:"\n'
                'shots = [{ question = "9-3", answer = 6 }, { question = "8*1", answer = 8 }]\n'
                'stop = ["\\n"]\nmax_new_tokens = 8\n'
            )
            command = [
                sys.executable,
                "-m",
                "pytest",
                "--pyargs",
                "selfdisc_checks.checks",
                "--model",
                str(FIXTURE),
                "--tasks",
                "arithmetic,sums",
                "--limit",
                str(limit),
                "-p",
                "no:cacheprovider",
                "-q",
                "-n",
                workers,
            ]
            started = time.perf_counter()
            done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
            seconds.append(time.perf_counter() - started)
            if done.returncode not in (0, 1):  # 1: a check failed, which is fine here; anything else is not
                raise SystemExit(f"the -n {workers} run failed: {done.stdout[-500:]}{done.stderr[-500:]}")
    return seconds[0], seconds[1]


def step_costs(model: Any, device: str, rows: int, context: int, steps: int = 8) -> dict[str, float]:
    """One decode step at ``rows`` rows with ``context`` cached tokens each, timed with the sampler's draw
    alone, and the step's memory-bandwidth floor: the bytes of weights and KV cache it must read, over the
    bandwidth a large device-to-device copy reaches on this device."""
    import torch

    from selfdisc_checks.backends.decoder import _cache_argument, _new_cache
    from selfdisc_checks.backends.sampler import SeededSampler

    argument = _cache_argument(model)  # "cache" in recent transformers, "past_key_values" before
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    vocab = config.vocab_size
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def timed(fn: Any) -> float:
        fn()
        sync()
        started = time.perf_counter()
        for _ in range(steps):
            fn()
        sync()
        return (time.perf_counter() - started) / steps

    with torch.inference_mode():
        ids = torch.randint(0, vocab, (rows, context + 1), device=device)
        cache = _new_cache(model)  # the decoder's own cache (room to grow in place)
        model(input_ids=ids[:, :-1], use_cache=True, logits_to_keep=1, **{argument: cache})
        length = cache.get_seq_length()

        def step() -> torch.Tensor:
            for layer in cache.layers:  # every timed step reads the same context
                layer.keys, layer.values = layer.keys[:, :, :length], layer.values[:, :, :length]
            return model(input_ids=ids[:, -1:], use_cache=True, logits_to_keep=1, **{argument: cache}).logits[:, -1]

        step_s = timed(step)
        logits = step()
        sampler = SeededSampler(list(range(rows)), Sampling(0.7), device=device)
        everyone = torch.arange(rows, device=device)
        sampler_s = timed(lambda: sampler.choose(everyone, logits))
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        kv = sum(layer.keys.numel() * layer.keys.element_size() * 2 for layer in cache.layers)
        block = torch.empty(2**28, dtype=torch.float32, device=device)  # 1 GiB
        copy_s = timed(lambda: block.clone())
    bandwidth = 2 * block.numel() * block.element_size() / copy_s  # read and written
    return {
        "step_s": step_s,
        "sampler_s": sampler_s,
        "vocab": vocab,
        "bytes": weights + kv,
        "bandwidth": bandwidth,
        "tokens_s": rows / step_s,
        "floor_tokens_s": rows / ((weights + kv) / bandwidth),
    }


def _random_llama_8b(device: str) -> Any:
    """A Llama-3-8B-shaped model with random weights, in bfloat16 on ``device`` (no checkpoint needed)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        max_position_embeddings=8192,
    )
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)  # type: ignore[arg-type]  # transformers types .to oddly
    return model.eval()


def _peak_memory(backend: Any) -> str:
    if backend.describe()["device"].startswith("cuda"):
        import torch

        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"


if __name__ == "__main__":
    sys.exit(main())
