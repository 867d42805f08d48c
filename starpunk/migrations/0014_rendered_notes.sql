-- Each note's HTML, stored with its text when it is written (starpunk/store.py), and what rendered it
-- (render.RENDERED_BY): pages, feeds and the warm-up before the workers fork then render no Markdown. NULL for
-- notes written before: they render when read, as before, until `flask --app starpunk render-notes` stores
-- theirs (as it does after an upgrade that changed the renderer).
ALTER TABLE notes ADD COLUMN rendered TEXT;
ALTER TABLE notes ADD COLUMN rendered_by TEXT;

-- A text changed without its HTML (by code that does not know the columns: 0.7.0 after a rollback, a tool)
-- loses the stored HTML, so no page ever shows HTML of a text the note no longer has.
CREATE TRIGGER notes_rendered_follows_content AFTER UPDATE OF content ON notes
WHEN NEW.content IS NOT OLD.content AND NEW.rendered IS OLD.rendered
BEGIN
    UPDATE notes SET rendered = NULL, rendered_by = NULL WHERE id = NEW.id;
END;
