"""Provides `LlamaEngine`: a local GGUF model through llama-cpp-python, streaming typed events."""

from __future__ import annotations

import codecs
import contextlib
import io
import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine import llama_compat as compat
from r1chat.engine.base import Emit, EngineInfo, GenerationThread, pump
from r1chat.engine.context import (
    find_cut,
    kept_messages,
    overflow,
    reply_reserve,
    stable_cut,
    turn_starts,
)
from r1chat.engine.decoding import Steps
from r1chat.engine.events import (
    EngineEvent,
    Finished,
    FinishReason,
    Progress,
    PromptPlan,
)
from r1chat.engine.kv_cache import StateCache, model_key
from r1chat.engine.llama_log import LlamaLog
from r1chat.engine.steering import CLOSE_REASONING, NO_REASONING, ReplyTally
from r1chat.engine.template import (
    CHATML_TEMPLATE,
    ChatTemplate,
    RenderedPrompt,
    strip_reasoning,
)
from r1chat.errors import ModelError, R1ChatError, TemplateError
from r1chat.models.build_check import (
    BuildCheck,
    BuildChecks,
    check_build,
    rebuild_hint,
    safe_mode_sentence,
    unusable_sentence,
)
from r1chat.models.family import default_sampling, is_r1_model
from r1chat.models.fit import Offload, fewer_layers, plan_offload
from r1chat.models.gguf_header import GGUFHeader, check_weights, read_header
from r1chat.models.hardware import default_threads, llama_backend
from r1chat.models.threads import LoadWatch, OthersLoad, ThreadPilot
from r1chat.text import one_line, shared_prefix

PREFILL_CHUNK = 128  # prompt tokens per decode call: the granularity of cancelling a long prompt
COUNT_CACHE_LIMIT = 100_000
"""Token counts of this many distinct turns are remembered before the cache starts over."""


def _out_of_memory(reason: str) -> bool:
    """Whether llama.cpp's words say a GPU allocation failed."""
    text = reason.lower()
    return any(word in text for word in ("out of memory", "failed to allocate", "cudamalloc"))


@dataclass(frozen=True, slots=True)
class PreparedPrompt:
    """A request turned into tokens that fit the context."""

    prompt: RenderedPrompt
    tokens: list[int]
    dropped_messages: int
    reserve: int

    def plan(self, n_ctx: int) -> PromptPlan:
        """What this prompt takes of an `n_ctx` window, and what fitting left out."""
        return PromptPlan(len(self.tokens), n_ctx, self.reserve, self.dropped_messages)


@dataclass(frozen=True, slots=True)
class TokenPiece:
    """One token of some text: its id, the bytes it stands for, and whether it is special
    (a control or added token such as `<think>` or `<｜Assistant｜>`)."""

    id: int
    data: bytes
    special: bool


