-- The owner's list of drafts pages by id without walking every published note.
CREATE INDEX notes_owner_drafts ON notes (published, id DESC) WHERE deleted_at IS NULL;
