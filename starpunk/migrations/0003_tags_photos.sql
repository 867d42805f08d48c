-- Tags and photos of notes. Both are rewritten with their note, in the same
-- transaction that bumps the content generation (starpunk/store.py).
CREATE TABLE note_tags (
    note_id INTEGER NOT NULL REFERENCES notes (id),
    position INTEGER NOT NULL CHECK (position >= 1),
    tag TEXT NOT NULL CHECK (length(tag) BETWEEN 1 AND 100),
    PRIMARY KEY (note_id, position),
    UNIQUE (note_id, tag)
);

CREATE INDEX note_tags_tag ON note_tags (tag, note_id);

-- A photo is either a file this site stored (file_name, under DATA_PATH/media)
-- or a link to an image elsewhere (url), which the server never fetches.
CREATE TABLE note_photos (
    note_id INTEGER NOT NULL REFERENCES notes (id),
    position INTEGER NOT NULL CHECK (position BETWEEN 1 AND 4),
    file_name TEXT,
    url TEXT,
    alt TEXT NOT NULL DEFAULT '',
    width INTEGER,
    height INTEGER,
    content_type TEXT,
    size_bytes INTEGER,
    PRIMARY KEY (note_id, position),
    CHECK ((file_name IS NULL) <> (url IS NULL))
);

CREATE INDEX note_photos_file ON note_photos (file_name) WHERE file_name IS NOT NULL;
