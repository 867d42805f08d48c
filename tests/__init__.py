"""StarPunk's tests: a package, so suites may share module names.

For example tests/unit/test_health.py and tests/container/test_health.py.
"""
