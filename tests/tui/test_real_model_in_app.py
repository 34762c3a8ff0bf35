"""The chat app on the real SmolLM2 model through llama.cpp, end to end."""

from __future__ import annotations

import pytest

from r1chat.config import Settings
from r1chat.core.service import ChatService
from r1chat.domain import GenerationParams
from r1chat.engine.llama import LlamaEngine
from r1chat.models.hardware import llama_backend
from r1chat.paths import Paths
from r1chat.store import ChatStore
from r1chat.ui.app import R1ChatApp
from r1chat.ui.screens.chat import ChatScreen
from r1chat.ui.widgets.messages import AssistantMessage
from tests.tui_helpers import chat_screen, latest_id, wait_until


@pytest.mark.slow
async def test_the_app_answers_with_the_real_model(tmp_path, smollm2_path):
    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    store = ChatStore.open(paths)
    settings = Settings(generation=GenerationParams(max_tokens=16, temperature=0.0, seed=1))

    def factory(model: str, n_ctx: int | None) -> LlamaEngine:
        return LlamaEngine(model, n_ctx=1024, log_path=paths.llama_log_file)

    service = ChatService(store, settings, factory)
    app = R1ChatApp(settings, paths, service, model=str(smollm2_path))
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = chat_screen(app)
        await wait_until(pilot, lambda: screen.engine is not None, timeout=60)
        assert screen.status.backend == llama_backend() and screen.status.n_ctx == 1024
        tooltip = str(screen.status.query_one("#status-model").tooltip)
        assert tooltip.startswith("llama.cpp runs ") and " thread" in tooltip and "(" in tooltip
        screen.composer.text = "What is the capital of France? Answer briefly."
        screen.composer.focus()
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: bool(screen.conversation.query(AssistantMessage)), timeout=60
        )
        reply = screen.conversation.query_one(AssistantMessage)
        await wait_until(pilot, lambda: not reply.streaming, timeout=120)
        assert "Paris" in reply.answer
        assert reply.answer_view.source == reply.answer
        assert screen.status.tokens_per_second and screen.status.context_used > 0
    saved = store.conversation(latest_id(store)).messages
    assert saved[-1].content == reply.answer and saved[-1].status == "complete"
    # general.name is training noise here, so the file's stem names the model.
    assert saved[-1].model == "SmolLM2-135M-Instruct.Q4_1"
    service.close()
    store.close()
