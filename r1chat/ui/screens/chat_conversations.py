"""Provides `ConversationActions`: open, list, rename and delete chats; move between versions."""

from __future__ import annotations

from typing import Any

from textual import on, work

from r1chat.core.service import OpenedChat
from r1chat.text import moment_label, one_line
from r1chat.ui.screens.chat_base import (
    ChatScreenBase,
)
from r1chat.ui.screens.dialogs import ChoiceScreen, ConfirmScreen, TextPromptScreen
from r1chat.ui.widgets.messages import AssistantMessage, VersionRequested, Versions
from r1chat.ui.widgets.sidebar import Sidebar


class ConversationActions(ChatScreenBase):
    """Opening, listing, renaming and deleting chats, and moving between versions."""

    @work(group="sidebar", exclusive=True, exit_on_error=False, description="list the chats")
    async def refresh_sidebar(self) -> None:
        """List the saved chats again (in the background)."""
        conversations = await self._io(self.service.list_conversations, self.sidebar.filter_text)
        self.conversations = {c.id: c for c in conversations}
        self.sidebar.show(conversations, self.session.conversation_id, self.sidebar.filter_text)

    @on(Sidebar.FilterChanged)
    def _filter_changed(self) -> None:
        self.refresh_sidebar()

    @on(Sidebar.Opened)
    def _opened(self, event: Sidebar.Opened) -> None:
        self.open(event.conversation_id)
        self.composer.focus()

    @work(group="open", exclusive=True, exit_on_error=False, description="open a chat")
    async def open(
        self,
        conversation_id: str,
        leaf_id: str | None = None,
        *,
        first: bool = False,
        at_message: str | None = None,
    ) -> None:
        """Show a saved conversation (its current branch, or the one through `leaf_id`),
        scrolled to `at_message` if given."""
        if self.generating:
            self.notify(f"Stop the reply first ({self.key('chat.stop')}).", severity="warning")
            return
        opened = await self._io(self.service.open, conversation_id, leaf_id)
        await self._show(opened, first=first)
        if at_message is not None and not await self.conversation.jump_to(at_message):
            self.notify("That match is in another version of this chat.", timeout=5)

    def action_search(self) -> None:
        from r1chat.ui.screens.search import SearchScreen

        def chosen(hit: tuple[str, str | None] | None) -> None:
            if hit is not None:
                self.open(hit[0], at_message=hit[1])

        self.app.push_screen(SearchScreen(self.service), chosen)

    async def _show(self, opened: OpenedChat, *, first: bool = False) -> None:
        self._keep_draft()
        conversation = opened.conversation
        explicit: dict[str, Any] = {"model": self.model} if first and self.model_explicit else {}
        if first:
            explicit.update(self.r1app.thinking_explicit)
        options = self.service.options_for(conversation, explicit, self.model)
        self.session = await self._io(  # a long branch takes a while to turn into turns
            self.service.session, options, conversation.id, opened.branch, self._save_failed
        )
        self.options = options
        self.editing, self.edit_index = False, None
        versions = {mid: Versions(*where) for mid, where in opened.versions.items()}
        await self.conversation.show(opened.branch, versions)
        self.composer.text = self.drafts.get(conversation.id, "")
        self.sub_title = conversation.title
        self.refresh_sidebar()
        if options.notice:
            self.notify(options.notice, severity="warning", timeout=12)
        if options.model is None:
            self.status.state = "no model"
            if self.model_problem:
                self.notify(self.model_problem, severity="error", timeout=15)
        elif self.service.needs_load(options) or (first and self.engine is None):
            self.load_model(options.model, options.n_ctx)
        self.measure_soon(0)

    async def action_new_chat(self) -> None:
        if self.generating:
            self.notify(f"Stop the reply first ({self.key('chat.stop')}).", severity="warning")
            return
        self._keep_draft()
        self.options = self.service.options_for(None, {"model": self.model})
        self.session = self.service.session(self.options, on_save_error=self._save_failed)
        self.editing, self.edit_index = False, None
        await self.conversation.show([], empty_hint=self.empty_hint)
        self.composer.text = self.drafts.get(None, "")
        self.status.tokens_per_second = None
        self.sub_title = ""
        self.refresh_sidebar()
        self.composer.focus()
        if self.model is not None and self.service.needs_load(self.options):
            self.load_model(self.model)
        self.measure_soon(0)

    @on(Sidebar.RenameRequested)
    def _rename(self, event: Sidebar.RenameRequested) -> None:
        conversation_id = event.conversation_id
        known = self.conversations.get(conversation_id)

        def done(title: str | None) -> None:
            if title:
                self._rename_to(conversation_id, title)

        current = known.title if known else ""
        self.app.push_screen(TextPromptScreen("New title", current), done)

    @work(group="rename", exit_on_error=False, description="rename a chat")
    async def _rename_to(self, conversation_id: str, title: str) -> None:
        saved = await self._io(self.service.rename, conversation_id, title)
        if conversation_id == self.session.conversation_id:
            self.sub_title = saved
        self.refresh_sidebar()

    @on(Sidebar.DeleteRequested)
    def _delete_conversation(self, event: Sidebar.DeleteRequested) -> None:
        conversation_id = event.conversation_id
        known = self.conversations.get(conversation_id)

        async def done(yes: bool | None) -> None:
            if not yes:
                return
            if conversation_id == self.session.conversation_id:
                if self.generating:
                    self.notify(
                        f"Stop the reply first ({self.key('chat.stop')}).", severity="warning"
                    )
                    return
                await self.action_new_chat()
            self._delete_chat(conversation_id)

        title = known.title if known and known.title else "New chat"
        count = f" ({known.message_count} messages)" if known else ""
        self.app.push_screen(ConfirmScreen(f"Delete '{title}'{count}?", confirm="Delete"), done)

    @work(group="delete", exit_on_error=False, description="delete a chat")
    async def _delete_chat(self, conversation_id: str) -> None:
        await self._io(self.service.delete, conversation_id)
        self.refresh_sidebar()
        self.notify("Conversation deleted.")

    @on(VersionRequested)
    def _version(self, event: VersionRequested) -> None:
        message_id = event.message_id
        if self.generating or message_id is None or self.session.conversation_id is None:
            return
        self._show_version(self.session.conversation_id, message_id, event.step)

    @work(group="open", exclusive=True, exit_on_error=False, description="show another version")
    async def _show_version(self, conversation_id: str, message_id: str, step: int) -> None:
        leaf = await self._io(self.service.sibling, message_id, step)
        if leaf is None:
            again = self.key("chat.regenerate")
            self.notify(f"No other version that way; {again} or an edit makes one.", timeout=4)
            return
        ids = self.session.message_ids
        index = ids.index(message_id) if message_id in ids else None
        opened = await self._io(self.service.open, conversation_id, leaf)
        await self._show(opened)
        if index is not None and index < len(opened.branch):
            target = opened.branch[index].id
            for widget in self.conversation.query(".user-message, .assistant-message"):
                if getattr(widget, "message_id", None) == target:
                    widget.focus()

    @work(group="open", exclusive=True, exit_on_error=False, description="list branches")
    async def action_branches(self) -> None:
        """A list of this chat's branches (newest first); the chosen one is shown."""
        conversation_id = self.session.conversation_id
        if conversation_id is None or self.generating:
            self.notify("A saved chat's branches can be listed once no reply streams.")
            return
        branches = await self._io(self.service.branches, conversation_id)
        if len(branches) < 2:
            self.notify(
                "This chat has one branch; e on one of your messages, or "
                f"{self.key('chat.regenerate')}, starts another.",
                timeout=6,
            )
            return
        choices = [
            (
                branch.leaf_id,
                f"{'● ' if branch.current else '  '}{moment_label(branch.created_at)}  "
                f"{one_line(branch.question)[:60]}",
            )
            for branch in branches
        ]
        current = next((b.leaf_id for b in branches if b.current), "")
        chosen = await self.app.push_screen_wait(
            ChoiceScreen(f"{len(branches)} branches, newest first: show which?", choices, current)
        )
        if chosen:
            opened = await self._io(self.service.open, conversation_id, chosen)
            await self._show(opened)

    @on(AssistantMessage.DeleteRequested)
    def _delete_message(self, event: AssistantMessage.DeleteRequested) -> None:
        message_id = event.message.message_id
        if self.generating or message_id is None or self.session.conversation_id is None:
            return
        conversation_id = self.session.conversation_id

        def done(yes: bool | None) -> None:
            if yes:
                self._delete_message_now(conversation_id, message_id)

        self.app.push_screen(
            ConfirmScreen("Delete this answer and everything after it?", confirm="Delete"), done
        )

    @work(group="delete", exit_on_error=False, description="delete a message")
    async def _delete_message_now(self, conversation_id: str, message_id: str) -> None:
        await self._io(self.service.delete_message, message_id)
        opened = await self._io(self.service.open, conversation_id)
        await self._show(opened)
        self.notify("Message deleted.")
