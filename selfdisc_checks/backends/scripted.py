"""The scripted backend: a deterministic stand-in for a model, answering from a script instead of weights.

It exists so a task, a gate or a whole CI setup can be tested in seconds without torch or a checkpoint: every
call the pipeline makes is answered by the script as a function of the prompt text (and, for sampling, the
candidate's seed), so the same script always gives the same candidates, choices, label scores and verdicts.

Each call becomes a ``Request``:

- ``kind="sample"``: one candidate of a generation prompt; ``seed`` is the candidate's own seed (from
  ``seeds.candidate_seed``: ``s_q + i`` for candidate ``i``), so a script can answer candidates differently;
- ``kind="greedy"``: a discrimination output (the model picks an option) or, on a judge's grading prompt
  (after the task's ``judge_lead``), a verdict such as ``Rating: [[8]]``;
- ``kind="likelihood"``: the label log-probabilities of ``--discriminate likelihood``; ``options`` are the
  labels (``(1)``, ``(2)`` ...), the reply is one score per option.

Prompts are rendered as plain text (``rendering.render_plain``: system text, ``question\\nA: answer`` shots
separated by blank lines, the query and the answer prefix), so no tokenizer is needed and a script can match
what it sees in ``Request.prompt``.

From Python::

    ScriptedBackend(respond=lambda request: " 4" if request.kind == "sample" else "(1)")
    ScriptedBackend(rules=[{"kind": "greedy", "match": "Which is correct", "reply": "(2)"}])

``respond`` may return ``None`` to fall through to the rules, then to the defaults (an empty reply; every
option scored 0, so the first option wins a likelihood pick).

From the command line, ``--backend scripted --model SCRIPT`` where SCRIPT is

- a ``.json`` file: ``{"rules": [RULE, ...], "default": {"sample": "", "greedy": "", "likelihood": 0}}``, each
  RULE ``{"kind": "sample"|"greedy"|"likelihood" (optional: any), "match": REGEX (searched in the prompt;
  optional: any), and one of "reply": TEXT, "replies": [TEXT, ...] (candidate with seed s takes
  replies[s % len]; greedy takes the first), "scores": [FLOAT, ...]}``. The first rule that matches answers.
  ``{1}`` or ``{name}`` in a reply is the regex's group. A likelihood rule with a ``reply`` scores the option
  equal to it 0 and the others -1;
- a ``.py`` file defining ``respond(request)`` (and optionally ``RULES`` and ``DEFAULT`` as above).

``delay`` (from Python, or ``"delay"`` in a ``.json`` script, ``DELAY`` in a ``.py`` one) makes it as slow as a
model: that many seconds per word of each sample and greedy reply, each word reported to the progress listener
as a decoded token and each reply as a finished row, so progress output can be tested without weights. It
changes no answer (from Python it is no part of the fingerprint; a script file's fingerprint is its content).

The fingerprint (part of every cache key) is a digest of the script's content, so editing the script
invalidates what the cache holds for it. A ``.py`` script's digest covers that file only, not what it
imports; from Python, pass ``fingerprint=`` when ``respond`` depends on anything its code does not show.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import marshal
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from selfdisc_checks.backends.checkpoint import Checkpoint
from selfdisc_checks.backends.rendering import render_plain
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import Completion, DecodeSpec, Prompt, Sampling

if TYPE_CHECKING:
    from selfdisc_checks.backends.registry import BackendOptions

SCRIPTED_SAMPLER = "scripted/1"  # what turns a seed into a candidate: the script (bump if Request changes)
KINDS = ("sample", "greedy", "likelihood")

Kind = Literal["sample", "greedy", "likelihood"]
Reply = str | Completion | Sequence[float] | None


@dataclass(frozen=True)
class Request:
    """One call of the pipeline, as a script sees it."""

    kind: Kind
    prompt: str  # the rendered prompt text (for likelihood: the prompt followed by the task's lead)
    seed: int | None = None  # sample: the candidate's seed
    options: tuple[str, ...] = ()  # likelihood: the option labels to score
    spec: DecodeSpec | None = None  # sample and greedy: the token limit and stop sequences
    sampling: Sampling | None = None  # sample: temperature, top-p, top-k


@dataclass(frozen=True)
class Rule:
    """One line of a table script: when ``kind`` and ``match`` fit a request, reply with ``reply``/``replies``/
    ``scores``."""

    kind: Kind | None = None
    match: str | None = None
    reply: str | None = None
    replies: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()

    @classmethod
    def parse(cls, raw: Any, where: str) -> Rule:
        if isinstance(raw, Rule):
            return raw
        if not isinstance(raw, Mapping):
            raise SelfDiscError(f"{where} must be a table with match and reply, replies or scores.")
        unknown = set(raw) - {"kind", "match", "reply", "replies", "scores"}
        if unknown:
            raise SelfDiscError(
                f"{where} has unknown keys {', '.join(sorted(unknown))}; use kind, match, reply, replies or scores."
            )
        kind = raw.get("kind")
        if kind is not None and kind not in KINDS:
            raise SelfDiscError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}.")
        if sum(key in raw for key in ("reply", "replies", "scores")) != 1:
            raise SelfDiscError(f"{where} needs exactly one of reply, replies or scores.")
        match = raw.get("match")
        if match is not None:
            try:
                re.compile(match)
            except (re.error, TypeError) as error:
                raise SelfDiscError(f"{where}: match {match!r} is not a regular expression ({error}).") from None
        replies = raw.get("replies", ())
        if not isinstance(replies, list | tuple) or not all(isinstance(r, str) for r in replies):
            raise SelfDiscError(f"{where}: replies must be a list of texts.")
        if "replies" in raw and not replies:
            raise SelfDiscError(f"{where}: replies must not be empty.")
        scores = raw.get("scores", ())
        if not isinstance(scores, list | tuple) or not all(isinstance(s, int | float) for s in scores):
            raise SelfDiscError(f"{where}: scores must be a list of numbers.")
        reply = raw.get("reply")
        if reply is not None and not isinstance(reply, str):
            raise SelfDiscError(f"{where}: reply must be a text.")
        return cls(kind, match, reply, tuple(replies), tuple(float(s) for s in scores))

    def answer(self, request: Request) -> Reply:
        """The reply to ``request``, or None when this rule does not apply."""
        if self.kind is not None and self.kind != request.kind:
            return None
        found = re.search(self.match, request.prompt, re.S) if self.match is not None else None
        if self.match is not None and found is None:
            return None
        if self.scores:
            return self.scores if request.kind == "likelihood" else None
        text = self.reply if self.reply is not None else self.replies[(request.seed or 0) % len(self.replies)]
        if request.kind == "greedy" and self.replies:
            text = self.replies[0]
        return _expand(text, found)


def _expand(text: str, found: re.Match[str] | None) -> str:
    """``{1}`` / ``{name}`` in a reply: the regex's group (other braces are left alone)."""
    if found is None:
        return text

    def group(hit: re.Match[str]) -> str:
        key = hit.group(1)
        try:
            value = found.group(int(key) if key.isdigit() else key)
        except (IndexError, re.error):
            return hit.group(0)
        return value or ""

    return re.sub(r"\{(\w+)\}", group, text)


