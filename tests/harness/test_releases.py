"""The previous release is found by its tag or the commit releases.toml records, or the session says what to fetch."""

import re
import subprocess
from pathlib import Path

import pytest

from harness import ROOT, HarnessError
from harness.image import app_version
from harness.upgrade import (
    RELEASES_FILE,
    Release,
    older_releases,
    previous_release,
    release_commit,
    releases,
    version_key,
)


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two commits, the first tagged v1.0.0."""
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "--quiet")
    for number in (1, 2):
        (path / "file").write_text(f"{number}\n")
        _git(path, "add", "file")
        _git(
            path,
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.test",
            "commit",
            "--quiet",
            "-m",
            f"commit {number}",
        )
        if number == 1:
            _git(
                path, "-c", "user.name=Test", "-c", "user.email=test@example.test", "tag", "-a", "v1.0.0", "-m", "1.0.0"
            )
    return path


def _release(commit: str) -> Release:
    return Release(version="1.0.0", tag="v1.0.0", commit=commit, host_python="3.11")


def test_the_repositorys_own_file_names_a_release_at_or_below_the_current_version() -> None:
    release = previous_release()
    assert release in releases(RELEASES_FILE)
    assert release.image == f"starpunk-release:{release.tag}"


def test_the_newest_release_at_or_below_the_current_version_is_the_previous_one(tmp_path: Path) -> None:
    listed = tmp_path / "releases.toml"
    entries = [("0.6.0", "a" * 40), ("0.10.0", "b" * 40), ("0.7.0", "c" * 40)]
    listed.write_text(
        "".join(
            f'[[release]]\nversion = "{version}"\ntag = "v{version}"\ncommit = "{commit}"\nhost_python = "3.11"\n\n'
            for version, commit in entries
        )
    )
    assert previous_release("0.9.1", listed).tag == "v0.7.0"
    assert previous_release("0.10.0", listed).tag == "v0.10.0"
    with pytest.raises(HarnessError, match="no release at or below the current version 0.5.0"):
        previous_release("0.5.0", listed)


def test_older_releases_are_those_below_the_previous_one(tmp_path: Path) -> None:
    listed = tmp_path / "releases.toml"
    entries = [("0.7.0", "c" * 40), ("0.6.0", "a" * 40), ("0.8.0", "d" * 40)]
    listed.write_text(
        "".join(
            f'[[release]]\nversion = "{version}"\ntag = "v{version}"\ncommit = "{commit}"\nhost_python = "3.11"\n\n'
            for version, commit in entries
        )
    )
    assert [release.tag for release in older_releases("0.8.0", listed)] == ["v0.6.0", "v0.7.0"]
    assert [release.tag for release in older_releases("0.7.5", listed)] == ["v0.6.0"]
    assert older_releases("0.6.0", listed) == []


def test_a_release_entry_missing_a_field_is_named(tmp_path: Path) -> None:
    listed = tmp_path / "releases.toml"
    listed.write_text('[[release]]\nversion = "0.6.0"\ntag = "v0.6.0"\n')
    with pytest.raises(HarnessError, match="needs exactly version, tag, commit and host_python"):
        releases(listed)


def test_the_tag_finds_the_release(repo: Path) -> None:
    tagged = _git(repo, "rev-parse", "v1.0.0^{commit}")
    assert release_commit(_release(tagged), say=lambda line: None, repo=repo) == tagged


def test_a_tag_that_names_another_commit_than_the_record_is_refused(repo: Path) -> None:
    other = _git(repo, "rev-parse", "HEAD")
    with pytest.raises(HarnessError, match="a release tag never moves"):
        release_commit(_release(other), say=lambda line: None, repo=repo)


def test_without_the_tag_the_recorded_commit_finds_the_release(repo: Path) -> None:
    tagged = _git(repo, "rev-parse", "v1.0.0^{commit}")
    _git(repo, "tag", "--delete", "v1.0.0")
    said: list[str] = []
    assert release_commit(_release(tagged), say=said.append, repo=repo) == tagged
    assert any("no tag v1.0.0" in line for line in said)


def test_without_tag_or_commit_the_error_says_what_to_fetch(repo: Path) -> None:
    _git(repo, "tag", "--delete", "v1.0.0")
    with pytest.raises(HarnessError) as failure:
        release_commit(_release("f" * 40), say=lambda line: None, repo=repo)
    message = str(failure.value)
    assert "cannot find release v1.0.0" in message and "ffffffffffff" in message
    assert "git fetch origin tag v1.0.0" in message


def test_a_shallow_clone_without_tags_fetches_the_tag_from_origin(repo: Path, tmp_path: Path) -> None:
    tagged = _git(repo, "rev-parse", "v1.0.0^{commit}")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", "--no-tags", f"file://{repo}", str(clone)],
        check=True,
        capture_output=True,
    )
    assert subprocess.run(["git", "-C", str(clone), "cat-file", "-e", tagged], capture_output=True).returncode != 0
    said: list[str] = []
    assert release_commit(_release(tagged), say=said.append, repo=clone) == tagged
    assert any("fetching the tag from origin" in line for line in said)


DATED_SECTION = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", re.MULTILINE)
ANY_SECTION = re.compile(r"^## \[([^]]+)\]", re.MULTILINE)


def _tags_at_head() -> set[str]:
    return set(_git(ROOT, "tag", "--points-at", "HEAD").split())


def test_version_changelog_and_releases_agree() -> None:
    """The package version is CHANGELOG.md's newest dated section and releases.toml's newest release.

    Only the release's own commit (tagged vX.Y.Z) may lack its releases.toml entry, added in the next commit.
    """
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    dated = [version for version, _ in DATED_SECTION.findall(changelog)]
    sections = ANY_SECTION.findall(changelog)
    assert sections == dated or sections == ["Unreleased", *dated], (
        f"CHANGELOG.md's sections are {sections}: an optional [Unreleased] first, then releases as [X.Y.Z] - YYYY-MM-DD"
    )
    current = app_version()
    assert dated and dated[0] == current, (
        f"starpunk/__init__.py says {current}, CHANGELOG.md's newest dated section is {dated[:1]}: "
        "date the section and set the version in the same commit"
    )
    listed = sorted((release.version for release in releases(RELEASES_FILE)), key=version_key)
    if listed[-1] != current:
        assert f"v{current}" in _tags_at_head(), (
            f"releases.toml's newest release is {listed[-1]}, the version is {current}: "
            f"tag v{current} and list it in releases.toml with its commit"
        )
        listed.append(current)
    assert sorted(dated, key=version_key) == listed, (
        f"CHANGELOG.md dates {sorted(dated, key=version_key)}, releases.toml lists {listed}: every release is in both"
    )
