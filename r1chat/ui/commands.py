"""Provides the command palette's providers: open a conversation, switch model."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from r1chat.text import terminal_safe

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
        return [
            (terminal_safe(c.title or "New chat"), c.id)
            for c in screen.store.list_conversations(limit=200)
        ]

    async def discover(self) -> Hits:
        screen = _chat_screen(self)
        for title, conversation_id in (await self._items())[:10]:
            if screen is not None:
                yield DiscoveryHit(
                    f"Open: {title}",
                    partial(self._open, conversation_id),
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
                    matcher.highlight(text),
                    partial(self._open, conversation_id),
                    text=text,
                    help="Saved conversation",
                )

    async def _open(self, conversation_id: str) -> None:
        screen = _chat_screen(self)
        if screen is not None:
            await screen.open(conversation_id)


class ModelsProvider(Provider):
    """Switch to another GGUF model found on this machine."""

    def _models(self) -> list[tuple[str, str]]:
        from r1chat.models.discovery import found_models
        from r1chat.paths import Paths

        screen = _chat_screen(self)
        configured = screen.model if screen else None
        return [
            (f"Switch model: {path.name}", str(path))
            for path in found_models(Paths.from_env(), configured)
        ]

    async def discover(self) -> Hits:
        for text, path in self._models():
            yield DiscoveryHit(text, partial(self._switch, path), help=path)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, path in self._models():
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(text),
                    partial(self._switch, path),
                    text=text,
                    help=path,
                )

    def _switch(self, path: str) -> None:
        screen = _chat_screen(self)
        if screen is not None:
            screen.switch_model(path)
