"""Speed ratios of the sampling path (a benchmark to run by hand, not a timed test).

    python benchmarks/bench_sampling.py [--model PATH] [--samples 4] [--questions 8]

Prints, for the same prompts and seeds:
  * prefix-once (each prompt processed once, KV cache copied to its N rows) vs plain generate on N copies
    of each prompt (what re-processing the few-shot prompt per sample costs);
  * a cold pipeline run (sampling) vs a warm one (everything from the SQLite cache).
Ratios, not seconds, are what to compare across machines.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from transformers import GenerationConfig, LogitsProcessorList

from selfdisc_checks import Cache, HFBackend, Sampling, Settings, evaluate_task, get_task, locate_checkpoint
from selfdisc_checks.backends.sampler import SeededSampler

REPO = Path(__file__).resolve().parents[1]


def plain_generate(backend: HFBackend, prompts: list[str], samples: int, max_new_tokens: int) -> None:
    tok, model = backend.tokenizer, backend.model
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=not backend.uses_chat_template)
    rows = torch.arange(len(prompts)).repeat_interleave(samples)
    config = GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id)
    sampler = SeededSampler(list(range(len(rows))), Sampling(0.7))
    with torch.inference_mode():
        model.generate(
            input_ids=enc["input_ids"][rows],
            attention_mask=enc["attention_mask"][rows],
            generation_config=config,
            logits_processor=LogitsProcessorList([sampler]),
        )


def timed(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description="sampling speed ratios")
    parser.add_argument("--model", default=str(REPO / "fixtures" / "tiny-arith"))
    parser.add_argument("--task", default="arithmetic")
    parser.add_argument("--data", default=None, help="data file for the task (e.g. a GSM8K JSONL)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()

    backend = HFBackend(locate_checkpoint(args.model), dtype=args.dtype)
    task = get_task(args.task, **({"data": args.data} if args.data else {}))
    examples = task.load(limit=args.questions)
    prompts = [backend.render(task.prompt(e)) for e in examples]
    seeds = [[i * args.samples + j for j in range(args.samples)] for i in range(len(prompts))]
    spec = type(task.generation)(max_new_tokens=args.max_new_tokens)
    prompt_tokens = backend.tokenizer(prompts[0], return_tensors="pt")["input_ids"].shape[1]

    once = timed(lambda: backend.sample(prompts, seeds, Sampling(0.7), spec))
    plain = timed(lambda: plain_generate(backend, prompts, args.samples, args.max_new_tokens))
    print(
        f"{args.questions} prompts of ~{prompt_tokens} tokens x {args.samples} samples x {args.max_new_tokens} new tokens"
    )
    print(f"  prefix-once {once:.3f}s  plain {plain:.3f}s  ratio plain/prefix-once = {plain / once:.2f}x")

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(model=args.model, samples=args.samples, limit=args.questions, dtype=args.dtype)
        cache = Cache(Path(folder))
        start = time.perf_counter()
        evaluate_task(task, backend, cache, settings)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        result = evaluate_task(task, backend, cache, settings)
        warm = time.perf_counter() - start
        assert result.sampled == 0
        print(f"  pipeline cold {cold:.3f}s  warm (cached) {warm:.3f}s  ratio cold/warm = {cold / warm:.1f}x")


if __name__ == "__main__":
    main()
