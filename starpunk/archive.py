"""The archive: a page per year (its months, with counts), a page per month (its notes, paged) and every tag.

Dates are the notes' publication dates in UTC, as stored. Readers' copies are
cached like the other lists (pagecache), and the month's pages are cut by a
note as the home page's are (paging.py).
"""

import calendar
from typing import NamedTuple

from flask import Blueprint, abort, current_app, render_template, url_for

from . import listing, paging, tags
from .notes import render_list
from .pagecache import cached_for_readers

bp = Blueprint("archive", __name__)

# Tags listed on a page of /tags, in alphabetical order.
TAGS_PAGE_SIZE = 100


class Month(NamedTuple):
    """A month of the archive and how many notes were published in it."""

    year: int
    month: int
    count: int = 0

    @property
    def name(self):
        """Return the month as readers read it: "May 2024"."""
        return f"{calendar.month_name[self.month]} {self.year}"


@bp.get("/<int(fixed_digits=4, min=1):year>/")
@cached_for_readers()
def year(year):
    """List the months of a year in which notes were published, newest first, each with its count."""
    paging.query_args(())
    months = [Month(year, month, count) for month, count in listing.month_counts(year)]
    if not months:
        abort(404, f"No notes were published in {year}.")
    return render_template("archive/year.html", year=year, months=months, total=sum(m.count for m in months))


@bp.get("/<int(fixed_digits=4, min=1):year>/<int(fixed_digits=2, min=1, max=12):month>/")
@cached_for_readers(*paging.LIST_FIELDS[:2])
def month(year, month):
    """List the notes published in a month, newest first, paging.PAGE_SIZE to a page."""
    since = f"{year:04d}-{month:02d}"
    until = f"{year + 1:04d}-01" if month == 12 else f"{year:04d}-{month + 1:02d}"
    page = paging.list_page("archive.month", {"year": year, "month": month}, since=since, until=until)
    shown = Month(year, month)
    return render_list(
        page,
        month=shown,
        heading=f"Notes from {shown.name}",
        description=f"Notes by {current_app.config['SITE_AUTHOR']} published in {shown.name}.",
    )


@bp.get("/tags")
@cached_for_readers("after")
def tags_index():
    """List every tag readers can see, alphabetically, with how many notes carry it, TAGS_PAGE_SIZE a page."""
    args = paging.query_args(("after",))
    after = None
    if "after" in args:
        try:
            after = tags.normalise_tag(args["after"])
        except ValueError:
            abort(404, "No such page of tags.")
        # One address per page: the cut is a tag readers can see, in its stored form.
        if after != args["after"] or not listing.tag_count(after):
            abort(404, "No such page of tags.")
    found = listing.tag_counts(TAGS_PAGE_SIZE + 1, after)
    if after is not None and not found:
        abort(404, "No such page of tags.")
    more = len(found) > TAGS_PAGE_SIZE
    found = found[:TAGS_PAGE_SIZE]
    return render_template(
        "archive/tags.html",
        tags=found,
        first_page=after is None,
        next_url=url_for("archive.tags_index", after=found[-1][0]) if more else None,
    )
