"""The remote engine over real HTTP on 127.0.0.1: a scripted SSE server for both reasoning
forms and every fault, and a real llama_cpp.server running SmolLM2."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from r1chat.core.saving import saving_to
from r1chat.core.session import ChatSession
from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine.events import AnswerDelta, Finished, PromptPlan, ReasoningDelta
from r1chat.engine.remote import GUESSED_CONTEXT, Endpoint, RemoteEngine
from r1chat.engine.steering import ReplyControl
from r1chat.errors import ConfigError, R1ChatError
from r1chat.store import ChatStore
from tests.sse_server import FINISH, chunk, free_port, scripted_server
from tests.tui_helpers import latest_id

QUESTION = (ChatMessage("user", "Why is the sky blue?"),)


@pytest.fixture
def server():
    with scripted_server() as running:
        yield running


def engine_for(server, **options) -> RemoteEngine:
    return RemoteEngine(Endpoint.parse(server.url, "scripted-r1", **options))


def collect(engine, request=None, control=None):
    events = list(engine.stream(request or ChatRequest(QUESTION), control))
    text = lambda kind: "".join(e.text for e in events if isinstance(e, kind))  # noqa: E731
    assert isinstance(events[-1], Finished)
    return text(ReasoningDelta), text(AnswerDelta), events[-1].stats


# Both reasoning forms, split at awkward places


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_in_a_delta_field_is_reasoning(server, field):
    server.scenario = lambda h, body: h.stream(
        [
            chunk(reasoning="Let me", field=field),
            chunk(reasoning=" think.", field=field),
            chunk("The ans"),
            chunk("wer."),
            FINISH,
        ]
    )
    reasoning, answer, stats = collect(engine_for(server))
    assert (reasoning, answer) == ("Let me think.", "The answer.")
    assert stats.finish_reason == "stop" and stats.reasoning_tokens == 2
    assert stats.answer_tokens == 2 and stats.had_reasoning


def test_inline_think_tags_cut_anywhere_are_reasoning(server):
    pieces = ["<thi", "nk>\nLet me th", "ink.</thi", "nk>\n\nThe ", "answer."]
    server.scenario = lambda h, body: h.stream([chunk(p) for p in pieces] + [FINISH])
    reasoning, answer, _ = collect(engine_for(server))
    assert (reasoning, answer) == ("Let me think.", "The answer.")


def test_what_is_sent_never_holds_earlier_reasoning_and_asks_for_usage(server):
    server.scenario = lambda h, body: h.stream(
        [chunk("Hi"), FINISH, json.dumps({"choices": [], "usage": {"prompt_tokens": 31}})]
    )
    history = (
        ChatMessage("user", "First?"),
        ChatMessage("assistant", "<think>private thought</think>Earlier answer", "private"),
        ChatMessage("user", "Second?"),
    )
    _, _, stats = collect(engine_for(server), ChatRequest(history, system_prompt="Be brief."))
    body = server.requests[-1]["body"]
    sent = json.dumps(body["messages"])
    assert "private" not in sent and "reasoning" not in sent and "<think>" not in sent
    assert body["messages"][1] == {"role": "assistant", "content": "Earlier answer"}
    assert body["messages"][0]["content"].startswith("Be brief.")  # R1: inside the first turn
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert stats.prompt_tokens == 31


def test_the_server_s_own_timings_are_kept(server):
    timings = {"predicted_per_second": 87.5}
    server.scenario = lambda h, body: h.stream([chunk("Hi"), chunk("!", timings=timings), FINISH])
    _, _, stats = collect(engine_for(server))
    assert stats.server_tokens_per_second == 87.5


# Faults: one clear line, the text so far kept


def _fault(server, scenario, **options):
    server.scenario = scenario
    return collect(engine_for(server, **options))


def test_http_errors_say_what_the_server_said(server):
    cases = [
        (401, {"error": {"message": "bad key"}}, {}, "401 unauthorized: bad key"),
        (404, {"error": {"message": "no such model"}}, {}, "check the URL and the model name"),
        (429, {"error": {"message": "slow down"}}, {"Retry-After": "7"}, "try again in 7 s"),
        (500, {"detail": "boom \x1b[31mred"}, {}, "answered 500: boom red"),
    ]
    for status, body, headers, expected in cases:
        _, _, stats = _fault(
            server, lambda h, b, s=status, j=body, x=headers: h.error(s, json.dumps(j), x)
        )
        assert stats.finish_reason == "error" and expected in stats.error
        assert "\x1b" not in stats.error


def test_stream_faults_keep_the_partial_text(server):
    def no_done(h, body):
        h.stream([chunk("Part")], done=False)

    def reset(h, body):
        h.start_stream()
        h.event(chunk("Part"))
        h.wfile.write(b'data: {"choi')
        h.wfile.flush()
        h.connection.shutdown(2)

    def error_object(h, body):
        h.stream([chunk("Part"), json.dumps({"error": {"message": "model crashed"}})])

    def bad_json(h, body):
        h.stream([chunk("Part"), "{not json"])

    cases = [
        (no_done, "closed the stream before the reply ended"),
        (reset, "the text so far is kept"),
        (error_object, "The server reported an error: model crashed"),
        (bad_json, "not JSON"),
    ]
    for scenario, expected in cases:
        _, answer, stats = _fault(server, scenario)
        assert stats.finish_reason == "error" and expected in stats.error, stats.error
        assert answer == "Part"


def test_a_stalled_stream_ends_with_a_message(server):
    def stall(h, body):
        h.start_stream()
        h.event(chunk("Part"))
        time.sleep(2)

    _, answer, stats = _fault(server, stall, read_timeout=0.4)
    assert answer == "Part" and "sent nothing for 0 s" in stats.error.replace("0.4", "0")


def test_an_html_page_is_not_an_event_stream(server):
    server.scenario = lambda h, body: h._send(200, "<html>Gateway</html>", "text/html")
    _, _, stats = collect(engine_for(server))
    assert "did not answer with an event stream" in stats.error


def test_no_server_and_bad_urls_are_one_clear_line(server):
    port = free_port()
    with pytest.raises(R1ChatError, match="connection refused"):
        RemoteEngine(Endpoint.parse(f"http://127.0.0.1:{port}"))
    with pytest.raises(R1ChatError, match="not an http"):
        Endpoint.parse("ftp://example.org")
    with pytest.raises(R1ChatError, match=r"cannot be found|did not answer|connection"):
        RemoteEngine(Endpoint.parse("http://no-such-host.invalid"))


def test_cancelling_closes_the_stream_at_once(server):
    def slow(h, body):
        h.start_stream()
        for index in range(40):
            h.event(chunk(f"w{index} "), pause=0.25)

    server.scenario = slow
    control = ReplyControl()
    started = time.monotonic()
    events = []
    for event in engine_for(server).stream(ChatRequest(QUESTION), control):
        events.append(event)
        if isinstance(event, AnswerDelta):
            control.set()
    assert isinstance(events[-1], Finished) and events[-1].stats.finish_reason == "cancelled"
    assert time.monotonic() - started < 5  # the server would have streamed for 10 s


def test_markup_and_control_sequences_arrive_as_text(server):
    evil = "[bold red]x[/] \x1b]52;c;Zm9v\x07 \x1b[2J"
    server.scenario = lambda h, body: h.stream([chunk(reasoning=evil), chunk(evil), FINISH])
    reasoning, answer, _ = collect(engine_for(server))
    assert "[bold red]x[/]" in answer and "[bold red]x[/]" in reasoning  # text, not markup


# Answer now and the budget on a remote


def test_answer_now_continues_the_closed_reasoning_where_the_server_can(server):
    def scenario(h, body):
        if body["messages"][-1]["role"] == "assistant":
            h.stream([chunk("Answer from prefix."), FINISH])
        else:
            h.start_stream()
            for index in range(30):
                h.event(chunk(reasoning=f"step {index}. "), pause=0.05)

    server.scenario = scenario
    params = GenerationParams(think_budget=3)
    reasoning, answer, stats = collect(
        engine_for(server, prefill="vllm"), ChatRequest(QUESTION, params)
    )
    assert answer == "Answer from prefix." and stats.reasoning_cut == "budget"
    follow = server.requests[-1]["body"]
    assert follow["continue_final_message"] is True and follow["add_generation_prompt"] is False
    prefix = follow["messages"][-1]
    assert prefix["role"] == "assistant" and prefix["content"].endswith("</think>\n\n")
    assert reasoning.strip() in prefix["content"]


def test_a_server_that_cannot_continue_says_so(server):
    server.scenario = lambda h, body: h.stream(
        [chunk(reasoning=f"step {i}. ") for i in range(10)] + [FINISH]
    )
    _, _, stats = collect(
        engine_for(server), ChatRequest(QUESTION, GenerationParams(think_budget=2))
    )
    assert "cannot continue a reply" in stats.error
    with pytest.raises(R1ChatError, match="cannot continue a reply"):
        engine_for(server).stream(ChatRequest(QUESTION, GenerationParams(thinking=False)))


# Config and warnings


def test_plain_http_to_another_host_warns_once():
    far = Endpoint.parse("http://10.20.30.40:8000")
    assert "unencrypted" in str(far.plain_http_warning()) and far.plain_http_warning() is None
    assert Endpoint.parse("http://127.0.0.1:8000").plain_http_warning() is None
    assert Endpoint.parse("https://api.example.org").plain_http_warning() is None


def test_remotes_in_config_are_checked(tmp_path):
    from r1chat.config import load_settings
    from r1chat.core.remotes import configured_remotes
    from r1chat.paths import Paths

    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    paths.config_file.parent.mkdir(parents=True)
    paths.config_file.write_text(
        '[remotes.ds]\nurl = "https://api.deepseek.com"\nmodel = "deepseek-reasoner"\n'
        'api_key_env = "DEEPSEEK_API_KEY"\nprefill = "deepseek"\n'
    )
    remotes = configured_remotes(load_settings(paths, {}))
    assert (
        remotes["ds"].url == "https://api.deepseek.com/v1" and remotes["ds"].record == "remote:ds"
    )
    for bad in ("url = 3", 'url = "x"\napi_key = "sk-1"', 'url = "http://h"\nprefill = "x"'):
        paths.config_file.write_text(f"[remotes.bad]\n{bad}\n")
        with pytest.raises(ConfigError, match=r"\[remotes.bad\]"):
            configured_remotes(load_settings(paths, {}))


# ask --remote, and the key never leaks


@pytest.mark.slow
def test_ask_remote_streams_saves_and_never_leaks_the_key(server, r1chat_command, cli_env, home):
    secret = "sk-test-very-secret-4242"
    server.scenario = lambda h, body: h.stream(
        [chunk(reasoning="Thinking."), chunk("Blue light scatters."), FINISH]
    )
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[remotes.lab]\nurl = "{server.url}"\napi_key_env = "LAB_KEY"\n')
    env = {**cli_env, "LAB_KEY": secret}
    done = subprocess.run(
        [*r1chat_command, "ask", "--model", "lab", "--json", "Why is the sky blue?"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["answer"] == "Blue light scatters." and result["reasoning"] == "Thinking."
    assert result["backend"] == "remote"
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {secret}"
    # Resume goes back to the same server, by name.
    again = subprocess.run(
        [*r1chat_command, "ask", "-c", "And at sunset?"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert len(server.requests) == 2
    # A refused key: the message names the variable, never the key.
    server.scenario = lambda h, body: h.error(401, json.dumps({"error": {"message": "nope"}}))
    refused = subprocess.run(
        [*r1chat_command, "ask", "--model", "lab", "Hi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "$LAB_KEY" in refused.stderr
    exported = subprocess.run(
        [*r1chat_command, "export", "--all", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    everything = [done.stdout, done.stderr, again.stdout, again.stderr, refused.stderr]
    everything += [exported.stdout, exported.stderr]
    for path in home.rglob("*"):
        if path.is_file():
            everything.append(path.read_bytes().decode("utf-8", "replace"))
    assert not any(secret in text for text in everything)


# A real server: llama_cpp.server with SmolLM2


@pytest.fixture(scope="module")
def llama_server(smollm2_path, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(smollm2_path),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "1024",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(url + "/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.slow
def test_a_real_server_answers_through_ask_models_and_a_session(
    llama_server, r1chat_command, cli_env, tmp_path
):
    listed = subprocess.run(
        [*r1chat_command, "models", "--remote", llama_server, "--json"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    served = json.loads(listed.stdout)
    assert len(served) == 1 and served[0]["id"]
    done = subprocess.run(
        [
            *r1chat_command,
            "ask",
            "--remote",
            llama_server,
            "-n",
            "12",
            "--temperature",
            "0",
            "--json",
            "What is 2+2?",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["answer"].strip() and result["stats"]["completion_tokens"] > 0
    # The session the app uses: streamed and stored.
    store = ChatStore(tmp_path / "chats.db")
    engine = RemoteEngine(Endpoint.parse(llama_server))
    try:
        session = ChatSession(
            engine, params=GenerationParams(max_tokens=12, temperature=0), observe=saving_to(store)
        )
        list(session.reply("Say hello."))
        saved = store.conversation(latest_id(store))
        assert saved.messages[-1].content.strip() and saved.messages[-1].status == "complete"
        assert saved.params["model_path"].startswith(llama_server + "#")
    finally:
        engine.close()
        store.close()


# The app on a remote


@pytest.mark.slow
async def test_the_app_streams_from_a_remote_and_survives_its_faults(server, tmp_path):
    from r1chat.config import Settings
    from r1chat.core.service import ChatService
    from r1chat.paths import Paths
    from r1chat.ui.app import R1ChatApp
    from r1chat.ui.widgets.messages import AssistantMessage
    from tests.tui_helpers import ready, wait_until

    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    store = ChatStore.open(paths)
    settings = Settings()

    def load(model: str, n_ctx: int | None):
        from r1chat.core.remotes import load_engine

        return load_engine(model, settings, paths, n_ctx)

    record = Endpoint.parse(server.url, "scripted-r1").record
    app = R1ChatApp(
        settings, paths, ChatService(store, settings, load), model=record, remember_settings=False
    )
    server.scenario = lambda h, body: h.stream(
        [chunk(reasoning="Sunlight meets air."), chunk("Blue scatters most."), FINISH]
    )
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert screen.status.backend == "remote"
        screen.composer.text = "Why is the sky blue?"
        screen.composer.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and screen.session.last_reply)
        reply = screen.conversation.query(AssistantMessage).last()
        assert reply.answer == "Blue scatters most." and reply.reasoning == "Sunlight meets air."

        def broken(h, body):
            h.start_stream()
            h.event(chunk("Half an ans"))
            h.connection.shutdown(2)

        server.scenario = broken
        screen.composer.text = "Again?"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and len(server.requests) == 2)
        await wait_until(pilot, lambda: screen.conversation.query(AssistantMessage).last().answer)
        notices = lambda: [n.message for n in app._notifications]  # noqa: E731
        await wait_until(pilot, lambda: any("the text so far is kept" in n for n in notices()))
        assert screen.is_mounted and app.is_running
    saved = store.conversation(latest_id(store)).messages
    assert saved[-1].content == "Half an ans" and saved[-1].status == "interrupted"
    assert saved[1].content == "Blue scatters most."
    store.close()


@pytest.mark.parametrize("count", [2**62, 1.5e300, -5, "12abc", None, True])
def test_absurd_numbers_from_a_server_are_ignored_not_fatal(server, count):
    usage = {"usage": {"prompt_tokens": count, "completion_tokens": count}}
    timings = {"timings": {"predicted_per_second": count}}
    server.scenario = lambda h, body: h.stream(
        [chunk("Fine."), json.dumps({"choices": [], **usage, **timings}), FINISH]
    )
    _, answer, stats = collect(engine_for(server))
    assert answer == "Fine." and stats.finish_reason == "stop" and stats.error is None
    assert 0 <= stats.prompt_tokens < 100_000_000
    assert stats.to_dict().get("server_tokens_per_second") is None


def test_a_served_context_that_makes_no_sense_is_not_believed(server):
    from r1chat.engine.remote import list_models

    server.models = ["scripted-r1"]
    original = server.RequestHandlerClass.do_GET

    def listing(handler):
        handler.server.gets.append(handler.path)
        body = json.dumps({"data": [{"id": "scripted-r1", "max_model_len": -5}]})
        handler._send(200, body, "application/json")

    server.RequestHandlerClass.do_GET = listing
    try:
        (entry,) = list_models(Endpoint.parse(server.url))
        assert entry["n_ctx"] is None
        engine = RemoteEngine(Endpoint.parse(server.url))
        assert engine.n_ctx >= 2048  # the default, not -5
        _, answer, _ = collect(engine)
        assert answer == "Hello"
    finally:
        server.RequestHandlerClass.do_GET = original


def test_a_line_without_end_is_bounded_and_one_sentence(server):
    def endless_line(handler, body):
        handler.start_stream()
        handler.wfile.write(b"data: " + b"x" * (3 * 1024 * 1024))  # no newline, ever
        handler.wfile.flush()
        time.sleep(1)

    server.scenario = endless_line
    _, answer, stats = collect(engine_for(server))
    assert stats.finish_reason == "error" and answer == ""
    assert stats.error is not None and "a line of more than 1 MB without an end" in stats.error


def test_an_endless_reasoning_stream_stops_at_max_tokens(server):
    def endless(handler, body):
        handler.start_stream()
        for _ in range(5000):
            handler.event(chunk(reasoning=" hmm"))

    server.scenario = endless
    request = ChatRequest(QUESTION, GenerationParams(max_tokens=50))
    reasoning, _, stats = collect(engine_for(server), request)
    assert stats.finish_reason == "length"
    assert stats.reasoning_tokens + stats.answer_tokens == 50 and reasoning.count("hmm") >= 49


def test_an_endless_stream_never_passes_the_context(server):
    def endless(handler, body):
        handler.start_stream()
        for _ in range(5000):
            handler.event(chunk(" word"))

    server.scenario = endless
    engine = engine_for(server, n_ctx=512)
    _, _, stats = collect(engine, ChatRequest(QUESTION))
    assert stats.finish_reason == "length" and 0 < stats.answer_tokens < 512


def test_a_server_that_drips_a_byte_at_a_time_is_stopped(server):
    def drip(handler, body):
        handler.start_stream()
        for byte in b'data: {"choices": [{"delta": {"content": "slow"}}]}':
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.2)

    server.scenario = drip
    started = time.monotonic()
    _, _, stats = collect(engine_for(server, read_timeout=1.0))
    assert time.monotonic() - started < 5
    assert stats.error is not None and "sent no whole event for 1 s" in stats.error


def test_a_reply_that_never_ends_is_stopped_after_reply_timeout(server):
    def steady(handler, body):
        handler.start_stream()
        for _ in range(100):
            handler.event(chunk(" more"), pause=0.1)

    server.scenario = steady
    started = time.monotonic()
    _, answer, stats = collect(engine_for(server, reply_timeout=1.0))
    assert time.monotonic() - started < 5 and answer.startswith("more")
    assert stats.error is not None and "after 1 s (reply_timeout)" in stats.error


# The server's context window


def long_chat(turns: int) -> tuple[ChatMessage, ...]:
    history = []
    for n in range(turns):
        history.append(ChatMessage("user", f"Question {n}: " + "tell me about the sea " * 12))
        history.append(ChatMessage("assistant", f"Answer {n}: " + "the sea is deep " * 12))
    return (*history, ChatMessage("user", "And the sky?"))


def test_the_window_is_what_the_server_says_and_a_guess_is_marked(server):
    server.props = {"default_generation_settings": {"n_ctx": 3072}}
    told = engine_for(server)
    assert told.n_ctx == 3072 and not told.plan(ChatRequest(QUESTION)).window_guessed
    server.props = None
    server.model_fields = {"max_model_len": 16384}  # vLLM
    assert engine_for(server).n_ctx == 16384
    server.model_fields = {}
    guessed = engine_for(server)
    assert guessed.n_ctx == GUESSED_CONTEXT
    assert guessed.plan(ChatRequest(QUESTION)).window_guessed
    configured = RemoteEngine(Endpoint.parse(server.url, "scripted-r1", n_ctx=2048))
    assert configured.n_ctx == 2048 and not configured.window_guessed


def test_a_refusal_that_names_the_window_refits_the_chat_and_asks_once_more(server):
    def scenario(handler, body):
        if len(server.requests) == 1:
            handler.error(
                400,
                json.dumps(
                    {
                        "error": {
                            "message": "This model's maximum context length is 1024 tokens. "
                            "However, you requested 3302 tokens.",
                            "code": "context_length_exceeded",
                        }
                    }
                ),
            )
        else:
            handler.stream([chunk("Blue."), FINISH])

    server.scenario = scenario
    engine = engine_for(server)
    events = list(engine.stream(ChatRequest(long_chat(40))))
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.stats.finish_reason == "stop"
    assert engine.n_ctx == 1024 and not engine.window_guessed
    first, second = (len(r["body"]["messages"]) for r in server.requests)
    assert second < first
    plans = [e for e in events if isinstance(e, PromptPlan)]
    assert plans[-1].n_ctx == 1024 and plans[-1].dropped_messages > plans[0].dropped_messages


def test_a_message_longer_than_the_servers_window_is_one_sentence(server):
    refusal = {"error": {"message": "Requested tokens (9000) exceed context window of 512"}}
    server.scenario = lambda h, body: h.error(400, json.dumps(refusal))
    engine = engine_for(server)
    huge = (ChatMessage("user", "word " * 2000),)
    last = list(engine.stream(ChatRequest(huge)))[-1]
    assert isinstance(last, Finished)
    stats = last.stats
    assert stats.finish_reason == "error" and stats.error is not None
    assert stats.error.startswith("This chat is longer than") and "(512 tokens)" in stats.error
    assert len(server.requests) == 1


@pytest.mark.slow
def test_a_real_server_tells_its_window_by_refusing_and_the_chat_goes_on(llama_server):
    engine = RemoteEngine(Endpoint.parse(llama_server))
    try:
        assert engine.window_guessed and engine.n_ctx == GUESSED_CONTEXT
        request = ChatRequest(long_chat(40), GenerationParams(max_tokens=8, temperature=0))
        last = list(engine.stream(request))[-1]
        assert isinstance(last, Finished)
        stats = last.stats
        assert stats.finish_reason in ("stop", "length"), stats.error
        assert engine.n_ctx == 1024 and not engine.window_guessed  # --n_ctx 1024
        assert stats.prompt_tokens + 8 <= 1024
    finally:
        engine.close()


def test_replies_reuse_the_connection_the_last_one_opened(server):
    """Each reply opened a new connection (and read the certificate store for it, ~30 ms
    of CPU here; a TLS handshake more to an API) before its first token: an engine's
    replies now go through one client, on the connection the server keeps open."""
    peers: list[int] = []

    def keep_alive(handler, body):
        peers.append(handler.client_address[1])
        data = "".join(f"data: {event}\n\n" for event in (chunk("Hello"), FINISH, "[DONE]"))
        handler.protocol_version = "HTTP/1.1"
        handler.close_connection = False
        handler._send(200, data, "text/event-stream")

    server.scenario = keep_alive
    engine = engine_for(server)
    try:
        for _ in range(3):
            assert collect(engine)[1] == "Hello"
    finally:
        engine.close()
    assert len(peers) == 3 and len(set(peers)) == 1


def test_a_stream_that_goes_on_after_done_is_cut_off_at_once(server):
    """After `[DONE]` the engine reads on, so the connection can serve the next reply; a
    server that keeps sending (or holds the stream open) is cut off, and the reply ends
    as it was."""

    def chatty(handler, body):
        handler.stream([chunk("Hello"), FINISH])
        for _ in range(50):
            handler.event(chunk(" more"), pause=0.1)

    def silent(handler, body):
        handler.stream([chunk("Hello"), FINISH])
        time.sleep(5)

    for scenario in (chatty, silent):
        server.scenario = scenario
        engine = engine_for(server)
        started = time.monotonic()
        try:
            _, answer, stats = collect(engine)
        finally:
            engine.close()
        assert answer == "Hello" and stats.finish_reason == "stop"
        assert time.monotonic() - started < 2.5  # not the 5 s the server goes on for


def test_cancelling_while_the_server_is_silent_stops_at_once(server):
    """A server reading a long prompt sends nothing for a while: Esc then waited for its
    next byte (closing the response does not end a read in progress); the connection is
    now cut, and the reply stops at once."""

    def reading(handler, body):
        handler.stream([chunk("Hi")], done=False)
        time.sleep(5)

    server.scenario = reading
    control = ReplyControl()
    engine = engine_for(server)
    events = []
    try:
        for event in engine.stream(ChatRequest(QUESTION), control):
            events.append(event)
            if isinstance(event, AnswerDelta):
                control.set()
                pressed = time.monotonic()
    finally:
        engine.close()
    assert isinstance(events[-1], Finished) and events[-1].stats.finish_reason == "cancelled"
    assert time.monotonic() - pressed < 1  # not the 5 s the server stays silent
