"""Read docs/deployment/container-deployment.md: its tested shell blocks and the error texts it quotes."""

import re
from dataclasses import dataclass

from harness import ROOT

GUIDE = ROOT / "docs" / "deployment" / "container-deployment.md"
MARKER = "<!-- guide-test -->"
# Blocks `nox -s upgrade` runs against the previous release (tests/upgrade).
UPGRADE_MARKER = "<!-- upgrade-test -->"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


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
