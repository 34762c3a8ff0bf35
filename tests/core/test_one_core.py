"""The core under both faces: the service owns the engine, saving is an observer it plugs
in, and sampling is declared once in the settings."""

from __future__ import annotations

from dataclasses import fields

import pytest

from r1chat.config import Settings, load_settings
from r1chat.core.service import ChatService, Reply, start_session
from r1chat.core.session import ChatSession
from r1chat.domain import GenerationParams
from r1chat.engine.events import Finished
from r1chat.errors import ConfigError, ReplyRefused
from r1chat.paths import Paths
from r1chat.store import ChatStore
from tests.scripted import Script, ScriptedEngine


class Watcher:
    """An observer that writes nothing: it only keeps what the session tells it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.user_id: str | None = "u-1"
        self.reply_id: str | None = None
        self.seen: list[str] = []
        self.final: Reply | None = None

    def streaming(self, answer: list[str], reasoning: list[str]) -> None:
        self.seen.append("".join(answer))

    def finished(self, reply: Reply) -> None:
        self.final = reply
        self.reply_id = "r-1"


def test_a_session_reports_each_exchange_to_its_observer_and_keeps_the_ids(smol_engine):
    watchers: list[Watcher] = []

    def observe(session, text, user_id, reply_id):
        watchers.append(Watcher(text))
        return watchers[-1]

    session = ChatSession(
        smol_engine, params=GenerationParams(max_tokens=8, temperature=0), observe=observe
    )
    *_, last = session.reply("Say hi.")
    assert isinstance(last, Finished)
    (watcher,) = watchers
    assert (
        watcher.text == "Say hi."
        and watcher.seen
        and watcher.seen[-1] == session.messages[1].content
    )
    assert watcher.final is session.last_reply
    assert session.message_ids == ["u-1", "r-1"]


def test_a_session_without_a_model_refuses_as_data():
    session = ChatSession(None)
    with pytest.raises(ReplyRefused) as refused:
        session.reply("hello")
    assert refused.value.reason == "no-model" and session.messages == []


def test_the_service_owns_the_engine_and_switches_every_session_it_made(tmp_path):
    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    store = ChatStore.open(paths)
    engines = {
        "a.gguf": ScriptedEngine([Script("A")], model_name="A"),
        "b.gguf": ScriptedEngine([Script("B")], model_name="B"),
    }
    service = ChatService(store, load_settings(paths, {}), lambda model, n_ctx: engines[model])
    options = service.options_for(None, {"model": "a.gguf"})
    early = service.session(options)
    assert early.engine is None
    service.load_model("a.gguf")
    late = service.session(options)
    assert early.engine is engines["a.gguf"] and late.engine is engines["a.gguf"]
    service.load_model("b.gguf")
    assert early.engine is late.engine is engines["b.gguf"]
    list(late.reply("hi"))
    saved = store.conversation(late.conversation_id or "")
    assert [m.content for m in saved.messages] == ["hi", "B"]


def test_a_question_without_saving_has_no_observer_and_one_with_saving_is_saved(tmp_path):
    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    store = ChatStore.open(paths)
    engine = ScriptedEngine([Script("Hello.")])
    options = ChatService(store, Settings(), lambda m, n: engine).options_for(None)
    unsaved = start_session(engine, options, None)
    list(unsaved.reply("hi"))
    assert unsaved.observe is None and store.latest() is None
    saved = start_session(engine, options, store)
    list(saved.reply("hi"))
    cid = saved.conversation_id
    assert cid is not None
    again = start_session(engine, options, store, cid)
    assert [m.content for m in again.messages] == ["hi", "Hello."]
    assert again.observe is not None


def test_sampling_is_declared_once_and_read_from_generation(tmp_path):
    sampling = {f.name for f in fields(GenerationParams)} - {"memory"}
    assert not sampling & {f.name for f in fields(Settings)}
    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(
        "[generation]\ntemperature = 0.3\nthink_budget = 64\nsystem_prompt = 'Be brief.'\n"
    )
    settings = load_settings(paths, {})
    assert settings.generation.temperature == 0.3 and settings.generation.think_budget == 64
    assert settings.system_prompt == "Be brief."
    assert settings.with_overrides(top_p=0.5).generation.top_p == 0.5
    with pytest.raises(ConfigError, match="temperature"):
        settings.with_overrides(temperature=9.0)
    paths.config_file.write_text("temperature = 0.3\n")
    with pytest.raises(ConfigError, match="Unknown setting temperature"):
        load_settings(paths, {})
