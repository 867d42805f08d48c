"""Unit tests: the app in-process, one module per starpunk module."""
