"""Provides the local chat store: conversations and messages kept in SQLite."""

from r1chat.store.chats import ChatStore, title_from
from r1chat.store.search import SearchHit

__all__ = ["ChatStore", "SearchHit", "title_from"]
