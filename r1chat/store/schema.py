"""Provides the chat database's schema as numbered migrations (`PRAGMA user_version`)."""

from __future__ import annotations


def _stat(row: str, key: str, kind: str) -> str:
    # Damaged JSON reads as NULL here: json_extract would fail the write that saves it.
    valid = f"CASE WHEN json_valid({row}.stats) THEN {row}.stats END"
    return f"CAST(json_extract({valid}, '$.{key}') AS {kind})"


def _usage_row(row: str) -> str:
    """The `usage` columns of a message row (`m` in a query, `NEW` in a trigger)."""
    return (
        f"{row}.id, {row}.conversation_id, COALESCE({row}.model, (SELECT model FROM "
        f"conversations WHERE id = {row}.conversation_id), ''), {row}.created_at, "
        f"COALESCE({_stat(row, 'prompt_tokens', 'INTEGER')}, 0), "
        f"COALESCE({_stat(row, 'reasoning_tokens', 'INTEGER')}, 0), "
        f"COALESCE({_stat(row, 'answer_tokens', 'INTEGER')}, 0), "
        f"{_stat(row, 'reasoning_seconds', 'REAL')}, {_stat(row, 'generation_seconds', 'REAL')}, "
        f"{_stat(row, 'tokens_per_second', 'REAL')}, {_stat(row, 'time_to_first_token', 'REAL')}"
    )


def _counted(row: str) -> str:
    """Whether a message row is a finished reply with token counts (damaged JSON is not)."""
    return (
        f"{row}.role = 'assistant' AND {row}.status != 'streaming' AND json_valid({row}.stats) "
        f"AND COALESCE({_stat(row, 'prompt_tokens', 'INTEGER')}, 0) + "
        f"COALESCE({_stat(row, 'reasoning_tokens', 'INTEGER')}, 0) + "
        f"COALESCE({_stat(row, 'answer_tokens', 'INTEGER')}, 0) > 0"
    )


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
    # 5: usage: one row a finished reply (tokens, times, speed), so `stats` reads a narrow
    # table instead of every message's JSON; triggers keep it in step with every write.
    f"""
    CREATE TABLE usage (
        message_id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        answer_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_seconds REAL,
        generation_seconds REAL,
        tokens_per_second REAL,
        time_to_first_token REAL
    );
    CREATE INDEX usage_by_time ON usage (created_at);
    CREATE INDEX usage_by_conversation ON usage (conversation_id);
    CREATE INDEX usage_speed ON usage (model, tokens_per_second, created_at);
    CREATE INDEX usage_first_token ON usage (model, time_to_first_token, created_at);

    -- The same, added up a quarter of an hour at a time (every time zone's days start on
    -- a quarter hour): `stats` over a long history reads these few rows, not every reply.
    CREATE TABLE usage_quarters (
        quarter INTEGER NOT NULL,
        model TEXT NOT NULL,
        replies INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        answer_tokens INTEGER NOT NULL,
        reasoning_seconds REAL NOT NULL,
        generation_seconds REAL NOT NULL,
        timed_tokens INTEGER NOT NULL,
        timed_replies INTEGER NOT NULL,
        first_token_replies INTEGER NOT NULL,
        PRIMARY KEY (quarter, model)
    ) WITHOUT ROWID;
    CREATE TRIGGER usage_quarters_add AFTER INSERT ON usage BEGIN
        INSERT INTO usage_quarters VALUES (
            CAST(NEW.created_at / 900 AS INTEGER), NEW.model, 1, NEW.prompt_tokens,
            NEW.reasoning_tokens, NEW.answer_tokens, COALESCE(NEW.reasoning_seconds, 0),
            COALESCE(NEW.generation_seconds, 0),
            CASE WHEN NEW.generation_seconds > 0
                THEN NEW.reasoning_tokens + NEW.answer_tokens ELSE 0 END,
            COALESCE(NEW.tokens_per_second > 0, 0), COALESCE(NEW.time_to_first_token > 0, 0)
        ) ON CONFLICT (quarter, model) DO UPDATE SET
            replies = replies + excluded.replies,
            prompt_tokens = prompt_tokens + excluded.prompt_tokens,
            reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
            answer_tokens = answer_tokens + excluded.answer_tokens,
            reasoning_seconds = reasoning_seconds + excluded.reasoning_seconds,
            generation_seconds = generation_seconds + excluded.generation_seconds,
            timed_tokens = timed_tokens + excluded.timed_tokens,
            timed_replies = timed_replies + excluded.timed_replies,
            first_token_replies = first_token_replies + excluded.first_token_replies;
    END;
    CREATE TRIGGER usage_quarters_remove AFTER DELETE ON usage BEGIN
        UPDATE usage_quarters SET
            replies = replies - 1,
            prompt_tokens = prompt_tokens - OLD.prompt_tokens,
            reasoning_tokens = reasoning_tokens - OLD.reasoning_tokens,
            answer_tokens = answer_tokens - OLD.answer_tokens,
            reasoning_seconds = reasoning_seconds - COALESCE(OLD.reasoning_seconds, 0),
            generation_seconds = generation_seconds - COALESCE(OLD.generation_seconds, 0),
            timed_tokens = timed_tokens - CASE WHEN OLD.generation_seconds > 0
                THEN OLD.reasoning_tokens + OLD.answer_tokens ELSE 0 END,
            timed_replies = timed_replies - COALESCE(OLD.tokens_per_second > 0, 0),
            first_token_replies = first_token_replies - COALESCE(OLD.time_to_first_token > 0, 0)
        WHERE quarter = CAST(OLD.created_at / 900 AS INTEGER) AND model = OLD.model;
        DELETE FROM usage_quarters
        WHERE quarter = CAST(OLD.created_at / 900 AS INTEGER) AND model = OLD.model
            AND replies <= 0;
    END;

    INSERT INTO usage SELECT {_usage_row("m")} FROM messages m
        WHERE {_counted("m")};

    CREATE TRIGGER usage_insert AFTER INSERT ON messages WHEN {_counted("NEW")} BEGIN
        INSERT INTO usage SELECT {_usage_row("NEW")};
    END;
    CREATE TRIGGER usage_update AFTER UPDATE OF stats, status, model, created_at ON messages
    BEGIN
        DELETE FROM usage WHERE message_id = NEW.id;
        INSERT INTO usage SELECT {_usage_row("NEW")} WHERE {_counted("NEW")};
    END;
    CREATE TRIGGER usage_delete AFTER DELETE ON messages BEGIN
        DELETE FROM usage WHERE message_id = OLD.id;
    END;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
