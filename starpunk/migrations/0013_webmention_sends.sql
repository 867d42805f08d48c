-- Webmentions StarPunk sends (starpunk/sending.py): one row per note and
-- target, the latest outcome of telling that target about the note. A
-- cross-posting target waits as 'picked' while the note is a draft.
CREATE TABLE webmention_sends (
    id INTEGER PRIMARY KEY,
    note_id INTEGER NOT NULL REFERENCES notes (id),
    target TEXT NOT NULL,
    endpoint TEXT,
    status TEXT NOT NULL DEFAULT 'queued',  -- picked, queued, sent, no endpoint, failed
    code INTEGER,                           -- the endpoint's answer
    error TEXT,
    publish INTEGER NOT NULL DEFAULT 0,     -- 1: a cross-posting target (SYNDICATE_TO), picked for this note
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (note_id, target)
);