@dataclass(eq=False)  # compared and hashed by identity, like every backend
class ScriptedBackend:
    """A backend whose every answer comes from ``respond``, then ``rules``, then ``default`` (see the module)."""

    respond: Callable[[Request], Reply] | None = None
    rules: Sequence[Rule | Mapping[str, Any]] = ()
    default: Mapping[str, Any] = field(default_factory=dict)
    fingerprint: str = ""  # "" : a digest of respond's code, the rules and the defaults
    model_id: str = "scripted"
    described_as: str = "the scripted model"
    sampler: str = SCRIPTED_SAMPLER
    listener: Any = None
    delay: float = 0.0  # seconds per word of a sample or greedy reply (see the module docstring)
    rows_in_flight: int | None = None
    prompts_in_flight: int | None = None
    counters: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "generated_tokens": 0, "requests": 0})
    calls: list[Request] = field(default_factory=list, repr=False)  # every request answered, in order

    def __post_init__(self) -> None:
        self.rules = tuple(Rule.parse(rule, f"Rule {k + 1} of {self.model_id}") for k, rule in enumerate(self.rules))
        unknown = set(self.default) - set(KINDS)
        if unknown:
            raise SelfDiscError(
                f"The defaults of {self.model_id} name unknown kinds {', '.join(sorted(unknown))}; use "
                f"{', '.join(KINDS)}."
            )
        if not self.fingerprint:
            self.fingerprint = "scripted-" + _digest(self.respond, self.rules, self.default)
        if isinstance(self.delay, bool) or not isinstance(self.delay, int | float) or not 0 <= self.delay <= 60:
            raise SelfDiscError(
                f"The delay of {self.model_id} must be a number of seconds from 0 to 60, not {self.delay!r}."
            )

    @classmethod
    def from_file(cls, path: str | Path, option: str = "--model") -> ScriptedBackend:
        """The backend a ``.json`` or ``.py`` script describes (see the module docstring)."""
        script = Path(path).expanduser()
        if not script.is_file():
            raise SelfDiscError(
                f"{option} {path} does not exist; --backend scripted needs a .json or .py script (see "
                "selfdisc_checks.backends.scripted)."
            )
        raw = script.read_bytes()
        fingerprint = "scripted-" + hashlib.sha256(raw).hexdigest()[:32]
        name = str(path)
        if script.suffix.lower() == ".json":
            try:
                table = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as error:
                raise SelfDiscError(f"The script {option} {path} is not JSON ({error}); fix it.") from None
            if not isinstance(table, dict) or not isinstance(table.get("rules", []), list):
                raise SelfDiscError(f'The script {option} {path} must be a JSON object with "rules": [...].')
            unknown = set(table) - {"rules", "default", "delay"}
            if unknown:
                raise SelfDiscError(
                    f"The script {option} {path} has unknown keys {', '.join(sorted(unknown))}; use rules, default "
                    "and delay."
                )
            default = table.get("default", {})
            if not isinstance(default, dict):
                raise SelfDiscError(f'The script {option} {path}: "default" must be an object.')
            return cls(
                rules=table.get("rules", []),
                default=default,
                fingerprint=fingerprint,
                model_id=name,
                described_as=f"the scripted model {name} ({option})",
                delay=table.get("delay", 0.0),
            )
        if script.suffix.lower() == ".py":
            module = _load_module(script, option)
            respond = getattr(module, "respond", None)
            rules = getattr(module, "RULES", ())
            if respond is None and not rules:
                raise SelfDiscError(f"The script {option} {path} defines neither respond(request) nor RULES; add one.")
            if respond is not None and not callable(respond):
                raise SelfDiscError(f"The script {option} {path}: respond must be a function of the request.")
            return cls(
                respond=respond,
                rules=rules,
                default=getattr(module, "DEFAULT", {}),
                fingerprint=fingerprint,
                model_id=name,
                described_as=f"the scripted model {name} ({option})",
                delay=getattr(module, "DELAY", 0.0),
            )
        raise SelfDiscError(f"{option} {path} is neither a .json nor a .py script; --backend scripted reads those.")

    # -- the Backend protocol -----------------------------------------------------------------------

    def render(self, prompt: Prompt) -> str:
        """Plain-text rendering: no tokenizer, no chat template."""
        return render_plain(prompt)

    def describe(self) -> dict[str, str]:
        return {"device": "scripted", "dtype": "none"}

    def sample(
        self,
        prompts: list[str],
        seeds: list[list[int]],
        sampling: Sampling,
        spec: DecodeSpec,
        done: Callable[[int, list[Completion]], None] | None = None,
    ) -> list[list[Completion]]:
        self._tell("token_limit", spec.max_new_tokens)
        grouped = []
        for k, (prompt, row_seeds) in enumerate(zip(prompts, seeds, strict=True)):
            row = [self._text(Request("sample", prompt, seed, (), spec, sampling), spec) for seed in row_seeds]
            grouped.append(row)
            if done is not None:
                done(k, row)
        return grouped

    def greedy(self, prompts: list[str], spec: DecodeSpec) -> list[Completion]:
        self._tell("token_limit", spec.max_new_tokens)
        return [self._text(Request("greedy", prompt, None, (), spec), spec) for prompt in prompts]

    def option_logprobs(self, prompts: list[str], options: list[list[str]]) -> list[list[float]]:
        result = []
        for prompt, labels in zip(prompts, options, strict=True):
            request = Request("likelihood", prompt, None, tuple(labels))
            reply = self._answer(request)
            self.counters["prompt_tokens"] += len(prompt.split())
            if isinstance(reply, str):  # the option equal to the reply wins
                scores = [0.0 if label == reply else -1.0 for label in labels]
            elif isinstance(reply, Completion):
                scores = [0.0 if label == reply.text else -1.0 for label in labels]
            elif reply is None:
                scores = [float(self.default.get("likelihood", 0.0))] * len(labels)
            else:
                scores = [float(score) for score in reply]
            if len(scores) != len(labels):
                raise SelfDiscError(
                    f"{self.described_as} scored {len(scores)} options where the prompt has {len(labels)}; "
                    "return one score per option."
                )
            result.append(scores)
        return result

    def close(self) -> None:
        """Nothing to release."""

    # -- answering --------------------------------------------------------------------------------

    def _answer(self, request: Request) -> Reply:
        self.calls.append(request)
        self.counters["requests"] += 1
        if self.respond is not None:
            try:
                reply = self.respond(request)
            except SelfDiscError:
                raise
            except Exception as error:  # a user's script can raise anything
                raise SelfDiscError(
                    f"{self.described_as} raised {type(error).__name__} ({error}) on a {request.kind} request; "
                    "fix its respond(request)."
                ) from None
            if reply is not None:
                return reply
        for rule in self.rules:
            assert isinstance(rule, Rule)
            reply = rule.answer(request)
            if reply is not None:
                return reply
        return None

    def _text(self, request: Request, spec: DecodeSpec) -> Completion:
        reply = self._answer(request)
        if reply is None:
            reply = str(self.default.get(request.kind, ""))
        if isinstance(reply, Completion):
            completion = reply
        elif isinstance(reply, str):
            cut = min((reply.find(stop) for stop in spec.stop if stop in reply), default=-1)
            completion = Completion(reply if cut < 0 else reply[:cut])
        else:
            raise SelfDiscError(
                f"{self.described_as} answered a {request.kind} request with {type(reply).__name__}; return a text."
            )
        words = len(completion.text.split())
        self.counters["prompt_tokens"] += len(request.prompt.split())
        self.counters["generated_tokens"] += words
        self._decode(words)
        return completion

    def _decode(self, words: int) -> None:
        """Tell the listener of a reply's words as decoded tokens (one by one, ``delay`` apart, when slow) and of
        the reply as a finished row."""
        if self.delay:
            for _ in range(words):
                time.sleep(self.delay)
                self._tell("tokens", 1)
        elif words:
            self._tell("tokens", words)
        self._tell("row_done", words)

    def _tell(self, what: str, value: Any) -> None:
        if self.listener is not None and hasattr(self.listener, what):
            getattr(self.listener, what)(value)


