"""Provides chat-template rendering in a Jinja sandbox and the R1 prompt rules."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from r1chat.domain import ChatMessage
from r1chat.engine.think import CLOSE, OPEN, prompt_opens_reasoning
from r1chat.errors import TemplateError
from r1chat.models.family import hostile_parts

# Used when a GGUF carries no chat template: ChatML, the most common format.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

R1_PREFILL = "<think>\n"


def check_jinja() -> None:
    """Refuse to render templates with a Jinja older than 3.1.6 (sandbox escapes fixed there)."""
    from importlib.metadata import version

    parts = version("jinja2").split(".")
    numbers = tuple(int(p) if p.isdigit() else 0 for p in [*parts, "0", "0"][:3])
    if numbers < (3, 1, 6):
        raise TemplateError(
            f"Jinja2 {'.'.join(parts)} has known sandbox escapes; install jinja2>=3.1.6 "
            "before r1chat renders chat templates."
        )


MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
"""Around a message's number where its text goes while the template renders (private-use
characters: no tokenizer gives them meaning, and message texts never reach the template)."""


def _fill_markers(
    rendered: str, contents: list[str]
) -> tuple[str | None, tuple[tuple[int, int], ...]]:
    """`rendered` with each marker replaced by its text, and where each text landed; `None`
    when the template lost, repeated or took apart a marker."""
    import re

    found = list(re.finditer(f"{MARK_OPEN}(\\d+){MARK_CLOSE}", rendered))
    numbers = [int(match.group(1)) for match in found]
    wanted = {index for index, text in enumerate(contents) if text}
    if len(numbers) != len(wanted) or set(numbers) != wanted:
        return None, ()
    if rendered.count(MARK_OPEN) != len(found) or rendered.count(MARK_CLOSE) != len(found):
        return None, ()
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    at = length = 0
    for match in found:
        parts.append(rendered[at : match.start()])
        length += match.start() - at
        content = contents[int(match.group(1))]
        parts.append(content)
        spans.append((length, length + len(content)))
        length += len(content)
        at = match.end()
    parts.append(rendered[at:])
    return "".join(parts), tuple(spans)


def _template_text(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """`text` without the stretches people and models wrote."""
    out, at = [], 0
    for start, end in spans:
        out.append(text[at:start])
        at = end
    out.append(text[at:])
    return "".join(out)


def strip_reasoning(text: str) -> str:
    """The answer part of an assistant text, as DeepSeek's own template cuts it."""
    if CLOSE in text:
        text = text.rsplit(CLOSE, 1)[-1]
    elif text.lstrip().startswith(OPEN):  # reasoning that never closed: no answer at all
        return ""
    return text.lstrip()


def prepare_messages(
    messages: Sequence[ChatMessage], system_prompt: str, *, r1: bool
) -> list[dict[str, str]]:
    """Messages in the shape chat templates expect, following the prompt rules.

    Earlier reasoning is never sent back. For R1 models a system prompt goes into
    the first user turn (DeepSeek advises against a system role); other models get
    it as a system message.
    """
    system_parts = [system_prompt.strip()] if system_prompt.strip() else []
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == "system":
            if message.content.strip():
                system_parts.append(message.content.strip())
        elif message.role == "assistant":
            turns.append({"role": "assistant", "content": strip_reasoning(message.content)})
        else:
            turns.append({"role": "user", "content": message.content})
    system = "\n\n".join(system_parts)
    if not system:
        return turns
    if r1:
        for turn in turns:
            if turn["role"] == "user":
                turn["content"] = f"{system}\n\n{turn['content']}"
                break
        return turns
    return [{"role": "system", "content": system}, *turns]


RENDER_SECONDS = 2.0
"""A chat template that renders for longer than this is given up on."""
RENDER_CHARS = 4_000_000
"""Most characters a template may write, or build with `*` (prompts are far smaller)."""


class _RenderLimit(Exception):
    """A template ran past its time or size limit."""


def _bounded_sandbox() -> Any:
    """A sandbox that gives up on a template looping or growing without end.

    Every call, attribute and item lookup checks the render's deadline, and `*` and `**`
    may not build more than `RENDER_CHARS` items (a `range` is already limited by the
    sandbox); the caller also stops reading the output at `RENDER_CHARS`.
    """
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self.local = threading.local()

        def tick(self) -> None:
            if time.monotonic() > getattr(self.local, "deadline", float("inf")):
                raise _RenderLimit(f"did not finish rendering within {RENDER_SECONDS:g} s")

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            __self.tick()
            return super().call(__context, __obj, *args, **kwargs)

        def getattr(self, obj: Any, attribute: str) -> Any:
            self.tick()
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            self.tick()
            return super().getitem(obj, argument)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            self.tick()
            if operator == "**" and isinstance(right, int) and abs(right) > 64:
                raise _RenderLimit("raises a number to a huge power")
            if operator == "*":
                sizes = [len(x) for x in (left, right) if isinstance(x, str | list | tuple)]
                counts = [x for x in (left, right) if isinstance(x, int)]
                if sizes and counts and sizes[0] * max(counts[0], 0) > RENDER_CHARS:
                    raise _RenderLimit("builds a string or list too large to be a prompt")
            return super().call_binop(context, operator, left, right)

    return BoundedSandbox(trim_blocks=True, lstrip_blocks=True)


