"""A migration that fails halfway: the database stays exactly as it was, and the container stops with one clear line.

The broken migration goes into a throwaway image derived from the one under
test, numbered after the last migration it ships: three statements that
work (a table, a column, an update of every note), then one that fails.
"""

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from testkit.site import Lab, unique_name
from tests.deploy import guide

BROKEN_SQL = """\
-- Deliberately broken (tests/upgrade): three statements that work, then one that fails.
CREATE TABLE upgrade_probe (id INTEGER PRIMARY KEY);
ALTER TABLE notes ADD COLUMN upgrade_probe TEXT;
UPDATE notes SET upgrade_probe = 'half-applied';
INSERT INTO upgrade_probe_missing (id) VALUES (1);
"""
DUMP_SCRIPT = (
    "import hashlib, sqlite3; conn = sqlite3.connect('file:/data/starpunk.db?mode=rw', uri=True);"
    " print(hashlib.sha256('\\n'.join(conn.iterdump()).encode()).hexdigest(),"
    " conn.execute('SELECT count(*) FROM notes').fetchone()[0])"
)
GUIDE_HEADING = "migration ... failed and was rolled back"


def _shape(line: str) -> str:
    """Return a failure line without the migration's name and SQLite's reason, which differ from case to case."""
    return re.sub(r"migration \d{4}_[a-z0-9_]+\.sql", "migration NNNN_name.sql", line).rsplit(": ", 1)[0]


@pytest.fixture
def broken_image(
    docker_client: docker.DockerClient, image_tag: str, run_labels: dict[str, str]
) -> Iterator[tuple[str, str]]:
    """Build an image from the one under test plus a broken migration; return its tag and the migration's file name."""
    # The image has no shell or ls: its own Python lists the folder.
    listing = "import os; print(*sorted(os.listdir('/app/starpunk/migrations')))"
    shipped = docker_client.containers.run(
        image_tag,
        entrypoint=["python3", "-c", listing],
        network_mode="none",
        labels=run_labels,
        # /data on tmpfs: the image's VOLUME would otherwise leave an anonymous volume behind (remove keeps it).
        tmpfs={"/data": ""},
        remove=True,
    )
    last = max(int(name[:4]) for name in shipped.decode().split() if name.endswith(".sql"))
    name = f"{last + 1:04d}_upgrade_probe_broken.sql"
    tag = f"{unique_name('starpunk-broken-migration')}:test"
    with tempfile.TemporaryDirectory() as context:
        Path(context, name).write_text(BROKEN_SQL)
        Path(context, "Dockerfile").write_text(f"FROM {image_tag}\nCOPY {name} /app/starpunk/migrations/{name}\n")
        docker_client.images.build(path=context, tag=tag, labels=run_labels, rm=True)
    try:
        yield tag, name
    finally:
        docker_client.images.remove(tag, force=True)


def _dump(docker_client: docker.DockerClient, image: str, volume: str, labels: dict[str, str]) -> str:
    output = docker_client.containers.run(
        image,
        entrypoint=["python3", "-c", DUMP_SCRIPT],
        volumes={volume: {"bind": "/data", "mode": "rw"}},
        network_mode="none",
        labels=labels,
        remove=True,
    )
    return output.decode().strip()


def test_failed_migration_changes_nothing_and_stops_with_one_line(
    lab: Lab,
    docker_client: docker.DockerClient,
    image_tag: str,
    version: str,
    broken_image: tuple[str, str],
    run_labels: dict[str, str],
) -> None:
    """The broken image exits non-zero with one line naming the migration.

    The database is unchanged; this image still starts.
    """
    site = lab.site()
    owner = site.sign_in()
    slugs = [owner.publish(f"Note {number} before the broken upgrade.") for number in range(1, 4)]
    owner.publish("A draft before the broken upgrade.", published=False)
    site.stop()
    volume = lab.volumes[-1]
    before = _dump(docker_client, image_tag, volume, run_labels)

    tag, name = broken_image
    broken = Lab(docker_client, tag, version, run_labels)
    try:
        attempt = broken.site(data=volume, wait=False)
        exit_code = attempt.wait_exit()
        state, logs = attempt.state(), attempt.logs()
    finally:
        broken.cleanup()
    assert state["Status"] == "exited" and exit_code != 0, f"the container should stop with an error, not {state}"
    lines = logs.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in logs, f"the logs should hold one line, not:\n{logs}"
    line = lines[0]
    assert line.startswith(
        f"starpunk: migration {name} failed and was rolled back, the database is unchanged by it: "
    ), line
    assert line.endswith("no such table: upgrade_probe_missing"), (
        "the fourth statement should fail, after three that worked"
    )
    assert [_shape(line)] == [_shape(quoted) for quoted in guide.quoted_in(GUIDE_HEADING)], (
        "the guide should quote this line"
    )
    assert _dump(docker_client, image_tag, volume, run_labels) == before, "the database should be exactly as before"

    site.start_again()
    assert all(site.get(f"/note/{slug}").status_code == 200 for slug in slugs)
