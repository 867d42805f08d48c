"""A read-only, deleted or damaged database: one clear log line, unhealthy health, no restart loop that hides why."""

import time

import pytest

from testkit.site import Lab, Site

READ_ONLY_LINE = (
    "starpunk: /data is mounted read-only; mount it read-write (drop :ro or read_only from the volume): "
    "the database lives there"
)
EXIT_CANNOT_CREATE = 73
RETRIES = 3
STORAGE_MESSAGE = "Nothing was changed"
BREAKAGES = {
    "deleted": (
        ["python3", "-c", "import glob, os; [os.remove(path) for path in glob.glob('/data/starpunk.db*')]"],
        "unable to open database file",
    ),
    "corrupted": (
        ["python3", "-c", "f = open('/data/starpunk.db', 'r+b'); f.write(b'not a database!!' * 64); f.close()"],
        "file is not a database",
    ),
}


def log_lines(site: Site) -> list[str]:
    """Return the container's non-empty log lines, across every restart."""
    return [line for line in site.logs().splitlines() if line.strip()]


def given_up(site: Site) -> dict:
    """Wait until the engine has stopped restarting the container (exited after RETRIES restarts); return its state."""
    return site.wait_state(
        f"exited after {RETRIES} restarts", lambda s: s["Status"] == "exited" and s["RestartCount"] == RETRIES
    )


def test_read_only_data_stops_with_the_same_clear_line_at_every_restart(lab: Lab) -> None:
    """`-v vol:/data:ro` with --restart on-failure:3.

    It exits 73 each time, with one line naming the cause each time, then it stays stopped.
    """
    site = lab.site(
        lab.volume(), data_mode="ro", wait=False, restart_policy={"Name": "on-failure", "MaximumRetryCount": RETRIES}
    )
    final = given_up(site)
    assert final["ExitCode"] == EXIT_CANNOT_CREATE
    # The engine may count the last exit before it has collected that attempt's line.
    site.wait_for_log(READ_ONLY_LINE, count=RETRIES + 1)
    assert log_lines(site) == [READ_ONLY_LINE] * (RETRIES + 1)


def test_read_only_data_under_unless_stopped_keeps_saying_why(lab: Lab) -> None:
    """With --restart unless-stopped the engine keeps retrying (with back-off).

    Every attempt logs the same clear line.
    """
    site = lab.site(lab.volume(), data_mode="ro", wait=False, restart_policy={"Name": "unless-stopped"})
    # While an attempt runs the engine shows ExitCode 0; between attempts ("restarting",
    # the back-off) it shows the exit code of the attempt that just ended.
    current = site.wait_state(
        "two restarts, then a back-off", lambda s: s["RestartCount"] >= 2 and s["Status"] == "restarting", timeout=20
    )
    site.wait_for_log(READ_ONLY_LINE, count=2)
    lines = log_lines(site)
    assert len(lines) >= 2 and set(lines) == {READ_ONLY_LINE}, lines
    assert current["ExitCode"] == EXIT_CANNOT_CREATE


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_database_broken_under_a_running_site(lab: Lab, breakage: str) -> None:
    """The database deleted or overwritten while serving.

    /health names it, pages say nothing changed, one log line, no crash or restart.
    """
    command, reason = BREAKAGES[breakage]
    site = lab.site(restart_policy={"Name": "on-failure"})
    site.sign_in().publish(f"A note written before the database was {breakage}.")
    started_at = site.state()["StartedAt"]
    site.run(*command)

    health = site.get("/health")
    assert health.status_code == 503
    assert health.json()["checks"] == {"database": "unavailable", "data_path": "ok"}
    for path in ("/", "/feed.xml", "/note/anything"):
        page = site.get(path)
        assert page.status_code == 503, f"{path}: {page.status_code}"
        assert STORAGE_MESSAGE in page.text and "Traceback" not in page.text
    # Keep asking for a few seconds: no worker dies and the engine restarts nothing.
    for _ in range(20):
        assert site.get("/health").status_code == 503
        time.sleep(0.1)
    current = site.state()
    assert current["Running"] and current["RestartCount"] == 0 and current["StartedAt"] == started_at, current
    logs = site.wait_for_log(f"ERROR starpunk: health: database check failed: {reason}")
    assert "Traceback" not in logs and "Worker failed to boot" not in logs


def test_corrupted_database_at_start_says_why_at_every_restart(lab: Lab) -> None:
    """A damaged database stops the start with one line naming it, repeated at each restart, never a traceback."""
    site = lab.site(restart_policy={"Name": "on-failure", "MaximumRetryCount": RETRIES})
    site.run(*BREAKAGES["corrupted"][0])
    site.stop()
    site.start_again(wait=False)
    final = given_up(site)
    assert final["ExitCode"] != 0
    line = "starpunk: cannot open the database in DATA_PATH=/data: file is not a database"
    logs = site.wait_for_log(line, count=RETRIES + 1)
    assert logs.count(line) == RETRIES + 1
    assert "Traceback" not in logs
