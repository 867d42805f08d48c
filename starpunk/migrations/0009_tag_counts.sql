-- How many notes readers can see (published, not deleted) carry each tag, so
-- /tags and the tag pages never count the archive. The triggers keep it in
-- the transaction of every write to note_tags and to a note's published or
-- deleted state, whichever code makes it; a tag no public note carries has no
-- row. This migration counts the notes already written.
CREATE TABLE tag_counts (
    tag TEXT PRIMARY KEY,
    notes INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO tag_counts (tag, notes)
SELECT tag, count(*) FROM note_tags JOIN notes ON notes.id = note_tags.note_id
WHERE notes.published = 1 AND notes.deleted_at IS NULL
GROUP BY tag;

CREATE TRIGGER tag_counts_tagged AFTER INSERT ON note_tags
WHEN (SELECT published = 1 AND deleted_at IS NULL FROM notes WHERE id = NEW.note_id)
BEGIN
    INSERT INTO tag_counts (tag, notes) VALUES (NEW.tag, 1) ON CONFLICT (tag) DO UPDATE SET notes = notes + 1;
END;

CREATE TRIGGER tag_counts_untagged AFTER DELETE ON note_tags
WHEN (SELECT published = 1 AND deleted_at IS NULL FROM notes WHERE id = OLD.note_id)
BEGIN
    UPDATE tag_counts SET notes = notes - 1 WHERE tag = OLD.tag;
    DELETE FROM tag_counts WHERE tag = OLD.tag AND notes <= 0;
END;

CREATE TRIGGER tag_counts_shown AFTER UPDATE OF published, deleted_at ON notes
WHEN NOT (OLD.published = 1 AND OLD.deleted_at IS NULL) AND NEW.published = 1 AND NEW.deleted_at IS NULL
BEGIN
    INSERT INTO tag_counts (tag, notes) SELECT tag, 1 FROM note_tags WHERE note_id = NEW.id AND true
    ON CONFLICT (tag) DO UPDATE SET notes = notes + 1;
END;

CREATE TRIGGER tag_counts_hidden AFTER UPDATE OF published, deleted_at ON notes
WHEN OLD.published = 1 AND OLD.deleted_at IS NULL AND NOT (NEW.published = 1 AND NEW.deleted_at IS NULL)
BEGIN
    UPDATE tag_counts SET notes = notes - 1 WHERE tag IN (SELECT tag FROM note_tags WHERE note_id = NEW.id);
    DELETE FROM tag_counts WHERE notes <= 0 AND tag IN (SELECT tag FROM note_tags WHERE note_id = NEW.id);
END;

CREATE TRIGGER tag_counts_removed AFTER DELETE ON notes
WHEN OLD.published = 1 AND OLD.deleted_at IS NULL
BEGIN
    UPDATE tag_counts SET notes = notes - 1 WHERE tag IN (SELECT tag FROM note_tags WHERE note_id = OLD.id);
    DELETE FROM tag_counts WHERE notes <= 0 AND tag IN (SELECT tag FROM note_tags WHERE note_id = OLD.id);
END;