def _digest(respond: Callable[..., Any] | None, rules: Sequence[Any], default: Mapping[str, Any]) -> str:
    """What a Python-built script answers from: respond's code (its bytecode and constants), the rules and
    the defaults."""
    digest = hashlib.sha256()
    if respond is not None:
        code = getattr(respond, "__code__", None)
        digest.update(getattr(respond, "__qualname__", type(respond).__name__).encode())
        if code is not None:
            digest.update(marshal.dumps(code))
    digest.update(repr(list(rules)).encode())
    digest.update(json.dumps(dict(default), sort_keys=True, default=repr).encode())
    return digest.hexdigest()[:32]


def _load_module(script: Path, option: str) -> Any:
    name = "selfdisc_script_" + hashlib.sha256(str(script.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise SelfDiscError(f"The script {option} {script} cannot be imported; pass a .py file.")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a user's script can raise anything while it loads
        raise SelfDiscError(
            f"The script {option} {script} failed to load ({type(error).__name__}: {error}); fix the script."
        ) from None
    return module


def locate(model: str, option: str = "--model") -> Checkpoint:
    """The script behind ``--model`` as a ``Checkpoint`` record (its content digest as the fingerprint), so
    results name it like any model."""
    backend = ScriptedBackend.from_file(model, option)
    path = Path(model).expanduser()
    return Checkpoint(model, path.parent, None, backend.fingerprint)


def create(model: Checkpoint | str | ScriptedBackend, options: BackendOptions) -> ScriptedBackend:
    """The registry's factory: ``model`` is the script (its path, or the record ``locate`` made of it)."""
    if isinstance(model, ScriptedBackend):
        return model
    path = model.model_id if isinstance(model, Checkpoint) else model
    backend = ScriptedBackend.from_file(path, options.option)
    if options.described_as:
        backend.described_as = options.described_as
    return backend


create.locate = locate  # type: ignore[attr-defined]  # --model names a script, not a checkpoint folder
