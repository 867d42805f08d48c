"""compose.yaml's `replicate` profile played for real with docker-compose: the sidecar replicates, the volume is
lost, and `up` on a new volume brings the note and its photo back before the site serves.

One change to the copied compose.yaml is not a setting: the sidecar joins the
host's network (`network_mode: host` instead of the project's network),
because the test's object store listens on 127.0.0.1, which a container on a
bridge cannot reach; a real store is reached over the network as written.
"""

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.objectstore import ObjectStore
from testkit.samples import png, publish_with_photos
from testkit.waiting import wait_for
from tests.deploy.test_compose import LABELS_FILE, Stack

PROFILE = ("--profile", "replicate")
ON_THE_PROJECT_NETWORK = """    restart: unless-stopped
    networks:
      - starpunk

volumes:"""
ON_THE_HOST_NETWORK = """    restart: unless-stopped
    network_mode: host

volumes:"""
CATCH_UP_TIMEOUT = 30.0


class ReplicatedStack(Stack):
    """compose.yaml with the replicate profile: the sidecar's image and the store's settings in .env."""

    def __init__(self, folder: Path, image: str, labels: dict[str, str], sidecar: str, store: ObjectStore) -> None:
        super().__init__(folder, image, labels)
        compose = (folder / "compose.yaml").read_text()
        assert compose.count(ON_THE_PROJECT_NETWORK) == 1, "compose.yaml's litestream service changed its networks"
        (folder / "compose.yaml").write_text(compose.replace(ON_THE_PROJECT_NETWORK, ON_THE_HOST_NETWORK))
        settings = {
            **store.litestream_env(f"compose-{secrets.token_hex(4)}"),
            "REPLICATION_SOCKET": "/data/.litestream.sock",
            "STARPUNK_LITESTREAM_IMAGE": sidecar,
        }
        with (folder / ".env").open("a") as env:
            env.write("".join(f"{key}={value}\n" for key, value in settings.items()))
        self.settings.update(settings)
        labelled = json.loads((folder / LABELS_FILE).read_text())
        labelled["services"]["litestream"] = {"labels": labels}
        (folder / LABELS_FILE).write_text(json.dumps(labelled))
        self.env.pop("STARPUNK_LITESTREAM_IMAGE", None)


@pytest.fixture
def replicated_stack(
    tmp_path: Path,
    image_tag: str,
    image: object,
    sidecar_image: str,
    objectstore: ObjectStore,
    run_labels: dict[str, str],
) -> Iterator[ReplicatedStack]:
    """A compose project with the replicate profile; `down -v` afterwards, whatever happened."""
    stack = ReplicatedStack(tmp_path, image_tag, run_labels, sidecar_image, objectstore)
    try:
        yield stack
    finally:
        stack.forget()
        stack.compose(*PROFILE, "down", "--volumes", "--remove-orphans", check=False)


def test_the_replicate_profile_brings_a_lost_volume_back(replicated_stack: ReplicatedStack) -> None:
    """up with the profile, publish, wait for /health/replication, kill and lose the volume, up: all back."""
    stack = replicated_stack
    stack.compose(*PROFILE, "up", "--detach")
    first = stack.site()
    first.wait_healthy()
    photo = png(40, 30, (200, 40, 90))
    publish_with_photos(first.sign_in(), "Kept by compose's replicate profile", [(photo, "A red rectangle")])
    wait_for(
        lambda: first.get("/health/replication").status_code,
        "/health/replication 200 under compose",
        CATCH_UP_TIMEOUT,
        0.1,
        lambda code: code == 200,
    )
    stack.compose(*PROFILE, "kill")
    stack.forget()
    stack.compose(*PROFILE, "down", "--volumes")

    stack.compose(*PROFILE, "up", "--detach")
    again = stack.site()
    again.wait_healthy()
    assert "1 note(s), 1 photo file(s) written back" in again.logs()
    assert again.sqlite("SELECT content FROM notes") == [["Kept by compose's replicate profile"]]
    (name,) = again.sqlite("SELECT file_name FROM note_photos")[0]
    assert again.get(f"/media/{name}").content == photo
