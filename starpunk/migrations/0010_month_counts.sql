-- How many notes readers can see (published, not deleted) were published in
-- each month (UTC, "YYYY-MM"), so a year's page never counts the archive. The
-- triggers keep it in the transaction of every write to a note's published
-- state, date or deletion, whichever code makes it; a month no public note
-- was published in has no row. This migration counts the notes already written.
CREATE TABLE month_counts (
    month TEXT PRIMARY KEY,
    notes INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO month_counts (month, notes)
SELECT substr(published_at, 1, 7), count(*) FROM notes
WHERE published = 1 AND deleted_at IS NULL AND published_at IS NOT NULL
GROUP BY substr(published_at, 1, 7);

CREATE TRIGGER month_counts_added AFTER INSERT ON notes
WHEN NEW.published = 1 AND NEW.deleted_at IS NULL AND NEW.published_at IS NOT NULL
BEGIN
    INSERT INTO month_counts (month, notes) VALUES (substr(NEW.published_at, 1, 7), 1)
    ON CONFLICT (month) DO UPDATE SET notes = notes + 1;
END;

CREATE TRIGGER month_counts_left AFTER UPDATE OF published, deleted_at, published_at ON notes
WHEN OLD.published = 1 AND OLD.deleted_at IS NULL AND OLD.published_at IS NOT NULL
BEGIN
    UPDATE month_counts SET notes = notes - 1 WHERE month = substr(OLD.published_at, 1, 7);
    DELETE FROM month_counts WHERE month = substr(OLD.published_at, 1, 7) AND notes <= 0;
END;

CREATE TRIGGER month_counts_entered AFTER UPDATE OF published, deleted_at, published_at ON notes
WHEN NEW.published = 1 AND NEW.deleted_at IS NULL AND NEW.published_at IS NOT NULL
BEGIN
    INSERT INTO month_counts (month, notes) VALUES (substr(NEW.published_at, 1, 7), 1)
    ON CONFLICT (month) DO UPDATE SET notes = notes + 1;
END;

CREATE TRIGGER month_counts_removed AFTER DELETE ON notes
WHEN OLD.published = 1 AND OLD.deleted_at IS NULL AND OLD.published_at IS NOT NULL
BEGIN
    UPDATE month_counts SET notes = notes - 1 WHERE month = substr(OLD.published_at, 1, 7);
    DELETE FROM month_counts WHERE month = substr(OLD.published_at, 1, 7) AND notes <= 0;
END;
