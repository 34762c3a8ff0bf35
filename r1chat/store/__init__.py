"""Provides the local chat store: conversations and messages kept in SQLite."""

from r1chat.store.chats import ChatStore, SearchHit, title_from

__all__ = ["ChatStore", "SearchHit", "title_from"]
