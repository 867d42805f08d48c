"""A site the previous release filled, upgraded in place as the guide says, then rolled back as the guide says.

The quick start installs the previous release; its own admin pages write
notes, an edit, a draft and a deleted note, sign the owner in and leave a
login link unused. The guide's upgrade block backs up and starts this image
on the same volume with the same settings; its rollback block restores the
pre-upgrade backup under the previous release's image.
"""

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from testkit.cli import CliSite
from testkit.owner import Owner
from tests.upgrade.content import Filled, Reading, fill, migration_rows, note_rows, read
from tests.upgrade.installation import Installation

APPLIED_LINE = re.compile(r"starpunk: applied (\d+) migration\(s\): (.*)$", re.MULTILINE)


def _admin_list(owner: Owner) -> dict[str, int]:
    """Return slug -> id of every note on /admin: only the signed-in owner gets the list."""
    return {slug: note.id for slug, note in owner.notes().items()}


# Since 0.7.0 a note's headings sit right below the page's own heading (a
# Markdown "##" is <h2>, not <h3>): the one rendering change an upgrade makes
# on purpose (CHANGELOG). Heading levels are compared without their number.
_HEADING_LEVEL = re.compile(r"<(/?)h[1-6]\b")


def _outline_free(html: str | None) -> str | None:
    return None if html is None else _HEADING_LEVEL.sub(r"<\1h", html)


def _entries_outline_free(entries: dict[str, tuple[str | None, ...]]) -> dict[str, tuple[str | None, ...]]:
    return {key: tuple(_outline_free(value) for value in entry) for key, entry in entries.items()}


def _check_reading(site: CliSite, filled: Filled, expected: Reading, deleted_status: int) -> None:
    reading = read(site.get, filled.published)
    pages = {path: _outline_free(html) for path, html in reading.pages.items()}
    assert pages == {path: _outline_free(html) for path, html in expected.pages.items()}, (
        "a note's page shows other content than before"
    )
    for path, entries in expected.feeds.items():
        assert _entries_outline_free(reading.feeds[path]) == _entries_outline_free(entries), (
            f"{path}: an entry's id, link, content or date changed"
        )
    assert site.get(f"/note/{filled.draft}").status_code == 404, f"/note/{filled.draft} (a draft) should stay hidden"
    # Since Micropub's undelete (0.7.0) a deleted note answers 410 Gone; 0.6.0 answered 404.
    deleted = site.get(f"/note/{filled.deleted}")
    assert deleted.status_code == deleted_status, f"/note/{filled.deleted} (deleted) should answer {deleted_status}"
    assert "Published, then deleted" not in deleted.text, "a deleted note's text is shown"


@dataclass
class Upgraded:
    """A site the release filled, upgraded in place by the guide's block and checked."""

    owner: Owner
    filled: Filled
    before: Reading
    rows: list[list[Any]]
    migrations: list[list[Any]]
    admin: dict[str, int]
    new: CliSite


def _fill_and_upgrade(installation: Installation) -> Upgraded:
    """Fill a site through the release's own pages, upgrade it with the guide's block and check it.

    Migrations apply once, notes come through byte for byte in pages and feeds, the owner stays signed in.
    """
    installation.run("run", latest=installation.previous_image)
    old = installation.site()
    old.wait_healthy()
    owner = old.sign_in()
    filled = fill(owner)
    unused_link = old.login_link()
    rows, migrations = note_rows(old), migration_rows(old)
    before = read(old.get, filled.published)
    assert len(before.pages) == len(filled.published)
    for path, entries in before.feeds.items():
        assert sorted(entries) == sorted(installation.settings()["SITE_URL"] + page for page in before.pages), path
    admin = _admin_list(owner)

    installation.run("upgrade")
    new = installation.site()
    new.wait_healthy()
    assert new.image() == installation.image

    shipped = {
        int(name[:4]): name
        for name in new.run("python3", "-c", "import os; print(*os.listdir('/app/starpunk/migrations'))").split()
        if name.endswith(".sql")
    }
    expected = {version: name for version, name in shipped.items() if version not in {row[0] for row in migrations}}
    after = {row[0]: row for row in migration_rows(new)}
    assert [after[row[0]] for row in migrations] == migrations, (
        "the release's own bookkeeping rows should stay as they were"
    )
    assert {version: row[1] for version, row in after.items()} == {
        **{row[0]: row[1] for row in migrations},
        **expected,
    }, "the new image should apply exactly the migrations the release lacked, each recorded once"
    logged = APPLIED_LINE.findall(new.logs())
    assert logged == (
        [(str(len(expected)), ", ".join(expected[version] for version in sorted(expected)))] if expected else []
    )

    assert note_rows(new) == rows, "every note, draft and deleted note should come through unchanged"
    _check_reading(new, filled, before, deleted_status=410)
    assert _admin_list(owner) == admin, "the owner signed in under the release should still be signed in"
    Owner(new.base_url, unused_link)  # the unused login link still signs in
    reused = new.get(urlsplit(owner.login_url).path, allow_redirects=False)
    assert reused.status_code == 400, "a login link used before the upgrade should stay used"

    after_upgrade = migration_rows(new)
    new.restart()
    assert migration_rows(new) == after_upgrade, "a second start should apply nothing"
    assert len(APPLIED_LINE.findall(new.logs())) == len(logged), "a second start should log no migration"
    return Upgraded(owner, filled, before, rows, migrations, admin, new)


def test_upgrade_keeps_every_note_and_session_and_rollback_brings_the_release_back(installation: Installation) -> None:
    """Upgrade the previous release in place: migrations once, notes byte for byte, owner signed in.

    The guide's rollback block restores it all under the previous release's image.
    """
    upgraded = _fill_and_upgrade(installation)
    owner = upgraded.owner
    written_after = owner.publish("Written after the upgrade: the rollback to the pre-upgrade backup drops it.")
    installation.run("rollback")
    back = installation.site()
    back.wait_healthy()
    assert back.image() == installation.previous_image
    assert migration_rows(back) == upgraded.migrations
    assert note_rows(back) == upgraded.rows
    # 0.6.0 answered 404 for a deleted note; every later release 410 Gone.
    _check_reading(back, upgraded.filled, upgraded.before, deleted_status=410)
    assert back.get(f"/note/{written_after}").status_code == 404
    assert _admin_list(owner) == upgraded.admin, "the owner's session is in the backup, so the owner is still signed in"


def test_an_older_release_upgrades_in_one_step(older_installation: Installation) -> None:
    """A site of every release before the previous one upgrades to this code in one step, losing nothing."""
    _fill_and_upgrade(older_installation)
