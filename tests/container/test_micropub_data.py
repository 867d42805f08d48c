"""Photos and tokens from Micropub outlive the container.

`backup` + restore (as the guide does it) and `export` bring every photo back, byte for byte.
"""

import io
import subprocess
import tarfile
import uuid
from urllib.parse import urlsplit

from testkit.micropub_client import MicropubClient
from testkit.samples import noisy_png
from testkit.site import ApiSite, Lab, Site

PHOTO_BYTES = 30_000
BACKUP = "/data/backups/starpunk-backup.db"
# The restore step of docs/deployment/container-deployment.md ("Backup and restore"), as written there.
# The guide's restore command (the image has no shell).
RESTORE = ["python3", "-m", "starpunk.restore", "/data/starpunk.db"]
RESTORE_TIMEOUT = 120


def post_notes_with_photos(client: MicropubClient) -> dict[str, dict[str, bytes]]:
    """Post two notes with three photos; return permalink -> photo URL -> bytes.

    Two photos are uploaded with a note, one through the media endpoint.
    """
    marker = uuid.uuid4().hex[:10]
    files = [noisy_png(PHOTO_BYTES, f"{marker}-{number}") for number in range(2)]
    reply = client.create_form(
        content=f"Two photos {marker}",
        category=["kept"],
        mp_photo_alt=["First", "Second"],
        files=[("photo[]", (f"{number}.png", data, "image/png")) for number, data in enumerate(files)],
    )
    assert reply.status_code == 201, reply.text[:300]
    first = reply.headers["Location"]
    urls = [
        photo["value"] if isinstance(photo, dict) else photo for photo in client.source(first)["properties"]["photo"]
    ]
    assert len(urls) == 2, urls
    sent = noisy_png(PHOTO_BYTES, f"{marker}-sent")
    sent_url = client.upload(sent, "sent.png")
    second = client.create(f"One photo {marker}", photo=[{"value": sent_url, "alt": "Third"}])
    return {first: dict(zip(urls, files, strict=True)), second: {sent_url: sent}}


def all_photos(notes: dict[str, dict[str, bytes]]) -> dict[str, bytes]:
    """Return photo URL -> bytes over every note."""
    return {url: data for photos in notes.values() for url, data in photos.items()}


def file_name(url: str) -> str:
    """Return the stored file's name from a photo URL (/media/<name>)."""
    return urlsplit(url).path.rsplit("/", 1)[1]


def assert_served(site: Site, notes: dict[str, dict[str, bytes]]) -> None:
    """Check that every note's page shows its photos.

    And that every photo is served with the bytes that were uploaded.
    """
    for permalink, photos in notes.items():
        page = site.get(urlsplit(permalink).path)
        assert page.status_code == 200, f"{permalink}: {page.status_code}"
        for url, data in photos.items():
            assert f'src="{url}"' in page.text, f"{permalink} does not show {url}"
            served = site.get(urlsplit(url).path)
            assert served.status_code == 200, f"{url}: {served.status_code}"
            assert served.content == data, f"{url}: {len(served.content)} bytes served, not the {len(data)} uploaded"


def assert_token_works(site: Site, client: MicropubClient) -> None:
    """Check that the client's token still queries and creates on this site."""
    again = MicropubClient(site.base_url, client.endpoints, client.token)
    assert again.config()["media-endpoint"] == client.endpoints.micropub + "/media"
    url = again.create(f"Still signed in {uuid.uuid4().hex[:8]}")
    assert again.get(url).status_code == 200


def copy_out(site: ApiSite, path: str) -> dict[str, bytes]:
    """Copy a file or folder out of the container (as `docker cp` does); return member path -> bytes of every file."""
    stream, _ = site.wrapped.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        return {member.name: archive.extractfile(member).read() for member in archive.getmembers() if member.isfile()}  # type: ignore[union-attr]


def test_photos_and_tokens_survive_a_restart_and_a_new_container(lab: Lab) -> None:
    """Every photo is served intact and the token still posts.

    After a restart, and in a new container on the same volume.
    """
    volume = lab.volume()
    site = lab.site(volume)
    client = MicropubClient.sign_in(site.sign_in())
    notes = post_notes_with_photos(client)
    assert_served(site, notes)

    site.restart()
    assert_served(site, notes)
    assert_token_works(site, client)

    site.stop()
    site.remove()
    second = lab.site(volume)
    assert_served(second, notes)
    assert_token_works(second, client)


def test_backup_restore_and_export_bring_every_photo_back(lab: Lab, image_tag: str, run_labels: dict[str, str]) -> None:
    """`export` writes every photo beside the notes.

    A backup restored on a new volume serves every photo and accepts the token.
    """
    site = lab.site()
    client = MicropubClient.sign_in(site.sign_in())
    notes = post_notes_with_photos(client)
    photos = all_photos(notes)

    site.run("flask", "--app", "starpunk", "export", "/data/export")
    exported = copy_out(site, "/data/export")
    for url, data in photos.items():
        assert exported.get(f"export/media/{file_name(url)}") == data, (
            f"the export lacks {file_name(url)} or changed it"
        )
    markdown = "\n".join(text.decode() for name, text in exported.items() if name.endswith(".md"))
    assert all(f"media/{file_name(url)}" in markdown for url in photos), "the exported notes do not name their photos"

    said = site.run("flask", "--app", "starpunk", "backup", BACKUP)
    assert f"and {len(photos)} photo file(s)" in said, said
    (backup,) = copy_out(site, BACKUP).values()
    site.stop()

    # Restored on a new machine: an empty volume, the guide's restore command, a new container.
    volume = lab.volume()
    labels = [argument for key, value in run_labels.items() for argument in ("--label", f"{key}={value}")]
    restore = subprocess.run(
        ["docker", "run", "--rm", "-i", *labels, "-v", f"{volume}:/data", image_tag, *RESTORE],
        input=backup,
        capture_output=True,
        timeout=RESTORE_TIMEOUT,
        check=False,
    )
    assert restore.returncode == 0, restore.stderr.decode(errors="replace")
    restored = lab.site(volume)
    restored.wait_for_log(f"restored {len(photos)} photo file(s) from the backup")
    assert_served(restored, notes)
    assert_token_works(restored, client)
