"""Provides saved chats to the faces: the store, search, export and import, memory facts.

The command line reaches the database only through here (import-linter checks it), so
what a face may do with saved chats is written down in one place.
"""

from __future__ import annotations

from r1chat.paths import Paths
from r1chat.store.chats import ChatStore as ChatStore
from r1chat.store.memory import Fact as Fact
from r1chat.store.memory import Memory as Memory
from r1chat.store.search import HIT_END as HIT_END
from r1chat.store.search import HIT_START as HIT_START
from r1chat.store.search import SearchHit as SearchHit
from r1chat.store.search import search as search
from r1chat.store.transfer import IMPORT_BATCH as IMPORT_BATCH
from r1chat.store.transfer import export_json as export_json
from r1chat.store.transfer import export_markdown as export_markdown
from r1chat.store.transfer import import_json as import_json
from r1chat.store.transfer import message_data as message_data
from r1chat.store.transfer import readable_json as readable_json
from r1chat.store.usage import Grouping as Grouping
from r1chat.store.usage import Usage as Usage
from r1chat.store.usage import UsageReport as UsageReport
from r1chat.store.usage import natural_grouping as natural_grouping
from r1chat.store.usage import usage_report as usage_report


def open_store(paths: Paths | None = None) -> ChatStore:
    """The user's chat store (created on first use)."""
    return ChatStore.open(paths or Paths.from_env())


def open_memory(paths: Paths | None = None) -> Memory:
    """The memory facts in the user's chat store."""
    return Memory(open_store(paths))
