"""Deployment tests: compose.yaml, the proxies' example configs, Podman and the deployment guide, as a user runs them."""
