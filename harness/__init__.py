"""Helpers behind the nox sessions: find or start a container engine, get a base image, build StarPunk's image."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class HarnessError(Exception):
    """A prerequisite is missing; the message says what to do about it."""