class LlamaEngine:
    """A GGUF chat model run in-process by llama.cpp.

    The file's header is checked before llama.cpp opens it; its own chat template
    is rendered in a Jinja sandbox; as many layers as fit in the GPU's free memory go
    to it when llama.cpp was built with one (fewer, and again, if it runs out). With
    `build_checks`, the build is first tried on this CPU in a child process (once per
    build and CPU) and run in safe mode where it crashed. llama.cpp's log goes to
    `log_path`, never to the terminal.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int | None = None,
        threads: int | None = None,
        log_path: Path | None = None,
        vocab_only: bool = False,
        trust_template: bool = False,
        state_cache: StateCache | None = None,
        name: str | None = None,
        build_checks: BuildChecks | None = None,
        gpu_layers: int | None = None,
        prompt_lookup: bool = True,
    ) -> None:
        self.path = Path(model_path).expanduser()
        self.name = name or one_line(self.path.stem)
        """The model's one name (see `models.discovery.model_name`)."""
        self.header: GGUFHeader = read_header(self.path)
        try:
            import llama_cpp
        except ImportError as error:  # pragma: no cover - it is a dependency
            raise ModelError(
                "llama-cpp-python is not installed; install r1chat again (see the README)."
            ) from error
        compat.check_version(llama_cpp)
        self._llama_cpp = llama_cpp
        self.reasoning = is_r1_model(self.header.chat_template, self.header.name)
        template_source = self.header.chat_template or CHATML_TEMPLATE
        # Render once before llama.cpp opens the file, so a broken or hostile template
        # is refused before any weights are loaded.
        ChatTemplate(template_source, r1=self.reasoning, trust=trust_template).prompt(
            [ChatMessage("user", "Hello")]
        )
        if not vocab_only:
            check_weights(self.header)
        self.log = LlamaLog.install(log_path)
        self.n_ctx = n_ctx or self._default_context()
        self.backend = llama_backend()
        chosen = default_threads()
        self.threads = threads or chosen.threads
        self.pilot = ThreadPilot(
            self.threads,
            fixed=threads is not None or self.backend != "CPU",
            base_why="threads in config.toml" if threads else chosen.why,
        )
        """Steps the thread count down while other programs keep a core busy (CPU only)."""
        self._busy = LoadWatch(OthersLoad())
        """How busy other programs keep the CPUs, read twice a second once loaded (only
        where the count adapts)."""
        if not self.pilot.fixed:
            self._busy.begin()
        self.offload = plan_offload(self.header, self.n_ctx, self.backend, gpu_layers)
        self.notice = ""
        """One sentence for the user about how the model runs (empty: nothing to say)."""
        self.build_check: BuildCheck | None = None
        """What the build check found (`None`: not checked, as for a tokenizer only)."""
        if build_checks is not None and not vocab_only:
            self.build_check = self._check_build(build_checks)
        self.safe_mode = bool(self.build_check and self.build_check.safe_mode)
        self._llm = self._load_fitting(vocab_only)
        self._reload_with: int | None = None
        """GPU layers to load again with before the next reply, after running out of memory."""
        self.state_cache = None if vocab_only else state_cache
        """Where contexts are saved between runs (`None`: not at all)."""
        self._state_key = model_key(self.path, self.n_ctx)
        self.restored_tokens = 0
        self.prompt_lookup = prompt_lookup
        """Whether replies draft tokens from the conversation (see `engine.lookup`)."""
        """Prompt tokens the last reply found in a saved context on disk."""
        self._lock = threading.Lock()
        if not self.pilot.fixed:
            self._busy.start()  # a reading over the load: the first reply knows it
        self._worker = GenerationThread()
        self._vocab = compat.vocab(self._llm)
        self._counts: dict[tuple[str, str], int] = {}
        self._overheads: dict[str, int] | None = None
        self._pieces: dict[str, tuple[int, ...]] = {}
        self._plain: dict[str, tuple[int, ...]] = {}
        self._special_bits = (
            llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
        )
        self._splitter: re.Pattern[str] | None = None
        self._splitter_checked = False
        self.template = ChatTemplate(
            template_source,
            bos_token=self._token_text(self._llm.token_bos()),
            eos_token=self._token_text(self._llm.token_eos()),
            r1=self.reasoning,
            trust=trust_template,
        )

    def _default_context(self) -> int:
        """min(trained context, what fits in this machine's memory, 8192)."""
        from r1chat.models.fit import ModelShape, default_context
        from r1chat.models.machine import inspect_machine

        return default_context(
            self.header.context_length,
            self.header.size,
            ModelShape.from_header(self.header),
            inspect_machine().model_memory_bytes,
        )

    def _check_build(self, checks: BuildChecks) -> BuildCheck:
        """Try this build on this CPU in a child (remembered); refuse it if it cannot run."""
        check = check_build(
            self._llama_cpp,
            self.path,
            checks,
            threads=self.threads,
            gpu_layers=self.offload.layers if self.offload else 0,
        )
        if not check.usable:
            raise ModelError(unusable_sentence(check, rebuild_hint(self._llama_cpp)))
        if check.safe_mode:
            self.notice = safe_mode_sentence(check, rebuild_hint(self._llama_cpp))
        return check

    def _load_fitting(self, vocab_only: bool) -> Any:
        """Load with the planned GPU layers; after an out-of-memory failure, with fewer."""
        while True:
            try:
                return self._load(self.threads, vocab_only)
            except ModelError as error:
                if not (self.offload and self.offload.layers and _out_of_memory(str(error))):
                    raise
                tried = self.offload.layers
                self.offload = Offload(fewer_layers(tried), self.offload.total, "out of memory")
                self.notice = (
                    f"The GPU ran out of memory with {tried} layers of {self.path.name}; it "
                    f"runs with {self.offload.label} on the GPU (set `gpu_layers` in "
                    "config.toml to choose)."
                )

    def _load(self, threads: int | None, vocab_only: bool) -> Any:
        since = self.log.mark()
        # verbose=True keeps llama-cpp-python from swapping the process's stdout and
        # stderr file descriptors (which would blank a running TUI); its own Python
        # prints during load are caught here and sent to the log file instead.
        chatter = io.StringIO()
        try:
            with contextlib.redirect_stderr(chatter):
                try:
                    llm = compat.load_llama(
                        self._llama_cpp,
                        safe=self.safe_mode,
                        model_path=str(self.path),
                        n_ctx=self.n_ctx,
                        n_batch=512,
                        n_gpu_layers=self.offload.layers if self.offload else 0,
                        n_threads=threads,
                        n_threads_batch=threads,
                        vocab_only=vocab_only,
                        verbose=True,
                    )
                except (ValueError, RuntimeError, OSError) as error:
                    compat.free_failed_load(error)
                    raise
        except (ValueError, RuntimeError, OSError) as error:
            reason = self.log.reason(since) or str(error)
            raise ModelError(f"llama.cpp could not load {self.path}: {reason}.") from error
        finally:
            self.log.write(1, chatter.getvalue().encode("utf-8", errors="replace"))
        llm.verbose = False  # no prints from generate() on the generation thread
        return llm

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return compat.token_text(self._llm, token)

    @property
    def info(self) -> EngineInfo:
        """The model and backend this engine runs."""
        temperature, top_p = self.default_sampling()
        return EngineInfo(
            model_name=self.name,
            model_path=str(self.path),
            backend=self.backend,
            n_ctx=self.n_ctx,
            reasoning=self.reasoning,
            default_temperature=temperature,
            default_top_p=top_p,
            local_cpu=self.backend == "CPU",
            offload=self.offload.label if self.offload else "",
            safe_mode=self.safe_mode,
            notice=self.notice,
            threads=self.pilot.describe(),
        )

    def default_sampling(self) -> tuple[float, float]:
        """Temperature and top_p used when the user sets none (DeepSeek's advice for R1)."""
        return default_sampling(self.reasoning)

    def tokenize(self, text: str) -> list[int]:
        """Tokens of a rendered prompt: special tokens parsed, no BOS added (templates write it)."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes on its own (exact: the model's tokenizer, as plain
        text: control-token spellings in it are characters)."""
        return len(self.plain_tokens(text)) if text else 0

    def plain_tokens(self, text: str) -> tuple[int, ...]:
        """Tokens of text that people or models wrote: nothing in it becomes a control
        token, not even the added tokens (`<think>`) llama.cpp matches without special
        parsing. Remembered per text."""
        known = self._plain.get(text)
        if known is None:
            if len(self._plain) >= COUNT_CACHE_LIMIT:
                self._plain.clear()
            known = self._plain[text] = tuple(self._plain_uncached(text))
        return known

    def _plain_uncached(self, text: str) -> list[int]:
        if not text:
            return []
        tokens = list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        special = [token for token in tokens if self._is_special(token)]
        if not special or len(text) == 1:
            return tokens
        words = sorted({self._token_text(t) for t in special} - {""}, key=len, reverse=True)
        matches = list(re.finditer("|".join(map(re.escape, words)), text)) if words else []
        if not matches:
            return tokens
        out: list[int] = []
        at = 0
        for match in matches:  # split each spelling after its first character
            word = match.group()
            out += self._plain_uncached(text[at : match.start()])
            out += self._plain_uncached(word[0]) + self._plain_uncached(word[1:])
            at = match.end()
        return out + self._plain_uncached(text[at:])

    def _is_special(self, token: int) -> bool:
        """Whether `token` is a control or added token (`<|im_end|>`, `<think>`)."""
        attributes = compat.token_attributes(self._llama_cpp, self._vocab, token)
        return bool(attributes & self._special_bits)

    def tokenize_rendered(self, prompt: RenderedPrompt) -> list[int]:
        """Tokens of a rendered prompt: the template's own text with its control tokens,
        the messages' text as plain text."""
        if not prompt.spans:
            return self.tokenize_prompt(prompt.text)
        tokens: list[int] = []
        for piece, written in prompt.pieces():
            tokens.extend(self.plain_tokens(piece) if written else self.tokenize_prompt(piece))
        return tokens

    def pieces(self, text: str) -> list[TokenPiece]:
        """How the model splits `text` (special tokens parsed, no BOS added)."""
        return [
            TokenPiece(token, compat.token_bytes(self._llm, token), self._is_special(token))
            for token in self.tokenize(text)
        ]

    def tokenize_prompt(self, text: str) -> list[int]:
        """Tokens of a rendered prompt, reusing the tokens of turns seen in earlier prompts.

        The text is cut just before each of the template's special markers (where the
        tokenizer splits it anyway), and each piece is tokenized once and remembered, so
        fitting the same long chat again only tokenizes the new turn. The first prompt is
        also tokenized whole; should the two ever differ, pieces are not used again.
        """
        if not self._splitter_checked:
            self._splitter_checked = True
            splitter = self._find_splitter()
            whole = self.tokenize(text)
            if splitter is not None and self._tokenize_pieces(text, splitter) == whole:
                self._splitter = splitter
            return whole
        if self._splitter is None:
            return self.tokenize(text)
        return self._tokenize_pieces(text, self._splitter)

    def _tokenize_pieces(self, text: str, splitter: re.Pattern[str]) -> list[int]:
        tokens: list[int] = []
        for piece in splitter.split(text):
            if not piece:
                continue
            known = self._pieces.get(piece)
            if known is None:
                if len(self._pieces) >= COUNT_CACHE_LIMIT:
                    self._pieces.clear()
                known = self._pieces[piece] = tuple(self.tokenize(piece))
            tokens.extend(known)
        return tokens

    def _find_splitter(self) -> re.Pattern[str] | None:
        """A pattern that cuts before each special token the template writes, if any."""
        probe = [
            ChatMessage("user", "Hi"),
            ChatMessage("assistant", "Hello"),
            ChatMessage("user", "Hi"),
        ]
        try:
            tokens = self.tokenize(self.render(probe).text)
        except TemplateError:
            return None
        markers = {self._token_text(token) for token in set(tokens) if self._is_special(token)}
        markers.discard("")
        if not markers:
            return None
        ordered = sorted(markers, key=len, reverse=True)
        return re.compile("(?=" + "|".join(re.escape(marker) for marker in ordered) + ")")

    def render(
        self,
        messages: Sequence[ChatMessage],
        system_prompt: str = "",
        continue_reasoning: str | None = None,
    ) -> RenderedPrompt:
        """The prompt text for a reply to `messages`, with the R1 rules applied."""
        prompt = self.template.prompt(messages, system_prompt)
        return prompt if continue_reasoning is None else prompt.continued(continue_reasoning)

    def _turn_overheads(self) -> dict[str, int]:
        """Tokens the template adds around one turn's text, by role, and for the reply's start."""
        if self._overheads is None:
            probe = "Hello there"
            text = len(self.tokenize(probe))
            try:
                user = {"role": "user", "content": probe}
                pair = [user, {"role": "assistant", "content": probe}]
                alone = len(self.tokenize(self.template.render([user], False)))
                both = len(self.tokenize(self.template.render(pair, False)))
                # A later user turn: without what the template writes once (BOS, system).
                later = len(self.tokenize(self.template.render([*pair, user], False)))
                asked = len(self.tokenize(self.render([ChatMessage("user", probe)]).text))
                self._overheads = {
                    "user": max(0, later - both - text),
                    "system": max(0, alone - text),
                    "assistant": max(0, both - alone - text),
                    "reply": max(0, asked - alone) + max(0, alone - text),
                }
            except TemplateError:  # a template that needs more than one turn: a safe guess
                self._overheads = dict.fromkeys(("user", "system", "assistant", "reply"), 8)
        return self._overheads

    def turn_tokens(self, message: ChatMessage) -> int:
        """About how many prompt tokens `message` takes; counted once per text."""
        content = (
            strip_reasoning(message.content) if message.role == "assistant" else message.content
        )
        key = (message.role, content)
        count = self._counts.get(key)
        if count is None:
            if len(self._counts) >= COUNT_CACHE_LIMIT:
                self._counts.clear()
            count = len(self.plain_tokens(content)) + self._turn_overheads()[message.role]
            self._counts[key] = count
        return count

    def prepare(self, request: ChatRequest) -> PreparedPrompt:
        """Fit `request` into the context window, then render and tokenize it once.

        Each turn's tokens are counted once (and remembered), the cut is found from
        those counts, and only the kept turns are rendered. Should the template make
        the prompt longer than counted, one more turn is left out and it is rendered
        again.
        """
        messages = request.messages
        if not messages or messages[-1].role != "user":
            raise R1ChatError("A reply needs a conversation that ends with a user message.")
        reserve = reply_reserve(self.n_ctx, request.params.max_tokens)
        budget = self.n_ctx - reserve
        costs = [self.turn_tokens(message) for message in messages]
        fixed = self._turn_overheads()["reply"]
        if request.system_prompt.strip():
            fixed += len(self.plain_tokens(request.system_prompt)) + 2
        if request.continue_reasoning:
            fixed += len(self.plain_tokens(request.continue_reasoning)) + 2
        if self.thinking_off(request):
            fixed += len(self.tokenize(NO_REASONING))
        minimal = find_cut(messages, costs, fixed, self.n_ctx, reserve)
        cut = stable_cut(messages, costs, minimal, fixed, budget)
        starts = turn_starts(messages)
        later = [start for start in starts if start > cut]
        while True:  # the counts may be a little high or low: settle on the exact cut
            prepared = self._render_from(request, cut, reserve)
            if len(prepared.tokens) <= budget:
                break
            if not later:
                raise overflow(len(prepared.tokens), self.n_ctx, reserve)
            cut = later.pop(0)
        earlier = [start for start in starts if start < cut] if cut == minimal else []
        while earlier:  # one more turn may fit after all (not past a block's start)
            start = earlier.pop()
            if len(prepared.tokens) + sum(costs[start:cut]) * 0.9 > budget:
                break
            wider = self._render_from(request, start, reserve)
            if len(wider.tokens) > budget:
                break
            prepared, cut = wider, start
        return prepared

    def _render_from(self, request: ChatRequest, cut: int, reserve: int) -> PreparedPrompt:
        kept, dropped = kept_messages(request.messages, cut)
        prompt = self.render(kept, request.system_prompt, request.continue_reasoning)
        if self.thinking_off(request):
            prompt = prompt.without_thinking()
        return PreparedPrompt(prompt, self.tokenize_rendered(prompt), dropped, reserve)

    def thinking_off(self, request: ChatRequest) -> bool:
        """Whether this reply answers at once: thinking is off, and it does not think on."""
        return self.reasoning and not request.params.thinking and not request.continue_reasoning

    def plan(self, request: ChatRequest) -> PromptPlan:
        """The size of the prompt for `request`, and what fitting leaves out."""
        return self.prepare(request).plan(self.n_ctx)

    def stream(
        self, request: ChatRequest, cancel: threading.Event | None = None
    ) -> Iterator[EngineEvent]:
        """Start a reply on the generation thread; see `Engine.stream`."""
        if self._reload_with is not None:
            self._reload(self._reload_with)
        prepared = self.prepare(request)
        cancel = cancel or threading.Event()
        if not self._lock.acquire(blocking=False):
            raise R1ChatError("The model is still answering; stop that reply first.")

        plan = prepared.plan(self.n_ctx)

        def produce(emit: Emit, cancel: threading.Event) -> None:
            try:
                emit(plan)
                tally = ReplyTally(
                    cancel,
                    starts_in_reasoning=prepared.prompt.starts_in_reasoning,
                    continuing=request.continue_reasoning is not None,
                    think_budget=request.params.think_budget if self.reasoning else None,
                    thinking_off=self.thinking_off(request),
                )
                self._generate(prepared, request.params, emit, tally)
                self._save_state()
            finally:
                self._lock.release()

        return pump(produce, cancel, self._worker)

    def _generate(
        self, prepared: PreparedPrompt, params: GenerationParams, emit: Emit, tally: ReplyTally
    ) -> None:
        llm, cancel = self._llm, tally.cancel
        context = list(prepared.tokens)
        """Every token in the model's context: the prompt, then what was generated."""
        temperature, top_p = self.default_sampling()
        temperature = temperature if params.temperature is None else params.temperature
        top_p = top_p if params.top_p is None else params.top_p
        room = self.n_ctx - len(context)
        limit = min(params.max_tokens, room) if params.max_tokens else room
        known: dict[str, Any] = {
            "prompt_tokens": len(context),
            "dropped_messages": prepared.dropped_messages,
        }
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        finish: FinishReason = "length"
        error: str | None = None
        since = self.log.mark()
        llama_cpp, vocab = self._llama_cpp, self._vocab

        self._set_threads(self.pilot.before_reply(self._busy.now()))
        pilot = self.pilot
        steps: Steps | None = None
        try:
            evaluated = self._prefill(context, cancel, emit)
            if evaluated is None:
                finish = "cancelled"
            else:
                prefill_seconds = time.perf_counter() - tally.started
                known["prompt_tokens_read"] = evaluated
                known["prompt_tokens_cached"] = len(context) - evaluated
                if evaluated and prefill_seconds > 0:
                    known["prompt_tokens_per_second"] = evaluated / prefill_seconds
                llm.set_seed(params.seed if params.seed >= 0 else random.randrange(2**31))
                chain = compat.sampler(
                    llm, temperature=temperature, top_p=top_p, top_k=40, min_p=0.05
                )
                steps = Steps(llm, chain, lookup=self.prompt_lookup, limit=limit)
                tokens = steps.tokens(context)
                while (token := next(tokens, None)) is not None:
                    if steps.step_seconds is not None:
                        changed = pilot.token(steps.step_seconds)
                        steps.step_seconds = None
                        if changed is not None:
                            self._set_threads(changed)
                    if compat.is_end(llama_cpp, vocab, token):
                        finish = "stop"
                        break
                    context.append(token)
                    for delta in tally.token(decoder.decode(llm.detokenize([token]))):
                        emit(delta)
                    if cancel.is_set():
                        finish = "cancelled"
                        break
                    if tally.generated >= limit or len(context) >= self.n_ctx:
                        break
                    reason = tally.cut_due()
                    if reason is not None:  # answer now: close the reasoning, sample on
                        for delta in tally.cut(reason, decoder.decode(b"", final=True)):
                            emit(delta)
                        decoder.reset()
                        context += self._closing_tokens()
                        tokens.close()
                        if len(context) >= self.n_ctx:
                            break
                        tokens = steps.tokens(context)
        except Exception as failure:  # llama.cpp failed mid-reply: end the stream, keep the text
            finish = "error"
            reason_text = self.log.reason(since) or str(failure)
            error = f"llama.cpp failed while generating: {reason_text}"
            if self.offload and self.offload.layers and _out_of_memory(reason_text):
                self._reload_with = fewer_layers(self.offload.layers)
                error = (
                    "The GPU ran out of memory while answering; the next reply runs with "
                    f"{self._reload_with}/{self.offload.total} layers on it (regenerate to retry)."
                )
        for delta in tally.finish(decoder.decode(b"", final=True)):
            emit(delta)
        known["threads"] = pilot.current
        if steps is not None and steps.pilot is not None and steps.pilot.drafted:
            known["draft_tokens"] = steps.pilot.drafted
            known["draft_tokens_accepted"] = steps.pilot.accepted
        emit(Finished(tally.stats(finish, error, **known)))

    def _set_threads(self, count: int) -> None:
        if count != compat.threads(self._llm):
            compat.set_threads(self._llama_cpp, self._llm, count)

    def _save_state(self) -> None:
        """After a reply (already on screen): keep the context on disk for next time."""
        if self.state_cache is None:
            return
        llm, llama_cpp = self._llm, self._llama_cpp
        tokens = compat.cached_tokens(llm)

        def write(path: Path) -> bool:
            return compat.save_state(llama_cpp, llm, path)[1]

        try:
            self.state_cache.save(self._state_key, tokens, write)
        except Exception:  # a cache that cannot be written costs speed next time, nothing else
            return

    def _restore_state(self, tokens: list[int], cached: int) -> int:
        """Read a saved context sharing more of `tokens` than memory does; the count held."""
        if self.state_cache is None:
            return cached
        found = self.state_cache.best(self._state_key, tokens, cached)
        if found is None or not self.state_cache.intact(found):
            return cached
        restored = compat.load_state(self._llama_cpp, self._llm, found.state, self.n_ctx)
        if restored is None or restored[: found.tokens] != tokens[: found.tokens]:
            self.state_cache.forget(found)
            compat.forget(self._llm)
            return 0
        self.state_cache.used(found)
        return found.tokens

    def _closing_tokens(self) -> list[int]:
        """`CLOSE_REASONING` in this model's own tokens."""
        return self.tokenize(CLOSE_REASONING)

    def _prefill(self, tokens: list[int], cancel: threading.Event, emit: Emit) -> int | None:
        """Read the prompt in chunks, reusing the cached prefix; `None` if cancelled.

        Returns the number of tokens actually evaluated. `generate()` then finds the
        whole prompt cached and samples at once.
        """
        llm = self._llm
        cached = shared_prefix(compat.cached_tokens(llm), tokens)
        restored = self._restore_state(tokens, cached)
        self.restored_tokens = restored if restored > cached else 0
        cached = min(max(cached, restored), len(tokens) - 1)  # the last token is re-read
        if not (cached > 0 and compat.keep_prefix(llm, cached)):
            llm.reset()
            cached = 0
        for start in range(cached, len(tokens), PREFILL_CHUNK):
            if cancel.is_set():
                return None
            emit(Progress(start, len(tokens)))
            llm.eval(tokens[start : start + PREFILL_CHUNK])
        emit(Progress(len(tokens), len(tokens)))
        return len(tokens) - cached

    def _reload(self, layers: int) -> None:
        """Load the model again with `layers` on the GPU (after it ran out of memory)."""
        if not self._lock.acquire(blocking=False):
            return  # a reply is running; the next one reloads
        try:
            self._reload_with = None
            total = self.offload.total if self.offload else 0
            self.offload = Offload(layers, total, "the GPU ran out of memory with more")
            llm, self._llm = self._llm, None
            if llm is not None:
                llm.close()
            self._llm = self._load_fitting(False)
            self._vocab = compat.vocab(self._llm)
            self.notice = f"The model runs with {self.offload.label} on the GPU."
        finally:
            self._lock.release()

    def close(self) -> None:
        """Free the model and its context."""
        self._busy.close()
        self._worker.close()
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()