def _raise_exception(message: str) -> None:
    raise TemplateError(f"The model's chat template refused these messages: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@dataclass
class ChatTemplate:
    """A model's Jinja chat template, rendered in a sandbox that cannot reach Python internals."""

    source: str
    bos_token: str = ""
    eos_token: str = ""
    r1: bool = False
    """Apply DeepSeek-R1's rules: `<think>\\n` prefill, system prompt in the user turn."""
    trust: bool = False
    """Use a template the scan flags (`--trust-template`); it still renders in the sandbox."""

    def __post_init__(self) -> None:
        check_jinja()
        hostile = hostile_parts(self.source)
        if hostile and not self.trust:
            raise TemplateError(
                "The model's chat template tries to reach Python internals "
                f"({', '.join(hostile[:3])}), so r1chat refused to use it; get the model from "
                "a source you trust, or pass --trust-template to render it sandboxed anyway."
            )
        from jinja2 import TemplateSyntaxError

        environment = self._environment = _bounded_sandbox()
        environment.globals["raise_exception"] = _raise_exception
        environment.globals["strftime_now"] = _strftime_now
        try:
            self._template = environment.from_string(self.source)
        except TemplateSyntaxError as error:
            raise TemplateError(
                f"The model's chat template is broken (line {error.lineno}: {error.message})."
            ) from error

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """Render `messages`; any escape attempt or template error becomes a `TemplateError`."""
        from jinja2.exceptions import SecurityError

        local = self._environment.local
        local.deadline = time.monotonic() + RENDER_SECONDS
        try:
            pieces: list[str] = []
            written = 0
            for piece in self._template.generate(
                messages=messages,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                add_generation_prompt=add_generation_prompt,
            ):
                pieces.append(piece)
                written += len(piece)
                if written > RENDER_CHARS:
                    raise _RenderLimit("writes a prompt too large to be one")
                self._environment.tick()
            return "".join(pieces)
        except _RenderLimit as error:
            raise TemplateError(
                f"The model's chat template {error}; it is broken or hostile, so r1chat gave "
                "up on it. Use another model file."
            ) from error
        except SecurityError as error:
            raise TemplateError(
                "The model's chat template tries to reach Python internals, so r1chat refused "
                f"to render it ({error}); get the model from a source you trust."
            ) from error
        except TemplateError:
            raise
        except RecursionError as error:
            raise TemplateError(
                "The model's chat template calls itself without end (RecursionError); use "
                "another model file."
            ) from error
        except Exception as error:  # raised by the template's own code: its message, one line
            detail = " ".join(str(error).split())[:300]
            raise TemplateError(
                f"The model's chat template failed to render ({type(error).__name__}: {detail})."
            ) from error
        finally:
            local.deadline = float("inf")

    def prompt(self, messages: Sequence[ChatMessage], system_prompt: str = "") -> RenderedPrompt:
        """The text to feed the model for a reply to `messages`, with the spans of it that
        are people's and models' text (never to be read as control tokens).

        The template is rendered with a marker in place of each message's text; the texts
        go in afterwards, so r1chat knows exactly which characters the template wrote.
        The result is checked against the template rendered with the texts themselves; a
        template that rewrites texts (beyond trimming them) gets no spans: its prompt is
        tokenized as a whole, as before.
        """
        turns = prepare_messages(messages, system_prompt, r1=self.r1)
        marked = [
            {**turn, "content": f"{MARK_OPEN}{index}{MARK_CLOSE}" if turn["content"] else ""}
            for index, turn in enumerate(turns)
        ]
        rendered = self.render(marked)
        direct = self.render(turns)
        text = direct
        spans: tuple[tuple[int, int], ...] = ()
        for contents in (  # as given, then as templates that `trim` message texts show them
            [turn["content"] for turn in turns],
            [turn["content"].strip() for turn in turns],
        ):
            filled, where = _fill_markers(rendered, contents)
            if filled == direct:
                text, spans = filled, where
                break
        # Only the template's own text says whether the prompt opens a reasoning block:
        # a `<think>` typed in a message must not stop the prefill.
        prefilled = False
        if self.r1 and not prompt_opens_reasoning(_template_text(text, spans)):
            text += R1_PREFILL
            prefilled = True
        return RenderedPrompt(
            text, prompt_opens_reasoning(_template_text(text, spans)), prefilled, spans
        )


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A rendered prompt and what the reply will start with."""

    text: str
    starts_in_reasoning: bool
    """The prompt ends inside `<think>`: the reply begins mid-thought."""
    prefilled: bool
    """r1chat appended `<think>\\n` because the template did not."""
    spans: tuple[tuple[int, int], ...] = ()
    """(start, end) of each stretch of `text` that people or models wrote: tokenized as
    plain text, so `<|im_end|>` typed in a message stays those characters."""

    def continued(self, reasoning: str) -> RenderedPrompt:
        """This prompt followed by the reasoning of a reply that stopped while thinking."""
        text = self.text if self.starts_in_reasoning else self.text + OPEN + "\n"
        spans = (*self.spans, (len(text), len(text) + len(reasoning)))
        return RenderedPrompt(text + reasoning, True, self.prefilled, spans)

    def without_thinking(self) -> RenderedPrompt:
        """This prompt with an empty reasoning block already written: the model answers."""
        text = self.text if self.starts_in_reasoning else self.text + OPEN + "\n"
        return RenderedPrompt(text + "\n" + CLOSE + "\n\n", False, self.prefilled, self.spans)

    def pieces(self) -> list[tuple[str, bool]]:
        """`text` cut into (piece, written by people or models) in order."""
        out: list[tuple[str, bool]] = []
        at = 0
        for start, end in self.spans:
            if start > at:
                out.append((self.text[at:start], False))
            if end > start:
                out.append((self.text[start:end], True))
            at = max(at, end)
        if at < len(self.text):
            out.append((self.text[at:], False))
        return out

    def __str__(self) -> str:
        return self.text
