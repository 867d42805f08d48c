"""StarPunk's tests: a package, so suites may share module names (tests/unit/test_health.py, tests/container/test_health.py)."""
