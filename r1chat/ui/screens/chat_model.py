"""Provides `ModelLoading`: loading and switching the model a chat runs on, in the background."""

from __future__ import annotations

import weakref
from pathlib import Path

from textual import work

from r1chat.core.events import Engine
from r1chat.core.service import ChatOptions
from r1chat.ui import timing
from r1chat.ui.screens.chat_base import (
    ChatScreenBase,
)
from r1chat.ui.screens.dialogs import ConfirmScreen
from r1chat.ui.widgets.answer import load_renderers


class ModelLoading(ChatScreenBase):
    """Loading and switching the model a chat runs on, in the background."""

    def load_model(
        self, model: str, n_ctx: int | None = None, *, drawn_first: bool = False
    ) -> None:
        """Load `model` in the background; the screen stays usable meanwhile.

        `drawn_first` (at start-up) starts the load once the screen is drawn: its imports
        (llama.cpp, gguf, numpy) would hold the first frame up. The status says the model
        is loading from now on either way.
        """
        self.show_loading(model)
        self.status.backend = ""
        if drawn_first:
            self.call_after_refresh(self._load_engine, model, n_ctx)
        else:
            self._load_engine(model, n_ctx)

    def show_loading(self, model: str) -> None:
        """Say in the status bar that `model` is loading."""
        self.status.state = "loading model"
        self.status.model = Path(model).name

    @work(
        thread=True, exclusive=True, group="model", exit_on_error=False, description="load a model"
    )
    def _load_engine(self, model: str, n_ctx: int | None) -> Engine:
        return self.service.load_model(model, n_ctx)

    def _engine_ready(self, engine: Engine) -> None:
        self._shown = weakref.ref(engine)
        info = engine.info
        self.status.model = info.model_name
        self.status.backend = info.backend_label
        self.status.threads = info.threads
        self.status.n_ctx = info.n_ctx
        self.status.state = "idle"
        self.measure_soon(0)
        warning = getattr(engine, "warning", None)  # a remote over plain http, said once
        for sentence in (warning, info.notice):
            if sentence:
                self.notify(sentence, severity="warning", timeout=20)
        timing.model_ready(getattr(engine, "threads", None))
        self._load_renderers()  # while the first message is typed, not during its reply

    @work(thread=True, group="renderers", exit_on_error=False, description="load renderers")
    def _load_renderers(self) -> None:
        load_renderers()

    def switch_model(self, model: str) -> None:
        """Run this chat on `model` from now on (saved with the chat)."""
        if self.generating:

            def answered(yes: bool | None) -> None:
                if yes:
                    self._switch_after_stop(model)

            self.app.push_screen(
                ConfirmScreen(
                    f"Stop the reply and switch to {Path(model).name}?", confirm="Stop and switch"
                ),
                answered,
            )
            return
        self._switch(model)

    @work(
        group="switch",
        exclusive=True,
        exit_on_error=False,
        description="stop the reply, then switch model",
    )
    async def _switch_after_stop(self, model: str) -> None:
        self._cancel.set()
        await self._reply_over.wait()  # the reply ends within a token, then it is saved
        self._switch(model)

    def _switch(self, model: str) -> None:
        self.model = model
        self.options = ChatOptions(model, None, self.session.params, self.session.system_prompt)
        self.load_model(model)
        self._record_after_load()

    @work(group="record", exclusive=True, exit_on_error=False, description="save the chat's model")
    async def _record_after_load(self) -> None:
        for worker in list(self.workers):
            if worker.group == "model":
                await worker.wait()
        if self.session.conversation_id is not None:
            await self._io(self.service.record_settings, self.session)
            self.refresh_sidebar()
