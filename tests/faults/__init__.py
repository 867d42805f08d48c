"""Fault tests: the image crashed, stopped, starved and broken on purpose, through testkit."""
