"""The discrimination ablations end to end: a task option changes the prompt the model reads, so the
discrimination is recomputed from cached candidates, and the option is recorded."""

from __future__ import annotations

from conftest import ADMIT_ANY, FIXTURE

ARGS = (f"--model={FIXTURE}", "--limit", "4")


def configure(project, **options) -> None:
    """Rewrite the project's pyproject with these [tool.selfdisc.task_options.arithmetic] options."""
    table = "".join(f"{name} = {value}\n" for name, value in options.items())
    project.pytester.makefile(
        ".toml",
        pyproject=f'[tool.selfdisc]\ncache_dir = "cache"\n{ADMIT_ANY}[tool.selfdisc.task_options.arithmetic]\n{table}',
    )


def discrimination_prompts(document) -> list[str]:
    return [q["prompts"]["discrimination"] for q in document["tasks"]["arithmetic"]["questions"]]


def test_each_ablation_rediscriminates_cached_candidates_and_is_recorded(project):
    _, plain = project.run(*ARGS)
    assert plain["tasks"]["arithmetic"]["run"]["sampled"] == 4
    assert "label_format" not in plain["tasks"]["arithmetic"]["protocol"]["discrimination"]
    assert "usc_majority_agreement" in plain["tasks"]["arithmetic"]["metrics"]

    configure(project, label_format='"letters"', discrimination_demos=0)
    _, letters = project.run(*ARGS)
    task = letters["tasks"]["arithmetic"]
    assert task["run"]["sampled"] == 0 and task["run"]["discriminated"] > 0
    assert task["protocol"]["discrimination"]["label_format"] == "letters"
    assert task["protocol"]["discrimination"]["demonstrations"] == 0
    assert task["options"]["label_format"] == "letters" and task["options"]["discrimination_demos"] == 0
    for before, after, question in zip(
        discrimination_prompts(plain), discrimination_prompts(letters), task["questions"], strict=True
    ):
        assert before != after and "(1) " in before and "(A) " in after and "(1) " not in after
        assert after.count("Question:") == 1  # no demonstration left
        assert [c["text"] for c in question["candidates"]] in (
            [c["text"] for c in q["candidates"]] for q in plain["tasks"]["arithmetic"]["questions"]
        )

    configure(project, discrimination_mode='"verbatim"', selector='"consistency"')
    _, verbatim = project.run(*ARGS)
    task = verbatim["tasks"]["arithmetic"]
    assert task["run"]["sampled"] == 0 and task["run"]["discriminated"] > 0
    assert task["protocol"]["discrimination"]["discrimination_mode"] == "verbatim"
    assert task["protocol"]["discrimination"]["selector"] == "consistency"
    for prompt in discrimination_prompts(verbatim):
        assert "most of the candidates reach" in prompt and "Write out the chosen answer in full" in prompt
    for question in task["questions"]:  # a written-out pick is matched by its answer, or is invalid as no_match
        choice = question["choice"]
        assert choice["index"] is not None or choice["reason"] in ("no_match", "empty", "truncated")


def test_a_bad_ablation_option_is_refused_with_one_sentence(project):
    configure(project, discrimination_demos=2)
    result, _ = project.run(*ARGS)
    assert (
        "Task 'arithmetic': discrimination_demos must be a whole number from 0 to 1 (the demonstrations it has), "
        "not 2." in result.stdout.str() + result.stderr.str()
    )
