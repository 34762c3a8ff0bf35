"""Provides `ReplyFollowing`: send a message and follow the reply as it streams."""

from __future__ import annotations

import contextlib

from textual import on, work

from r1chat.core.events import PromptPlan, ReplyControl
from r1chat.core.service import FINISH_STATUS, ChatSession
from r1chat.errors import R1ChatError
from r1chat.text import terminal_safe
from r1chat.ui import timing
from r1chat.ui.reply_stream import ReplyDone, ReplyStream
from r1chat.ui.screens.chat_base import (
    REMEMBER,
    ChatScreenBase,
    ReplyKind,
)
from r1chat.ui.widgets.composer import Composer
from r1chat.ui.widgets.messages import (
    AssistantMessage,
    BranchRequested,
    EditRequested,
    UserMessage,
    Versions,
)


class ReplyFollowing(ChatScreenBase):
    """Sending a message and following its reply: stop, answer now, edit, regenerate."""

    @on(Composer.Submitted)
    async def _submitted(self, event: Composer.Submitted) -> None:
        command, _, rest = event.text.strip().partition(" ")
        if command == REMEMBER and not self.editing:
            self._remember(rest)
            return
        kind: ReplyKind = "edit" if self.editing else "reply"
        await self.start_reply(kind, event.text)

    @work(group="memory", exit_on_error=False, description="remember a fact")
    async def _remember(self, text: str) -> None:
        """`/remember TEXT`: a memory fact for every chat from now on."""
        if not text.strip():
            self.notify(f"Write what to remember after {REMEMBER}.", severity="warning")
            return
        try:
            fact = await self._io(self.service.remember, text)
        except R1ChatError as error:
            self.notify(str(error), severity="error")
            return
        self.composer.text = ""
        await self.memory_changed()
        self.notify(f"Remembered (fact {fact.id}): {fact.text}", timeout=5)

    def _refusal(self, kind: ReplyKind, text: str) -> str | None:
        """Why a reply of this kind cannot start now (`None`: it can)."""
        session = self.session
        if self.generating:
            return f"r1chat is still answering; {self.key('chat.stop')} stops it."
        if self.engine is None:
            if self.status.state == "loading model":
                return "The model is still loading; your message is kept."
            return "No model is loaded; pick one with Ctrl+P → Switch model."
        if kind in ("reply", "edit") and not text.strip():
            return "The message is empty; type something first."
        if kind == "regenerate" and not session.can_regenerate():
            return "There is no answer to regenerate yet."
        if kind == "continue" and not session.can_continue():
            return (
                "Only a reply that stopped while reasoning can think on; "
                f"{self.key('chat.regenerate')} answers again."
            )
        if kind == "edit" and session.last_user_index() is None:
            return "There is no message to edit yet."
        return None

    async def start_reply(self, kind: ReplyKind, text: str = "") -> None:
        """Send, regenerate, resend or continue; the reply streams into a message.

        The message box clears and the message shows at once; fitting the prompt
        and reading it happen on the generation thread.
        """
        refusal = self._refusal(kind, text)
        if refusal:
            self.notify(refusal, severity="warning")
            return
        session = self.session
        engine = self.engine
        assert engine is not None  # checked by _refusal
        self._cancel = ReplyControl()
        await self.conversation.jump_end()
        if kind in ("reply", "edit"):
            self.composer.text = ""
            self.drafts.pop(session.conversation_id, None)
        index = self.edit_index if kind == "edit" else None
        if kind == "edit":
            if index is None:
                index = session.last_user_index()
            await self.conversation.keep_first(index or 0)
            await self.conversation.add_user(text)
        elif kind == "reply":
            await self.conversation.add_user(text)
        else:
            await self._drop_after_last_user(include_user=False)
        self.editing, self.edit_index = False, None
        info = engine.info
        budget = session.params.think_budget if info.reasoning and session.params.thinking else None
        widget = await self.conversation.add_assistant(budget)
        local_cpu = info.local_cpu
        if kind == "continue":
            widget.append_reasoning(session.messages[-1].reasoning)
        self._reply_over.clear()
        self._stream = ReplyStream(
            widget,
            self.set_timer,
            self._set_state,
            self._set_speed,
            self._finish,
            on_plan=self._planned,
            on_generated=self._generated,
            model_first=self.r1app.model_first if local_cpu else None,
            reasoning=info.reasoning and session.params.thinking,
        )
        # A blinking cursor is two more frames a second taken from the model.
        self.composer.cursor_blink = not local_cpu
        self._stream.start()
        self._run_reply(self._stream, session, kind, text, index)

    def _set_state(self, state: str) -> None:
        self.status.state = state
        self._refresh_reply_keys()  # "Answer now" shows only while the model reasons

    def _refresh_reply_keys(self) -> None:
        """Show the keys that depend on a reply (Answer now, Regenerate …) as they are now."""
        wanted = (self.generating, self.reasoning_now)
        if wanted != self._keys_for:
            self._keys_for = wanted
            self.refresh_bindings()

    @property
    def reasoning_now(self) -> bool:
        """Whether a reply is streaming its reasoning (and has not been asked to answer)."""
        return (
            self.generating
            and self.engine is not None
            and self.engine.info.reasoning
            and self.status.state == "thinking"
            and not self._cancel.answer_requested
        )

    def action_answer_now(self) -> None:
        """End the reasoning; the model answers from it (the engine closes the block)."""
        if not self.reasoning_now:
            return
        self._cancel.answer_now()
        self.status.state = "answering"
        self._refresh_reply_keys()

    def _set_speed(self, tokens_per_second: float | None) -> None:
        self.status.tokens_per_second = tokens_per_second

    async def _planned(self, plan: PromptPlan) -> None:
        self.status.show_plan(plan)
        if plan.dropped_messages:
            turns = plan.dropped_turns
            self.notify(
                f"The oldest {turns:,} turn{'s' if turns != 1 else ''} no longer fit the "
                f"{plan.n_ctx:,}-token context and will not be sent.",
                severity="warning",
                timeout=6,
            )
            await self.conversation.mark_memory_start(plan.dropped_messages)

    def _generated(self, tokens: int) -> None:
        self.status.generated = tokens
        timing.tokens_shown(tokens)

    async def _drop_after_last_user(self, include_user: bool) -> None:
        children = list(self.conversation.query_children(".user-message, .assistant-message"))
        last_user = max(
            (i for i, w in enumerate(children) if isinstance(w, UserMessage)), default=None
        )
        if last_user is None:
            return
        start = last_user if include_user else last_user + 1
        for widget in children[start:]:
            await widget.remove()

    @work(
        thread=True,
        exclusive=True,
        group="generation",
        exit_on_error=False,
        description="generate a reply",
    )
    def _run_reply(
        self,
        stream: ReplyStream,
        session: ChatSession,
        kind: ReplyKind,
        text: str,
        index: int | None = None,
    ) -> None:
        # On a worker thread: fitting the prompt, then the stream's events, go into the
        # queue; the screen drains it on a timer.
        queue = stream.events
        try:
            if kind == "reply":
                events = session.reply(text, self._cancel)
            elif kind == "edit" and index is not None:
                events = session.edit(index, text, self._cancel)
            elif kind == "edit":
                events = session.edit_last(text, self._cancel)
            elif kind == "continue":
                events = session.continue_reply(self._cancel)
            else:
                events = session.regenerate(self._cancel)
        except R1ChatError as error:
            queue.append(ReplyDone(None, str(error), started=False, text=text))
            with contextlib.suppress(RuntimeError):
                self.app.call_from_thread(stream.wake)
            return
        for event in events:
            queue.append(event)
        queue.append(ReplyDone(session.last_reply))
        with contextlib.suppress(RuntimeError):  # the app is closing: nothing to draw
            self.app.call_from_thread(stream.wake)

    async def _finish(self, widget: AssistantMessage, done: ReplyDone) -> None:
        self._stream = None
        self._reply_over.set()
        self.status.generated = 0
        self.composer.cursor_blink = True
        self._refresh_reply_keys()
        stats = done.reply.stats if done.reply is not None else None
        stopped = stats is not None and stats.finish_reason == "cancelled"
        self.status.state = "stopped" if stopped else "idle"
        if not done.started:  # refused before anything was sent: take the message back
            await self._take_back(done)
            return
        reply = done.reply
        stats = reply.stats if reply else None
        message_id = reply.message_id if reply else None
        failed = {"finish_reason": "error", "error": done.error} if done.error else None
        await widget.finish(
            FINISH_STATUS[stats.finish_reason] if stats else "error",
            stats.to_dict() if stats else failed,  # the reason stays on the message
            message_id,
            None,
        )
        if stats is not None:
            self.status.tokens_per_second = stats.tokens_per_second
        if self.engine is not None:
            self.status.threads = self.engine.info.threads  # the count may have changed
        error = done.error or (stats.error if stats else None)
        if error:
            self.notify(error, title="The reply failed", severity="error", timeout=15)
        elif reply is not None and reply.no_answer and stats and stats.finish_reason != "cancelled":
            self.notify(
                "The model stopped while reasoning, before any answer: "
                f"{self.key('chat.continue')} lets it think on, "
                f"{self.key('chat.regenerate')} answers again.",
                severity="warning",
                timeout=8,
            )
        self._settle()

    async def _take_back(self, done: ReplyDone) -> None:
        conversation_id = self.session.conversation_id
        if conversation_id is not None:
            opened = await self._io(self.service.open, conversation_id)
            await self._show(opened)
        else:
            await self.conversation.show([], empty_hint=self.empty_hint)
        if done.text and not self.composer.text:
            self.composer.text = done.text
        self.notify(done.error or "The reply could not start.", severity="error", timeout=15)

    @work(group="settle", exclusive=True, exit_on_error=False, description="settle after a reply")
    async def _settle(self) -> None:
        """After a reply: its versions, the chat's title and the sidebar, from the store."""
        conversation_id = self.session.conversation_id
        if conversation_id is None:
            return
        opened = await self._io(self.service.open, conversation_id)
        if self.generating or conversation_id != self.session.conversation_id:
            return
        versions = {mid: Versions(*where) for mid, where in opened.versions.items()}
        self.conversation.sync(opened.branch, versions)
        self.sub_title = opened.conversation.title
        self.refresh_sidebar()
        self.measure_soon(0)

    def action_stop(self) -> None:
        if self.generating:
            self._cancel.set()
            # Said at once; the reply's last frame follows as soon as the model stops.
            self.status.state = "stopped"
            if self._stream is not None:
                self._stream.stopping()
                self.call_after_refresh(self._stream.look_for_end)
        elif self.editing:
            self.editing, self.edit_index = False, None
            self.composer.text = self.drafts.get(self.session.conversation_id, "")
            self.notify("Edit cancelled.")

    def on_unmount(self) -> None:
        if self._stream is not None:  # the app is going with a reply still streaming
            self._stream.release()

    async def stop_and_wait(self) -> None:
        """Stop any reply and wait until it is saved (used when quitting)."""
        if self.generating:
            self._cancel.set()
            for worker in list(self.workers):
                if worker.group == "generation":
                    await worker.wait()
            if self._stream is not None:  # what the reply left in its queue, saved now
                await self._stream.flush()
            await self._reply_over.wait()

    async def action_regenerate(self) -> None:
        await self.start_reply("regenerate")

    async def action_continue_reply(self) -> None:
        await self.start_reply("continue")

    @on(Composer.EditLastRequested)
    def _edit_last_from_composer(self) -> None:
        self.action_edit_last()

    def action_edit_last(self) -> None:
        if self.generating:
            return
        index = self.session.last_user_index()
        if index is None:
            self.notify("There is no message to edit yet.", severity="warning")
            return
        self._begin_edit(index)

    @on(EditRequested)
    def _edit_requested(self, event: EditRequested) -> None:
        """`e` on one of your messages, however far back: edit it into a new branch."""
        event.stop()
        index = self._history_index(event.message_id, "user")
        if index is None:
            return
        self._begin_edit(index)

    def _begin_edit(self, index: int) -> None:
        if self.generating:
            self.notify(
                f"r1chat is still answering; {self.key('chat.stop')} stops it first.",
                severity="warning",
            )
            return
        self._keep_draft()
        self.editing, self.edit_index = True, index
        self.composer.text = terminal_safe(self.session.messages[index].content)
        self.composer.move_cursor(self.composer.document.end)
        self.composer.focus()
        last = index == self.session.last_user_index()
        what = "your last message" if last else "this message"
        after = "" if last else " (what followed it stays saved as the other version)"
        self.notify(
            f"Editing {what}: Enter sends it as a new version{after}, "
            f"{self.key('chat.stop')} cancels."
        )

    @on(BranchRequested)
    async def _branch_requested(self, event: BranchRequested) -> None:
        """`b` on a reply: the next message goes on from it, in a new branch."""
        event.stop()
        index = self._history_index(event.message_id, "assistant")
        if index is None:
            return
        if self.generating:
            self.notify(
                f"r1chat is still answering; {self.key('chat.stop')} stops it first.",
                severity="warning",
            )
            return
        if index == len(self.session.messages) - 1:
            self.notify("This is the last reply: your next message follows it anyway.")
            self.composer.focus()
            return
        try:
            self.session.branch_from(index)
        except R1ChatError as error:
            self.notify(str(error), severity="warning")
            return
        await self.conversation.keep_first(index + 1)
        self.composer.focus()
        self.measure_soon(0)
        self.notify(
            "Your next message goes on from this reply; what followed it stays saved "
            "(the versions arrows switch back)."
        )

    def _history_index(self, message_id: str | None, role: str) -> int | None:
        """Where a shown message is in the history (said to the user when it is not)."""
        session = self.session
        index = next(
            (i for i, known in enumerate(session.message_ids) if known and known == message_id),
            None,
        )
        if index is None or session.messages[index].role != role:
            self.notify("That message is not saved yet; try again in a moment.", severity="warning")
            return None
        return index

    def action_copy_last(self) -> None:
        last = next((m for m in reversed(self.session.messages) if m.role == "assistant"), None)
        if last is None or not last.content.strip():
            self.notify("There is no answer to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(last.content)
        self.notify("Answer copied to the clipboard.")
