-- Full-text search (SQLite FTS5) over every note's text and tags, drafts and
-- deleted notes included: the pages keep what each reader may see (search.py).
-- The index holds its own copy of the text (snippets need it), keyed by the
-- note's id, and the triggers below keep it in the transaction of every write
-- to notes and note_tags, whichever code makes it. This migration fills it
-- for the notes already written.
CREATE VIRTUAL TABLE note_search USING fts5(content, tags, tokenize = 'unicode61 remove_diacritics 2');

INSERT INTO note_search (rowid, content, tags)
SELECT id, content, coalesce((SELECT group_concat(tag, ' ') FROM note_tags WHERE note_id = notes.id), '')
FROM notes;

CREATE TRIGGER note_search_added AFTER INSERT ON notes BEGIN
    INSERT INTO note_search (rowid, content, tags) VALUES (NEW.id, NEW.content, '');
END;

CREATE TRIGGER note_search_edited AFTER UPDATE OF content ON notes BEGIN
    UPDATE note_search SET content = NEW.content WHERE rowid = NEW.id;
END;

CREATE TRIGGER note_search_removed AFTER DELETE ON notes BEGIN
    DELETE FROM note_search WHERE rowid = OLD.id;
END;

CREATE TRIGGER note_search_tag_added AFTER INSERT ON note_tags BEGIN
    UPDATE note_search SET tags = (SELECT group_concat(tag, ' ') FROM note_tags WHERE note_id = NEW.note_id)
    WHERE rowid = NEW.note_id;
END;

CREATE TRIGGER note_search_tag_removed AFTER DELETE ON note_tags BEGIN
    UPDATE note_search SET tags = coalesce((SELECT group_concat(tag, ' ') FROM note_tags WHERE note_id = OLD.note_id), '')
    WHERE rowid = OLD.note_id;
END;
