"""/health and the engine's own health status, for a sound and for a broken data volume."""

import pytest

from testkit.site import Lab

# Probe every half second so the engine's verdict comes in seconds, not minutes;
# the test command itself stays the one the image declares.
FAST_HEALTHCHECK = {"interval": 500_000_000, "timeout": 4_000_000_000, "retries": 3, "start_period": 0}


def test_health_reports_healthy_with_given_version_and_environment(lab: Lab, version: str) -> None:
    """/health answers 200 JSON with the VERSION and ENVIRONMENT the container was given."""
    site = lab.site()
    reply = site.get("/health")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json() == {"status": "healthy", "version": version, "environment": "production"}


def test_health_reports_version_from_environment(lab: Lab) -> None:
    """The VERSION variable given at run time wins over the one baked into the image."""
    site = lab.site(env={"VERSION": "9.9.9-test"})
    assert site.get("/health").json()["version"] == "9.9.9-test"


def test_engine_marks_container_healthy(lab: Lab) -> None:
    """The image's HEALTHCHECK turns the engine's status to healthy."""
    site = lab.site(healthcheck=FAST_HEALTHCHECK)
    assert site.wait_health_status("healthy") == "healthy"


@pytest.mark.parametrize(
    ("breakage", "command", "check", "verdict"),
    [
        (
            "read-only data folder",
            ["python3", "-c", "import os; os.chmod('/data', 0o555)"],
            "data_path",
            "not writable",
        ),
        (
            "database file removed",
            ["python3", "-c", "import glob, os; [os.remove(path) for path in glob.glob('/data/starpunk.db*')]"],
            "database",
            None,
        ),
    ],
)
def test_broken_data_volume_reports_unhealthy(
    lab: Lab, breakage: str, command: list[str], check: str, verdict: str | None
) -> None:
    """A broken data volume makes /health answer 503 with the failing check, and the engine says unhealthy."""
    site = lab.site(healthcheck=FAST_HEALTHCHECK)
    site.wait_health_status("healthy")
    site.run(*command, user="0")
    reply = site.get("/health")
    assert reply.status_code == 503, f"{breakage}: {reply.status_code} {reply.text}"
    body = reply.json()
    assert body["status"] == "unhealthy"
    assert body["checks"][check] != "ok"
    if verdict:
        assert body["checks"][check] == verdict
    # The engine's verdict comes after its next probes, on its own schedule.
    assert site.wait_health_status("unhealthy") == "unhealthy", breakage
