-- Issue 21: search. One full-text index of messages' text by trigrams (every three
-- characters in a row), so a search finds any text of three characters or more as a
-- substring, case-insensitively, in any script, including those that put no spaces
-- between words. Shorter texts are checked on the rows the other conditions leave.
-- External content: the index holds no copy of the text; triggers keep it in step in the
-- transaction that writes the message (a deletion empties the text, and so the index).
CREATE VIRTUAL TABLE message_trigrams USING fts5(
    text, content = 'messages', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO message_trigrams (message_trigrams) VALUES ('rebuild');

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_trigrams (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO message_trigrams (message_trigrams, rowid, text)
    VALUES ('delete', old.id, old.text);
    INSERT INTO message_trigrams (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO message_trigrams (message_trigrams, rowid, text)
    VALUES ('delete', old.id, old.text);
END;
