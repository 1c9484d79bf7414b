"""Run one document's command blocks in one bash process, as a reader pastes them in order."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.docs.blocks import ROOT, Block, missing_output

#: Printed before each block, so that the output of one bash process splits back into blocks.
MARKER = "@@vnid-walkthrough-block {}@@"
_MARKER = re.compile(r"^@@vnid-walkthrough-block (\d+)@@$", re.MULTILINE)


@dataclass
class Run:
    """What running one document's blocks gave."""

    path: str
    blocks: list[Block]
    returncode: int
    #: The output of each block that started, in order (stdout and stderr together).
    outputs: list[str]
    seconds: float

    def problems(self) -> list[str]:
        """Why this run failed, one message per problem (the failing block with its output)."""
        found = []
        if self.returncode != 0:
            index = max(len(self.outputs) - 1, 0)
            block = self.blocks[index]
            found.append(f"{block.where}: the block exited with {self.returncode}\n"
                         f"--- block ---\n{block.text}--- output ---\n"
                         f"{self.outputs[index] if self.outputs else ''}")
        elif len(self.outputs) != len(self.blocks):
            found.append(f"{self.path}: {len(self.blocks)} blocks, {len(self.outputs)} ran")
        for block, output in zip(self.blocks, self.outputs):
            for expected in block.expected:
                missing = missing_output(expected, output)
                if missing is not None:
                    found.append(f"{block.where}: the output lacks the line {missing!r}\n"
                                 f"--- block ---\n{block.text}--- output ---\n{output}")
        return found


def script(blocks: list[Block]) -> str:
    """The blocks as one bash script, each announced by its marker."""
    parts = []
    for index, block in enumerate(blocks):
        parts.append(f"printf '\\n%s\\n' '{MARKER.format(index)}'\n")
        parts.append(f"# {block.where}\n{block.text}")
    return "".join(parts)


def run_blocks(path: str, blocks: list[Block], env: dict[str, str], *,
               timeout: float = 300) -> Run:
    """Run ``blocks`` with ``bash -euo pipefail`` from the repository's root.

    Standard input is empty, so a prompt fails instead of waiting. Anything the
    blocks left running in the background (a simulator) is ended with the
    process group when bash is done.
    """
    with tempfile.TemporaryDirectory(prefix="vnid-walkthrough-") as tmp:
        script_path, output_path = Path(tmp) / "walkthrough.sh", Path(tmp) / "output"
        script_path.write_text(script(blocks), encoding="utf-8")
        started = time.monotonic()
        with output_path.open("wb") as output:
            process = subprocess.Popen(["bash", "-euo", "pipefail", str(script_path)], cwd=ROOT,
                                       env=env, stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                returncode = -1
            finally:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                process.wait()
        seconds = time.monotonic() - started
        text = output_path.read_text(encoding="utf-8", errors="replace")
    pieces = _MARKER.split(text)
    # pieces: [before the first marker, index 0, output 0, index 1, output 1, ...]
    outputs = [pieces[i + 1].strip("\n") + "\n" for i in range(1, len(pieces), 2)]
    return Run(path, blocks, returncode, outputs, seconds)
