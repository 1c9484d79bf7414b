"""The fenced blocks of the Markdown documents, and how a walkthrough's output is checked.

A block with the info string ``sh`` is a command block: the walkthrough test
runs it exactly as printed. A ``text`` block right after it (blank lines
between them, nothing else) is the output it prints, or the part of it that
matters: each of its lines must be a line of that command block's output, in
the same order, and ``…`` stands for any text within a line (ids, times).
Every other block (``console``, ``bash``, ``python``, ``json``, a ``text``
block after prose) is only read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The documents whose ``sh`` blocks are run, in this order, each file in one bash process.
#: The README's first walkthrough comes first, as a new user meets it.
WALKTHROUGHS = ("README.md", *(f"docs/walkthroughs/{name}.md" for name in (
    "accounts", "credentials", "bank", "reports", "residence", "payments", "coordination",
    "monitoring")))
COMMAND_INFO = "sh"
OUTPUT_INFO = "text"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")


@dataclass
class Block:
    """A fenced block: where it starts (1-based line of the fence), its info string, its text."""

    path: str
    line: int
    info: str
    text: str
    #: The line of the closing fence (1-based).
    end: int = 0
    #: The ``text`` blocks that follow a command block: what its output must show.
    expected: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """``path:line``, for messages."""
        return f"{self.path}:{self.line}"


def fenced_blocks(text: str, path: str) -> list[Block]:
    """Every fenced block of a Markdown text, in order (indented ones too)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        index += 1
        while index < len(lines) and not (
                lines[index].strip().startswith(fence)
                and lines[index].strip().strip(fence[0]) == ""):
            line = lines[index]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            index += 1
        blocks.append(Block(path, index - len(body), opening["info"], "\n".join(body) + "\n",
                            end=index + 1))
        index += 1
    return blocks


def command_blocks(text: str, path: str) -> list[Block]:
    """The ``sh`` blocks of a document, each with the ``text`` block right after it."""
    lines = text.splitlines()
    commands: list[Block] = []
    previous: Block | None = None
    for block in fenced_blocks(text, path):
        if block.info == COMMAND_INFO:
            commands.append(block)
        elif (block.info == OUTPUT_INFO and previous is not None
              and previous.info == COMMAND_INFO
              and all(not line.strip() for line in lines[previous.end:block.line - 1])):
            previous.expected.append(block.text)
        previous = block
    return commands


def read_commands(relative: str) -> list[Block]:
    """The command blocks of one document of the repository."""
    return command_blocks((ROOT / relative).read_text(encoding="utf-8"), relative)


def documents() -> list[str]:
    """README.md and every Markdown file under docs/, relative to the repository's root."""
    found = [path for path in ["README.md"] if (ROOT / path).exists()]
    found += sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").rglob("*.md"))
    return found


def _line_pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in expected.strip().split("…")]
    return re.compile(".*".join(parts))


def missing_output(expected: str, output: str) -> str | None:
    """The first expected line not found (in order) in ``output``; None when all are there.

    Lines are compared without their surrounding spaces; ``…`` matches any
    text within a line, and a line of ``…`` alone matches nothing in
    particular (it only shows that lines were left out).
    """
    lines = [line.strip() for line in output.splitlines()]
    position = 0
    for wanted in expected.splitlines():
        if wanted.strip() in ("", "…"):
            continue
        pattern = _line_pattern(wanted)
        while position < len(lines) and not pattern.fullmatch(lines[position]):
            position += 1
        if position == len(lines):
            return wanted.strip()
        position += 1
    return None
