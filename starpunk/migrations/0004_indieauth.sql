-- StarPunk as its own IndieAuth server: access tokens for Micropub clients and
-- scripts, and the one-time authorization codes exchanged for them. Neither
-- table holds a secret: only the SHA-256 of each token and code.
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    me TEXT NOT NULL,
    client_id TEXT,
    scope TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);

CREATE INDEX tokens_active ON tokens (revoked_at, expires_at);

CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope TEXT NOT NULL,
    me TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    -- The token this code was exchanged for: revoked if the code is replayed.
    token_id INTEGER REFERENCES tokens (id)
);
