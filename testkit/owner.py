"""The site's owner, signed in with a one-time login link: writes, edits, lists and deletes notes on the admin pages.

It talks to any base URL: a container's published port on 127.0.0.1, or a
proxy in front of it (pass testkit.web.https_session, which trusts the proxy's CA).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from .web import TIMEOUT, csrf_token, plain_session

COOKIE = "starpunk_session"
# One row of /admin: the note's delete form, its CSRF token and the slug its button names.
# Notes on one page of /admin: starpunk.admin.ADMIN_PAGE_SIZE (tests/harness/test_testkit.py holds them equal).
ADMIN_PAGE_SIZE = 50
DELETE_FORM = re.compile(
    r'action="/admin/delete/(\d+)">\s*<input type="hidden" name="csrf_token" value="([^"]+)">'
    r'\s*<button[^>]*aria-label="Delete ([^"]+)"'
)


@dataclass(frozen=True)
class AdminNote:
    """A note as /admin lists it: its id and the CSRF token of its delete form."""

    id: int
    csrf_token: str


class Owner:
    """A requests session signed in as the owner with a login link made by `flask --app starpunk login-link`."""

    def __init__(self, base_url: str, login_url: str, http: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.login_url = login_url
        self.http = http or plain_session()
        reply = self.http.get(self.url(urlsplit(login_url).path), allow_redirects=False, timeout=TIMEOUT)
        assert reply.status_code == 303, f"login link answered {reply.status_code}: {reply.text[:300]}"
        assert urlsplit(reply.headers["Location"]).path == "/admin", reply.headers["Location"]
        self.set_cookie = reply.headers.get("Set-Cookie", "")
        cookie = reply.cookies.get(COOKIE)
        assert cookie, f"no {COOKIE} cookie in {self.set_cookie!r}"
        self.cookie: str = cookie
        if self.base_url.startswith("http://"):
            # The cookie is Secure (SITE_URL is https): requests would not send it over plain
            # http, so send it ourselves.
            self.http.headers["Cookie"] = f"{COOKIE}={cookie}"

    def url(self, path: str) -> str:
        """Return the absolute URL of a path on the site."""
        return self.base_url + path

    def session(self) -> requests.Session:
        """Return a new session carrying the owner's cookie (one per thread: sessions are not shared across threads)."""
        http = plain_session()
        http.headers["Cookie"] = f"{COOKIE}={self.cookie}"
        return http

    def get(self, path: str, status: int = 200) -> requests.Response:
        """GET a page as the owner and check its status."""
        reply = self.http.get(self.url(path), allow_redirects=False, timeout=TIMEOUT)
        assert reply.status_code == status, f"{path} answered {reply.status_code}: {reply.text[:300]}"
        return reply

    def csrf_token(self) -> str:
        """Return the CSRF token of the form on /admin/new (it lasts as long as the session)."""
        return csrf_token(self.get("/admin/new").text, "/admin/new")

    def post_note(
        self,
        content: str,
        published: bool = True,
        csrf_token: str = "",
        timeout: float = TIMEOUT,
        photos: Sequence[tuple[bytes, str]] = (),
        tags: str = "",
    ) -> requests.Response:
        """POST the new-note form and return the reply, whatever it is (network errors are raised).

        photos are PNG files with their alt text, as the form's photo slots take them; tags are comma-separated.
        """
        form = {"csrf_token": csrf_token or self.csrf_token(), "content": content}
        if published:
            form["published"] = "y"
        if tags:
            form["tags"] = tags
        files = {}
        for slot, (data, alt) in enumerate(photos, start=1):
            files[f"photo_{slot}"] = (f"photo-{slot}.png", data, "image/png")
            form[f"alt_{slot}"] = alt
        return self.http.post(
            self.url("/admin/new"), data=form, files=files or None, allow_redirects=False, timeout=timeout
        )

    def notes(self) -> dict[str, AdminNote]:
        """Return slug -> AdminNote for each note on /admin's first page (the newest ADMIN_PAGE_SIZE, drafts too)."""
        rows = DELETE_FORM.findall(self.get("/admin").text)
        return {slug: AdminNote(int(note_id), token) for note_id, token, slug in rows}

    def publish(self, content: str, published: bool = True) -> str:
        """Write one note through the admin form (a draft unless published) and return its slug."""
        before = set(self.notes())
        reply = self.post_note(content, published)
        self._check_saved(reply, "publishing")
        new = set(self.notes()) - before
        assert len(new) == 1, f"expected one new note on /admin after publishing, found {sorted(new)}"
        return new.pop()

    def edit(self, slug: str, content: str, published: bool = True) -> None:
        """Change a note's text (and whether it is published) through its edit form."""
        note_id = self.notes()[slug].id
        token = csrf_token(self.get(f"/admin/edit/{note_id}").text, f"/admin/edit/{note_id}")
        form = {"csrf_token": token, "content": content, **({"published": "y"} if published else {})}
        reply = self.http.post(self.url(f"/admin/edit/{note_id}"), data=form, allow_redirects=False, timeout=TIMEOUT)
        self._check_saved(reply, f"editing {slug}")

    def delete(self, slug: str) -> None:
        """Delete a note through its form on /admin."""
        note = self.notes()[slug]
        reply = self.http.post(
            self.url(f"/admin/delete/{note.id}"),
            data={"csrf_token": note.csrf_token},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        self._check_saved(reply, f"deleting {slug}")

    @staticmethod
    def _check_saved(reply: requests.Response, action: str) -> None:
        assert reply.status_code == 303, f"{action} answered {reply.status_code}: {reply.text[:300]}"
        assert urlsplit(reply.headers["Location"]).path == "/admin", reply.headers["Location"]
