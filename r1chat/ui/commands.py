"""Provides the command palette's providers: open a conversation, switch model."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from r1chat.ui.plain import escaped, highlighted, plain

if TYPE_CHECKING:
    from r1chat.ui.screens.chat import ChatScreen


def _chat_screen(provider: Provider) -> ChatScreen | None:
    from r1chat.ui.screens.chat import ChatScreen

    for screen in reversed(provider.app.screen_stack):
        if isinstance(screen, ChatScreen):
            return screen
    return None


class ConversationsProvider(Provider):
    """Open a saved conversation by its title."""

    async def _items(self) -> list[tuple[str, str]]:
        screen = _chat_screen(self)
        if screen is None:
            return []
        conversations = await asyncio.to_thread(screen.service.list_conversations, "", 200)
        return [(plain(c.title or "New chat").plain, c.id) for c in conversations]

    async def discover(self) -> Hits:
        screen = _chat_screen(self)
        for title, conversation_id in (await self._items())[:10]:
            if screen is not None:
                yield DiscoveryHit(
                    plain(f"Open: {title}"),
                    partial(self._open, conversation_id),
                    text=f"Open: {title}",
                    help="Saved conversation",
                )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, conversation_id in await self._items():
            text = f"Open: {title}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score,
                    highlighted(matcher, text),
                    partial(self._open, conversation_id),
                    text=text,
                    help="Saved conversation",
                )

    def _open(self, conversation_id: str) -> None:
        screen = _chat_screen(self)
        if screen is not None:
            screen.open(conversation_id)


class ModelsProvider(Provider):
    """Switch to another GGUF model found on this machine."""

    async def _models(self) -> list[tuple[str, str]]:
        screen = _chat_screen(self)
        if screen is None:
            return []
        found = await asyncio.to_thread(screen.service.found_models, screen.r1app.paths)
        return [(plain(f"Switch model: {name}").plain, path) for name, path in found]

    async def discover(self) -> Hits:
        for text, path in await self._models():
            yield DiscoveryHit(
                plain(text), partial(self._switch, path), text=text, help=escaped(path)
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, path in await self._models():
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score,
                    highlighted(matcher, text),
                    partial(self._switch, path),
                    text=text,
                    help=escaped(path),
                )

    def _switch(self, path: str) -> None:
        screen = _chat_screen(self)
        if screen is not None:
            screen.switch_model(path)
