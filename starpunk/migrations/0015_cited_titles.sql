-- The title of a page a note answers (starpunk/cited.py): kept when sending
-- the Webmention fetched the page, shown in the note's h-cite.
ALTER TABLE webmention_sends ADD COLUMN title TEXT;
