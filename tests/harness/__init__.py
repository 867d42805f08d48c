"""Tests of the harness's own helpers."""
