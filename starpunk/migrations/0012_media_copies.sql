-- Every stored photo's bytes, beside its file: a copy of the database alone
-- (a Litestream replica, a backup) then holds the photos too, in the order
-- they were written (starpunk/replication.py writes them back at start).
CREATE TABLE media_copies (
    name TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    stored_at TEXT NOT NULL
);
