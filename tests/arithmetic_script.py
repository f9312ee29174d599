"""A scripted stand-in for an arithmetic model (no torch): candidate i of a question is right when its seed is a
multiple of ``every``; the pick is the first right candidate shown when ``picks_right``, else the first option.
Shared by the scripted gate and early-stopping tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

SCRIPT = """
import re

def respond(request):
    if request.kind == "sample":
        a, op, b = re.search(r"Q: (-?\\d+)([-+*])(-?\\d+)=\\nA:$", request.prompt).groups()
        value = {{"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}}[op]
        return f" {{value if request.seed % {every} == 0 else value + 1}}"
    query = request.prompt.rsplit("Question: ", 1)[1]
    a, op, b = re.match(r"(-?\\d+)([-+*])(-?\\d+)", query).groups()
    value = {{"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}}[op]
    shown = [text.strip() == str(value) for text in re.findall(r"^\\(\\d+\\) .*?=(.*)$", query, re.M)]
    return f"({{shown.index(True) + 1 if True in shown and {picks_right} else 1}})"
"""


def arithmetic_script(folder: Path, name: str, every: int = 2, picks_right: bool = True) -> str:
    """Write the script as ``folder/name`` and return its path (for ``--backend scripted --model``)."""
    path = folder / name
    path.write_text(textwrap.dedent(SCRIPT.format(every=every, picks_right=picks_right)))
    return str(path)
