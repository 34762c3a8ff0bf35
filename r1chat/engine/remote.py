"""Provides `RemoteEngine`: a model served over the OpenAI-compatible chat API.

vLLM, llama.cpp's llama-server, SGLang, Ollama, LM Studio and hosted APIs such as
DeepSeek's all speak `/v1/chat/completions` with server-sent events. Reasoning comes
either in a delta field of its own (`reasoning_content`, or `reasoning`) or inline as
`<think>` tags in `content`; both go through the same `<think>` splitter, the field
form by writing the tags it stands for.

Earlier reasoning is never sent back (DeepSeek's API refuses it). The API key is read
from the environment variable the endpoint names, only when a request is made, and
never appears in errors, logs or saved chats.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from r1chat.config.sections import PREFILL_KINDS as PREFILL_KINDS
from r1chat.config.sections import READ_TIMEOUT as READ_TIMEOUT
from r1chat.config.sections import REPLY_TIMEOUT
from r1chat.domain import REMOTE_PREFIX as REMOTE_PREFIX
from r1chat.domain import ChatRequest, is_remote_record
from r1chat.engine.base import Emit, EngineInfo, GenerationThread, pump
from r1chat.engine.context import estimated_plan, estimated_tokens, kept_messages
from r1chat.engine.events import (
    EngineEvent,
    Finished,
    FinishReason,
    Progress,
    PromptPlan,
    ReasoningCut,
    ReasoningDelta,
)
from r1chat.engine.steering import NO_REASONING, ReplyTally
from r1chat.engine.template import strip_reasoning
from r1chat.engine.think import CLOSE, OPEN
from r1chat.errors import ModelError, R1ChatError
from r1chat.models.family import default_sampling, is_r1_model
from r1chat.text import terminal_safe, without_credentials

OLLAMA_PORT = 11434
"""Where Ollama serves; only there is its `/api/show` asked for the window."""
GUESSED_CONTEXT = 4096
"""The window assumed for a server that does not say its own, until it refuses a prompt
(the meter marks it as a guess)."""
_OVERFLOW = re.compile(
    r"(?:maximum context length is|context window of|context size of|n_ctx\W+)\s*(\d+)", re.I
)
"""How servers name their window when a prompt is too long: OpenAI and vLLM ("maximum
context length is 2048 tokens"), llama_cpp.server ("exceed context window of 2048"),
llama-server (`"n_ctx": 2048` in its error)."""
CONNECT_TIMEOUT = 10.0
_WARNED: set[str] = set()
_REASONING_NAME = re.compile(r"(^|[^a-z0-9])(r1|reasoner|qwq)([^a-z0-9]|$)")
"""Served names that say the model reasons (`deepseek-r1:7b`, `deepseek-reasoner`, `qwq`)."""


@dataclass(frozen=True)
class Endpoint:
    """Where a remote model is served, and how to talk to it."""

    url: str
    """The API's base URL, ending in `/v1`."""
    model: str | None = None
    """The served model's name (`None`: the first the server lists)."""
    api_key_env: str | None = None
    """The environment variable that holds the API key (never the key itself)."""
    name: str | None = None
    """Its name in config.toml's `[remotes]`, if it has one."""
    read_timeout: float = READ_TIMEOUT
    prefill: str | None = None
    """How the server continues a final assistant message (`vllm`, `llama-server`,
    `deepseek`), which answer-now and thinking off need; `None`: it cannot."""
    n_ctx: int | None = None
    reply_timeout: float = REPLY_TIMEOUT
    """Seconds one reply may take in all, however steadily the server sends."""

    @classmethod
    def parse(cls, url: str, model: str | None = None, **options: Any) -> Endpoint:
        """Check `url` (http or https with a host) and add `/v1` when it lacks it.

        A user name or password in the URL is refused (it would be saved with every chat
        and shown wherever the model is): the key belongs in an environment variable.
        """
        text = url.strip()
        try:
            parts = urlsplit(text)
            host = parts.hostname
        except ValueError:  # an unclosed [IPv6 address, a bad port
            parts, host = None, None
        if parts is None or parts.scheme not in ("http", "https") or not host:
            raise R1ChatError(
                f"{terminal_safe(redacted(url))!r} is not an http(s) URL; give one like "
                "http://127.0.0.1:8000/v1."
            )
        if parts.username is not None or parts.password is not None:
            raise R1ChatError(
                f"{terminal_safe(redacted(url))!r} carries a user name or password, which r1chat "
                "would save with every chat; drop it, put the key in an environment variable "
                "and name it with api_key_env under [remotes.NAME] in config.toml."
            )
        scheme_end = text.index(":")
        text = text[:scheme_end].lower() + text[scheme_end:]  # HTTP://… works as http://…
        base = text.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        return cls(base, model or None, **options)

    @property
    def record(self) -> str:
        """What a chat saves as its model: `remote:NAME`, or `URL#MODEL`."""
        if self.name:
            return REMOTE_PREFIX + self.name
        return f"{self.url}#{self.model or ''}"

    @property
    def loopback(self) -> bool:
        """Whether the server runs on this machine."""
        host = urlsplit(self.url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def headers(self) -> dict[str, str]:
        """Request headers, with the key from the environment when one is named."""
        headers = {"Accept": "text/event-stream"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise R1ChatError(
                    f"The API key for {self.name or self.url} should be in ${self.api_key_env}, "
                    "which is not set; export it and try again."
                )
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def plain_http_warning(self) -> str | None:
        """Once per endpoint: prompts to a non-loopback host over plain http travel in clear."""
        if self.url.startswith("https://") or self.loopback or self.url in _WARNED:
            return None
        _WARNED.add(self.url)
        return (
            f"{self.url} is plain http on another machine: prompts and answers travel "
            "unencrypted (use https, or a tunnel)."
        )


MAX_COUNT = 100_000_000
"""No prompt, context or reply a server reports can hold more tokens than this."""


def sane_count(value: object, low: int = 0) -> int | None:
    """A token count a server sent, if it is a whole number from `low` to `MAX_COUNT`
    (`None` for `2**62`, `1.5e300`, `-5`, `"12abc"` and the like)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if low <= value <= MAX_COUNT else None


def is_remote(model: str | None) -> bool:
    """Whether a chat's recorded model is a remote endpoint rather than a file."""
    return is_remote_record(model)


def redacted(url: str) -> str:
    """`url` without any user name or password in it (`http://***@host/`), for messages."""
    return without_credentials(url, "***@")


def client(endpoint: Endpoint) -> Any:
    """An httpx client for `endpoint`: its connect and between-chunks timeouts, no redirects."""
    import httpx

    timeout = httpx.Timeout(CONNECT_TIMEOUT, read=endpoint.read_timeout)
    return httpx.Client(timeout=timeout, follow_redirects=False)


MAX_LINE = 1024 * 1024
"""Bytes one line of a server's event stream may take; a longer one stops the reply."""


class StreamTooOdd(Exception):
    """The event stream broke a bound: a line without end, or events that never come."""


def sse_data(response: Any, between_events: float, in_all: float = REPLY_TIMEOUT) -> Iterator[str]:
    """The `data` of each server-sent event in `response`, read with bounds: no line longer
    than `MAX_LINE` (a server that never ends one would fill the memory), and no more than
    `between_events` seconds between two events (a server that drips a byte at a time
    never trips the socket's own timeout), and no more than `in_all` seconds for all."""
    buffer = b""
    data: list[str] = []
    started = last_event = time.monotonic()
    for chunk in response.iter_bytes():
        buffer += chunk
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                break
            line, buffer = buffer[:end].rstrip(b"\r"), buffer[end + 1 :]
            if not line:  # the end of an event
                if data:
                    last_event = time.monotonic()
                    yield "\n".join(data)
                    data = []
                continue
            field, _, value = line.partition(b":")
            if field == b"data":
                data.append(
                    value[1:].decode("utf-8", "replace")
                    if value[:1] == b" "
                    else value.decode("utf-8", "replace")
                )
        if len(buffer) > MAX_LINE:
            raise StreamTooOdd(
                f"sent a line of more than {MAX_LINE // 1024 // 1024} MB without an end"
            )
        now = time.monotonic()
        if now - last_event > between_events:
            raise StreamTooOdd(f"sent no whole event for {between_events:.0f} s")
        if now - started > in_all:
            raise StreamTooOdd(f"was still sending this reply after {in_all:.0f} s (reply_timeout)")
    if data:
        yield "\n".join(data)


@contextmanager
def chat_stream(endpoint: Endpoint, body: dict[str, Any], http: Any = None) -> Iterator[Any]:
    """The server-sent events of one `/chat/completions` request (as httpx-sse reads them),
    through `http` (a `client` of the caller's, whose connection may serve the next
    request) or a client of its own, closed when the block ends."""
    from httpx_sse import connect_sse

    with ExitStack() as stack:
        if http is None:
            http = stack.enter_context(client(endpoint))
        url, headers = endpoint.url + "/chat/completions", endpoint.headers()
        yield stack.enter_context(connect_sse(http, "POST", url, json=body, headers=headers))


def list_models(endpoint: Endpoint) -> list[dict[str, Any]]:
    """The server's `/v1/models` entries (`id`, and a context size where it says one)."""
    import httpx

    try:
        with client(endpoint) as http:
            response = http.get(endpoint.url + "/models", headers=endpoint.headers())
    except httpx.HTTPError as error:
        raise ModelError(_connection_problem(endpoint, error)) from error
    if response.status_code >= 400:
        raise ModelError(_http_problem(endpoint, response.status_code, response.text, response))
    try:
        data = response.json()["data"]
        assert isinstance(data, list)
    except (ValueError, KeyError, TypeError, AssertionError) as error:
        raise ModelError(
            f"{endpoint.url}/models did not answer with a model list; is it an "
            "OpenAI-compatible server?"
        ) from error
    models = []
    for entry in data:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            meta = entry.get("meta")
            context = entry.get("max_model_len") or (
                meta.get("n_ctx_train") if isinstance(meta, dict) else None
            )
            models.append({"id": entry["id"], "n_ctx": sane_count(context, low=64)})
    return models


def served_context(endpoint: Endpoint, model: str) -> int | None:
    """The context window the server says it runs `model` with, where it says one:
    llama-server's `/props`, Ollama's `num_ctx` (`/api/show`). `None` if it does not."""
    import httpx

    root = endpoint.url.removesuffix("/").removesuffix("/v1")
    try:
        with client(endpoint) as http:
            props = http.get(root + "/props", headers=endpoint.headers())
            if props.status_code == 200:
                data = props.json()
                settings = (
                    data.get("default_generation_settings") if isinstance(data, dict) else None
                )
                for where in (settings, data):
                    if isinstance(where, dict):
                        found = sane_count(where.get("n_ctx"), low=64)
                        if found is not None:
                            return found
            if urlsplit(root).port != OLLAMA_PORT:
                return None
            shown = http.post(root + "/api/show", json={"model": model}, headers=endpoint.headers())
            if shown.status_code == 200:
                data = shown.json()
                text = data.get("parameters") if isinstance(data, dict) else None
                match = re.search(r"^num_ctx\s+(\d+)", text or "", re.M)
                if match:
                    return sane_count(int(match.group(1)), low=64)
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return None


def overflow_window(text: str) -> int | None:
    """The window a server names when it refuses a prompt as too long (`None`: it is not
    that refusal, or names no number)."""
    lowered = text.lower()
    if not any(
        word in lowered
        for word in ("context length", "context window", "context size", "context_length")
    ):
        return None
    match = _OVERFLOW.search(text)
    return sane_count(int(match.group(1)), low=64) if match else -1


class RemoteEngine:
    """Streams replies from an OpenAI-compatible server; see the module's docstring."""

    def __init__(self, endpoint: Endpoint, *, n_ctx: int | None = None) -> None:
        self.endpoint = endpoint
        model, served_ctx = endpoint.model, None
        if model is None or endpoint.n_ctx is None:
            listed = list_models(endpoint)  # vLLM says max_model_len here
            if not listed:
                raise ModelError(f"{endpoint.url} serves no models.")
            chosen = next((m for m in listed if m["id"] == model), None) if model else listed[0]
            if chosen is None:
                names = ", ".join(terminal_safe(m["id"]) for m in listed[:5])
                raise ModelError(
                    f"{endpoint.url} does not serve {terminal_safe(model or '')!r}; it serves "
                    f"{names}."
                )
            model, served_ctx = chosen["id"], chosen["n_ctx"]
        self.model: str = model
        told = served_context(endpoint, model) or served_ctx
        self.window_guessed = told is None and endpoint.n_ctx is None and not n_ctx
        """No server or config said the window: `GUESSED_CONTEXT`, until a refusal says."""
        if told is not None:  # what the server runs is the window, whatever was asked
            self.n_ctx = min(n_ctx, told) if n_ctx else told
        else:
            self.n_ctx = n_ctx or endpoint.n_ctx or GUESSED_CONTEXT
        self._limit = self.n_ctx
        self.reasoning = is_r1_model(None, model) or bool(_REASONING_NAME.search(model.lower()))
        self._worker = GenerationThread(name="r1chat-remote")
        self._busy = threading.Lock()
        self._http: Any = None
        """The client replies stream through (made with the first), so a reply reuses the
        last one's connection: no new TCP or TLS handshake (and certificate store read)
        before its first token."""
        self.warning = endpoint.plain_http_warning()
        """Said once to the user: the endpoint is plain http to another machine."""

    @property
    def info(self) -> EngineInfo:
        """The served model, as the user knows it."""
        temperature, top_p = default_sampling(self.reasoning)
        return EngineInfo(
            model_name=self.model,
            model_path=Endpoint(self.endpoint.url, self.model, name=self.endpoint.name).record,
            backend="remote",
            n_ctx=self.n_ctx,
            reasoning=self.reasoning,
            default_temperature=temperature,
            default_top_p=top_p,
            local_cpu=self.endpoint.loopback,
        )

    def count_tokens(self, text: str) -> int:
        """About how many tokens `text` takes (no tokenizer here: an estimate)."""
        return estimated_tokens(text)

    def plan(self, request: ChatRequest) -> PromptPlan:
        """Fit `request`, counting about four characters a token (the server has the tokenizer)."""
        plan = estimated_plan(request, self.n_ctx, estimated_tokens(request.system_prompt) + 8)
        return replace(plan, window_guessed=self.window_guessed)

    def messages(self, request: ChatRequest, plan: PromptPlan) -> list[dict[str, Any]]:
        """What is sent: the kept turns' answers (never their reasoning), and the system
        prompt (inside the first user turn for R1 models, as DeepSeek advises)."""
        kept, _ = kept_messages(request.messages, plan.dropped_messages)
        sent: list[dict[str, Any]] = []
        system = request.system_prompt.strip()
        for message in kept:
            content = message.content
            if message.role == "assistant":
                content = strip_reasoning(content)
            sent.append({"role": message.role, "content": content})
        if system:
            if self.reasoning:
                first = next((m for m in sent if m["role"] == "user"), None)
                if first is not None:
                    first["content"] = f"{system}\n\n{first['content']}"
            else:
                sent.insert(0, {"role": "system", "content": system})
        return sent

    def stream(
        self, request: ChatRequest, cancel: threading.Event | None = None
    ) -> Iterator[EngineEvent]:
        """Start a reply on the engine's thread; see `Engine.stream`."""
        if not request.messages or request.messages[-1].role != "user":
            raise R1ChatError("A reply needs a conversation that ends with a user message.")
        thinking_off = self.reasoning and not request.params.thinking
        continuing = request.continue_reasoning is not None
        if (thinking_off or continuing) and self.endpoint.prefill is None:
            raise R1ChatError(
                self._cannot_prefill("answer without thinking" if thinking_off else "think on")
            )
        if not self._busy.acquire(blocking=False):
            raise R1ChatError("The model is still answering; stop that reply first.")
        plan = self.plan(request)
        room = max(1, self.n_ctx - plan.tokens)
        self._limit = min(request.params.max_tokens or room, room)
        """Tokens this reply may take: never past `max_tokens` or the context window."""
        cancel = cancel or threading.Event()
        tally = ReplyTally(
            cancel,
            starts_in_reasoning=continuing,
            continuing=continuing,
            think_budget=request.params.think_budget if self.reasoning else None,
            thinking_off=thinking_off,
        )
        messages = self.messages(request, plan)
        prefix = None
        if thinking_off:
            prefix = NO_REASONING
        elif continuing:
            prefix = f"{OPEN}\n{request.continue_reasoning}"

        def produce(emit: Emit, cancel: threading.Event) -> None:
            try:
                emit(plan)
                emit(Progress(0, plan.tokens))
                self._run(request, messages, prefix, emit, tally)
            finally:
                self._busy.release()

        return pump(produce, cancel, self._worker)

    def _learn(self, over: _Overflow) -> bool:
        """Take the window a refusal named; whether it is new (a reason to fit again)."""
        if over.window is None or over.window >= self.n_ctx:
            return False
        self.n_ctx, self.window_guessed = over.window, False
        self._limit = min(self._limit, self.n_ctx)
        return True

    def _too_long(self, window: int | None) -> str:
        where = self.endpoint.name or self.endpoint.url
        size = f" ({window:,} tokens)" if window else ""
        return (
            f"This chat is longer than {where}'s context window{size}, even with older turns "
            "left out; shorten the message, start a new chat, or serve the model with a "
            "larger context."
        )

    def _cannot_prefill(self, what: str) -> str:
        return (
            f"{self.endpoint.name or self.endpoint.url} cannot continue a reply, so it cannot "
            f'{what}; set prefill = "vllm", "llama-server" or "deepseek" for it in '
            "config.toml if the server can."
        )

    def _body(
        self, request: ChatRequest, messages: list[dict[str, Any]], prefix: str | None
    ) -> dict[str, Any]:
        params = request.params
        temperature, top_p = default_sampling(self.reasoning)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": temperature if params.temperature is None else params.temperature,
            "top_p": top_p if params.top_p is None else params.top_p,
        }
        if params.max_tokens:
            body["max_tokens"] = params.max_tokens
        if params.seed >= 0:
            body["seed"] = params.seed
        if prefix is not None:
            assistant: dict[str, Any] = {"role": "assistant", "content": prefix}
            kind = self.endpoint.prefill
            if kind == "vllm":
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
            elif kind == "deepseek":
                assistant["prefix"] = True
            body["messages"].append(assistant)
        return body

    def _run(
        self,
        request: ChatRequest,
        messages: list[dict[str, Any]],
        prefix: str | None,
        emit: Emit,
        tally: ReplyTally,
    ) -> None:
        known: dict[str, Any] = {"prompt_tokens": 0}
        finish: FinishReason = "stop"
        error: str | None = None
        state = _StreamState(tally, emit)
        if request.continue_reasoning is not None:
            state.reasoning = request.continue_reasoning
        refitted = False
        try:
            while True:
                try:
                    cut = self._stream_once(self._body(request, messages, prefix), state, known)
                except _Overflow as over:
                    if refitted or tally.generated or state.reasoning or not self._learn(over):
                        raise _Stop("error", self._too_long(over.window)) from over
                    refitted = True  # the server said its window: fit to it, ask once more
                    try:
                        plan = self.plan(request)
                    except R1ChatError as unfit:
                        raise _Stop("error", self._too_long(over.window)) from unfit
                    messages = self.messages(request, plan)
                    emit(plan)
                    continue
                if cut is None:
                    finish = state.finish
                    break
                # Answer now (or the budget): close what was thought and continue from it.
                if self.endpoint.prefill is None:
                    error = self._cannot_prefill("answer now") + " The reply was stopped."
                    finish = "cancelled"
                    break
                for delta in tally.cut(cut):
                    emit(delta)
                state.field_open = False  # the reasoning is closed now
                prefix = f"{OPEN}\n{state.reasoning}\n{CLOSE}\n\n"
        except _Stop as stop:
            finish, error = stop.finish, stop.message
        for delta in tally.finish():
            emit(delta)
        if error and finish == "cancelled":
            finish = "error"
        emit(Finished(tally.stats(finish, error, **known)))

    def _stream_once(
        self, body: dict[str, Any], state: _StreamState, known: dict[str, Any]
    ) -> ReasoningCut | None:
        """One request's stream; returns a cut's reason if reasoning must end now."""
        import httpx
        from httpx_sse import SSEError

        endpoint, tally = self.endpoint, state.tally
        cancel = tally.cancel
        try:
            if self._http is None:  # only the engine's thread, one reply at a time
                self._http = client(endpoint)
            with chat_stream(endpoint, body, self._http) as source:
                response = source.response
                if response.status_code >= 400:
                    response.read()
                    window = overflow_window(response.text) if response.status_code < 500 else None
                    if window is not None:
                        raise _Overflow(window if window > 0 else None)
                    raise _Stop(
                        "error",
                        _http_problem(endpoint, response.status_code, response.text, response),
                    )
                kind = response.headers.get("content-type", "")
                if "text/event-stream" not in kind.lower():
                    raise _Stop("error", _not_sse(endpoint, ValueError(f"content type {kind!r}")))
                closer = _CloseOnCancel(cancel, response)
                try:
                    done = False
                    events = sse_data(response, endpoint.read_timeout, endpoint.reply_timeout)
                    for data in events:
                        if cancel.is_set():
                            raise _Stop("cancelled")
                        if data.strip() == "[DONE]":
                            done = True
                            _read_to_end(events, response)
                            break
                        if not data.strip():
                            continue
                        cut = state.chunk(_parse_chunk(data), known)
                        if cut is not None:
                            return cut
                        if tally.generated >= self._limit:  # never past the window
                            state.finish, state.finished = "length", True
                            return None
                    if cancel.is_set():
                        raise _Stop("cancelled")
                    if not done and not state.finished and not state.chunks:
                        self._why_empty(body)  # a refusal some servers only say unstreamed
                    if not done and not state.finished:
                        raise _Stop(
                            "error",
                            "The server closed the stream before the reply ended; the text so "
                            "far is kept.",
                        )
                finally:
                    closer.done()
        except _Stop:
            raise
        except StreamTooOdd as error:
            raise _Stop(
                "error", f"The server {error}, so the reply was stopped; the text so far is kept."
            ) from error
        except SSEError as error:
            raise _Stop("error", _not_sse(endpoint, error)) from error
        except httpx.ReadTimeout as error:
            if cancel.is_set():
                raise _Stop("cancelled") from error
            raise _Stop(
                "error",
                f"The server sent nothing for {endpoint.read_timeout:.0f} s, so the reply was "
                "stopped (raise read_timeout for this endpoint if it is just slow).",
            ) from error
        except httpx.HTTPError as error:
            if cancel.is_set():
                raise _Stop("cancelled") from error
            raise _Stop("error", _connection_problem(endpoint, error)) from error
        return None

    def _why_empty(self, body: dict[str, Any]) -> None:
        """A stream that closed before its first event: ask again without streaming, for
        one token, to hear why (llama_cpp.server refuses a prompt past its window that
        way); raises `_Overflow` if that is why."""
        import httpx

        quiet = {**body, "stream": False, "max_tokens": 1}
        quiet.pop("stream_options", None)
        try:
            with client(self.endpoint) as http:
                response = http.post(
                    self.endpoint.url + "/chat/completions",
                    json=quiet,
                    headers=self.endpoint.headers(),
                )
        except httpx.HTTPError:
            return
        if 400 <= response.status_code < 500:
            window = overflow_window(response.text[:4000])
            if window is not None:
                raise _Overflow(window if window > 0 else None)

    def close(self) -> None:
        """Stop the engine's thread, and close its connection."""
        self._worker.close()
        if self._http is not None:
            self._http.close()
            self._http = None


class _Overflow(Exception):
    """The server refused the prompt as longer than its window (`window`: as it said)."""

    def __init__(self, window: int | None) -> None:
        super().__init__(window)
        self.window = window


class _Stop(Exception):
    def __init__(self, finish: FinishReason, message: str | None = None) -> None:
        super().__init__(message)
        self.finish = finish
        self.message = message


def _cut(response: Any) -> None:
    """Close `response` from another thread, even while that thread waits in a read: the
    socket is shut down first (closing the response alone leaves a read waiting until
    the server sends again, which a server reading a long prompt may not do for minutes)."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    response.close()


DRAIN_SECONDS = 0.1
"""How long the end of a stream may take to come after its `[DONE]`."""


def _read_to_end(events: Iterator[str], response: Any) -> None:
    """Read what follows `[DONE]`: nothing, from a server that ends the stream there, and
    then the connection can serve the next reply; a server that goes on is cut off after
    `DRAIN_SECONDS` (the reply is complete either way)."""
    import httpx

    cut = threading.Timer(DRAIN_SECONDS, _cut, (response,))
    cut.start()
    try:
        for count, _ in enumerate(events):
            if count >= 8:
                break
    except (httpx.HTTPError, StreamTooOdd, RuntimeError, OSError):
        pass  # cut off, or broken after the end: nothing of the reply is lost
    finally:
        cut.cancel()


class _CloseOnCancel:
    """Closes the response as soon as the reply is cancelled, even mid-read."""

    def __init__(self, cancel: threading.Event, response: Any) -> None:
        self._finished = threading.Event()

        def watch() -> None:
            while not self._finished.is_set():
                if cancel.wait(0.05):
                    _cut(response)
                    return

        threading.Thread(target=watch, name="r1chat-remote-cancel", daemon=True).start()

    def done(self) -> None:
        self._finished.set()


class _StreamState:
    """What the chunks said so far, turned into the splitter's terms."""

    def __init__(self, tally: ReplyTally, emit: Emit) -> None:
        self.tally, self.emit = tally, emit
        self.field_open = False  # reasoning is arriving in a delta field
        self.reasoning = ""
        self.finish: FinishReason = "stop"
        self.finished = False
        self.chunks = 0
        """Events received so far."""

    def chunk(self, chunk: dict[str, Any], known: dict[str, Any]) -> ReasoningCut | None:
        self.chunks += 1
        if "error" in chunk:
            raise _Stop("error", f"The server reported an error: {_error_text(chunk['error'])}")
        usage = chunk.get("usage")
        if isinstance(usage, dict):  # a server's numbers are checked, absurd ones ignored
            prompt = sane_count(usage.get("prompt_tokens"))
            if prompt is not None:
                known["prompt_tokens"] = prompt
            details = usage.get("prompt_tokens_details")  # OpenAI and vLLM: the cached part
            cached = sane_count(details.get("cached_tokens")) if isinstance(details, dict) else None
            if prompt is not None and cached is not None and cached <= prompt:
                known["prompt_tokens_cached"] = cached
                known["prompt_tokens_read"] = prompt - cached
        timings = chunk.get("timings")
        if isinstance(timings, dict):  # llama-server: prompt_n read, cache_n from its cache
            read, cached = sane_count(timings.get("prompt_n")), sane_count(timings.get("cache_n"))
            if read is not None and cached is not None:
                known["prompt_tokens_read"], known["prompt_tokens_cached"] = read, cached
            speed = timings.get("predicted_per_second")
            if isinstance(speed, int | float) and not isinstance(speed, bool):  # noqa: SIM102
                if math.isfinite(speed) and 0 < speed < 1_000_000:
                    known["server_tokens_per_second"] = float(speed)
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            thought = delta.get("reasoning_content") or delta.get("reasoning") or ""
            content = delta.get("content") or ""
            text = ""
            if thought:
                if not self.field_open and not self.tally.splitter.in_reasoning:
                    text += OPEN
                self.field_open = True
                text += thought
            if content:
                if self.field_open:
                    text += CLOSE
                    self.field_open = False
                text += content
            if text:
                for event in self.tally.token(text):
                    if isinstance(event, ReasoningDelta):
                        self.reasoning += event.text
                    self.emit(event)
                cut = self.tally.cut_due()
                if cut is not None:
                    return cut
            reason = choice.get("finish_reason")
            if reason:
                self.finished = True
                self.finish = "length" if reason == "length" else "stop"
        return None


def _parse_chunk(data: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError as error:
        raise _Stop(
            "error",
            f"The server sent a chunk that is not JSON ({error.msg}); the text so far is kept.",
        ) from error
    if not isinstance(chunk, dict):
        raise _Stop("error", "The server sent a chunk that is not a JSON object.")
    return chunk


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        error = error.get("message") or error.get("detail") or json.dumps(error)[:200]
    return terminal_safe(str(error)).strip()[:300] or "no message"


def _http_problem(endpoint: Endpoint, status: int, body: str, response: Any) -> str:
    try:
        data = json.loads(body)
        message = _error_text(data.get("error") or data.get("detail") or data)
    except (ValueError, AttributeError):
        message = terminal_safe(" ".join(body.split()))[:200]
    where = endpoint.name or endpoint.url
    if status == 401:
        hint = (
            f"check the key in ${endpoint.api_key_env}"
            if endpoint.api_key_env
            else "it wants an API key: set api_key_env for it in config.toml"
        )
        return f"{where} refused the request (401 unauthorized: {message}); {hint}."
    if status == 404:
        return f"{where} answered 404 ({message}); check the URL and the model name."
    if status == 429:
        after = response.headers.get("retry-after")
        wait = f"; try again in {terminal_safe(after)} s" if after else "; try again later"
        return f"{where} is rate limiting requests (429: {message}){wait}."
    return f"{where} answered {status}: {message}."


def _connection_problem(endpoint: Endpoint, error: Exception) -> str:
    import httpx

    where = endpoint.url
    if isinstance(error, httpx.ConnectTimeout):
        return f"{where} did not answer within {CONNECT_TIMEOUT:.0f} s; is the server up?"
    if isinstance(error, httpx.ConnectError):
        reason = str(error).lower()
        if "name" in reason or "resolve" in reason or "nodename" in reason:
            return f"The host of {where} cannot be found; check the URL."
        return f"Nothing answers at {where} (connection refused); is the server running?"
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
        return "The connection to the server broke mid-reply; the text so far is kept."
    return f"The request to {where} failed ({type(error).__name__}); the text so far is kept."


def _not_sse(endpoint: Endpoint, error: Exception) -> str:
    return (
        f"{endpoint.url} did not answer with an event stream ({terminal_safe(str(error))[:120]}); "
        "is it an OpenAI-compatible API?"
    )
