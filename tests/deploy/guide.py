"""Read docs/deployment/container-deployment.md and run a block as written.

What is read: its tested shell blocks and the error texts it quotes.
"""

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT
from testkit import cli
from testkit.env import loopback_env

GUIDE = ROOT / "docs" / "deployment" / "container-deployment.md"
MARKER = "<!-- guide-test -->"
# Blocks `nox -s upgrade` runs against the previous release (tests/upgrade).
UPGRADE_MARKER = "<!-- upgrade-test -->"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# The container's name where it stands alone: not flask's `--app starpunk`, not starpunk.env or starpunk:tag.
CONTAINER = re.compile(r"(?<![\w./-])(?<!--app )starpunk(?=\s|\)|$|:/)", re.MULTILINE)
# Any fixed name a test forgot to replace.
LEFT_OVER = re.compile(r"(?<![\w./-])(?<!--app )starpunk(?![\w.-])")
BLOCK_TIMEOUT = 180


@dataclass
class Block:
    """One shell block of the guide marked to be run, with the line it starts on."""

    line: int
    script: str


def text() -> str:
    """Return the guide's Markdown."""
    return GUIDE.read_text(encoding="utf-8")


def tested_blocks(marker: str = MARKER) -> list[Block]:
    """Return the shell blocks marked with marker (<!-- guide-test --> by default), in the order they appear."""
    guide = text()
    block = re.compile("^" + re.escape(marker) + r"\n```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
    blocks = [Block(guide.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in block.finditer(guide)]
    markers = re.findall("^" + re.escape(marker) + "$", guide, re.MULTILINE)
    assert len(blocks) == len(markers), f"every {marker} must be followed directly by a ```sh block"
    return blocks


def blocks_by_role(marker: str, roles: dict[str, str], exact: bool = True) -> dict[str, Block]:
    """Return the blocks marked with marker by role, in the order roles names them.

    Each is recognised by a string only it holds.
    With exact, every marked block must play one role; otherwise blocks of no role are passed over.
    """
    found: dict[str, Block] = {}
    for block in tested_blocks(marker):
        matches = [role for role, key in roles.items() if key in block.script]
        assert len(matches) <= 1, f"guide block at line {block.line} matches several roles: {matches}"
        assert matches or not exact, f"the {marker} block at line {block.line} matches no role of {list(roles)}"
        if matches:
            found[matches[0]] = block
    assert list(found) == list(roles), (
        f"the guide's {marker} blocks should be {list(roles)} in this order, found {list(found)}"
    )
    return found


def labelled(script: str, labels: dict[str, str]) -> str:
    """Return script with labels on what its `docker run` and `docker volume create` make.

    The labels let the run's sweep find them.
    """
    options = shlex.join(cli.label_args(labels))
    return script.replace("docker run ", f"docker run {options} ").replace(
        "docker volume create", f"docker volume create {options}"
    )


def run_block(role: str, block: Block, script: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run a block's script (its names made the test's own) with bash, set -euo pipefail, in folder.

    Fail showing it and its output.
    """
    script = "set -euo pipefail\n" + script
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        env=loopback_env(),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"guide block `{role}` (line {block.line}) exited {result.returncode}:\n{script}\n"
        f"--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-2000:]}"
    )
    return result


def quoted_in(heading: str) -> list[str]:
    """Return the fenced blocks of the section whose heading contains heading (the texts a user sees)."""
    guide = text()
    headings = list(re.finditer(r"^#{2,4} (.*)$", guide, re.MULTILINE))
    index = next((i for i, match in enumerate(headings) if heading in match.group(1)), None)
    assert index is not None, f"the guide has no section heading containing {heading!r}"
    end = headings[index + 1].start() if index + 1 < len(headings) else len(guide)
    blocks = [match.group(2).strip() for match in FENCE.finditer(guide, headings[index].end(), end)]
    assert blocks, f"no code block in the section {heading!r}"
    return blocks
