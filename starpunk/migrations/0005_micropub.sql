-- Micropub: the microformats properties a client sent that StarPunk keeps but
-- does not render (nested objects such as an h-card category, properties it
-- does not know), as one JSON object of arrays per note. `q=source` returns
-- them beside the properties StarPunk derives from the note itself.
ALTER TABLE notes ADD COLUMN properties TEXT NOT NULL DEFAULT '{}';
