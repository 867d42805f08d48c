"""Deployment tests, as a user runs them.

compose.yaml, the proxies' example configs, Podman and the deployment guide.
"""
