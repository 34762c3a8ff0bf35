"""Provides the chat database's schema as numbered migrations (`PRAGMA user_version`)."""

from __future__ import annotations

# Each entry moves the schema from version N to N + 1, and runs in one transaction.
# Never edit a released entry: add a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: conversations and their messages (with branches for regenerated replies).
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        model TEXT,
        params TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX conversations_by_update ON conversations (updated_at DESC, id DESC);

    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        parent_id TEXT REFERENCES messages (id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL DEFAULT '',
        reasoning TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'complete'
            CHECK (status IN ('streaming', 'complete', 'cancelled', 'interrupted', 'error')),
        model TEXT,
        stats TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages (conversation_id);
    CREATE INDEX messages_by_parent ON messages (parent_id);
    CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';
    """,
    # 2: full-text search over answers, reasoning and titles.
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5 (
        content, reasoning,
        content = 'messages', content_rowid = 'rowid',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO messages_fts (rowid, content, reasoning)
        SELECT rowid, content, reasoning FROM messages;
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, content, reasoning)
            VALUES (new.rowid, new.content, new.reasoning);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content, reasoning)
            VALUES ('delete', old.rowid, old.content, old.reasoning);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, reasoning ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content, reasoning)
            VALUES ('delete', old.rowid, old.content, old.reasoning);
        INSERT INTO messages_fts (rowid, content, reasoning)
            VALUES (new.rowid, new.content, new.reasoning);
    END;

    CREATE VIRTUAL TABLE conversations_fts USING fts5 (
        title, content = 'conversations', content_rowid = 'rowid',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO conversations_fts (rowid, title) SELECT rowid, title FROM conversations;
    CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO conversations_fts (rowid, title) VALUES (new.rowid, new.title);
    END;
    CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
        INSERT INTO conversations_fts (conversations_fts, rowid, title)
            VALUES ('delete', old.rowid, old.title);
    END;
    CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN
        INSERT INTO conversations_fts (conversations_fts, rowid, title)
            VALUES ('delete', old.rowid, old.title);
        INSERT INTO conversations_fts (rowid, title) VALUES (new.rowid, new.title);
    END;
    """,
    # 3: the message each conversation was last looked at (its current branch ends there).
    """
    ALTER TABLE conversations ADD COLUMN leaf_id TEXT;
    """,
    # 4: memory: facts about the user that go into every chat's prompt.
    """
    CREATE TABLE memory (
        id INTEGER PRIMARY KEY,
        text TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
