-- Notes, server-side sessions, one-time login tokens and the content
-- generation counter that keeps every worker's feed cache coherent.
CREATE TABLE notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    content TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    published_at TEXT,
    deleted_at TEXT
);

CREATE INDEX notes_public ON notes (published, deleted_at, published_at DESC, id DESC);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE login_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

CREATE TABLE site_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO site_state (key, value) VALUES ('content_generation', '0');
INSERT INTO site_state (key, value) VALUES ('content_changed_at', strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'));
