-- Failed sign-in attempts, per client address, to slow down guessing.
CREATE TABLE auth_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client TEXT NOT NULL,
    at TEXT NOT NULL
);

CREATE INDEX auth_failures_client ON auth_failures (client, at);
