"""Shared test data: the hostile-input corpus used by unit, container and browser tests."""

from pathlib import Path

SEPARATOR = "\n%%\n"


def xss_payloads():
    """Return every XSS payload in xss.md, one note's content each."""
    text = (Path(__file__).with_name("xss.md")).read_text(encoding="utf-8")
    return [block.strip("\n") for block in text.split(SEPARATOR) if block.strip()]
