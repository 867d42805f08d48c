-- Receiving Webmentions (0.8.0).

-- The durable job queue (starpunk/queue.py): work that waits on another
-- server. A job is queued until next_at, running while a consumer holds its
-- claim (next_at is then when the claim expires), or failed for good.
-- Finished jobs are deleted.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    -- Groups jobs for limits and look-ups (a Webmention's source host).
    key TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    claim TEXT,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX jobs_due ON jobs (state, next_at);
CREATE INDEX jobs_key ON jobs (kind, key, state);

-- Webmentions received and verified (starpunk/webmention.py): one row per
-- source and target. note_id is NULL for a mention of the home page.
CREATE TABLE webmentions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    note_id INTEGER REFERENCES notes (id),
    source_host TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    type TEXT NOT NULL CHECK (type IN ('reply', 'like', 'repost', 'bookmark', 'mention')),
    author_name TEXT NOT NULL DEFAULT '',
    author_url TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT '',
    published TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (source, target)
);

CREATE INDEX webmentions_note ON webmentions (note_id, status);
CREATE INDEX webmentions_status ON webmentions (status, received_at);
CREATE INDEX webmentions_host ON webmentions (source_host, status);

-- Hosts the owner blocked: their Webmentions are dropped unread.
CREATE TABLE blocked_hosts (
    host TEXT PRIMARY KEY,
    blocked_at TEXT NOT NULL
);
