"""Provides `ThinkSplitter`, which turns raw model text into reasoning and answer deltas."""

from __future__ import annotations

from r1chat.engine.events import AnswerDelta, ReasoningDelta

OPEN = "<think>"
CLOSE = "</think>"

Delta = ReasoningDelta | AnswerDelta


def prompt_opens_reasoning(prompt: str) -> bool:
    """True when the rendered prompt ends inside an open `<think>` block.

    Newer R1 templates end the generation prompt with `<think>\\n`, so the reply
    starts mid-thought and carries no opening tag.
    """
    opened = prompt.rfind(OPEN)
    return opened != -1 and opened > prompt.rfind(CLOSE)


def _held_suffix(text: str, tags: tuple[str, ...]) -> int:
    """Length of the longest end of `text` that could be the start of one of `tags`."""
    longest = 0
    for tag in tags:
        for size in range(min(len(tag) - 1, len(text)), longest, -1):
            if text.endswith(tag[:size]):
                longest = size
                break
    return longest


class ThinkSplitter:
    """Incremental `<think>` parser.

    Feed it raw pieces as they arrive (a tag may be cut anywhere between pieces);
    it returns the deltas that are certain so far. Rules:

    - Starting in reasoning (the prompt opened `<think>`), text is reasoning until
      `</think>`; a repeated `<think>` there is dropped.
    - Starting in the answer, `<think>` opens reasoning only at the start of the
      reply (after optional whitespace); later it is ordinary answer text.
    - A `</think>` met in the answer without reasoning before it is dropped.
    - Whitespace around the reasoning and before the answer is trimmed, so an
      empty `<think>\\n\\n</think>` gives no reasoning text (`had_reasoning` is still
      true) and the answer starts at its first visible character.
    - A reply that never closes its reasoning is all reasoning; one that never
      opens it is all answer.
    """

    def __init__(self, start_in_reasoning: bool = False, *, continuing: bool = False) -> None:
        """`continuing`: the reply goes on from earlier reasoning, so its first
        whitespace is kept (it separates the new text from the old)."""
        self.in_reasoning = start_in_reasoning
        """Whether the text being read now is reasoning."""
        self.had_reasoning = start_in_reasoning
        """Whether a reasoning block was opened (even if it ends up empty)."""
        self.reasoning_closed = False
        """Whether `</think>` has been seen."""
        self._pending = ""  # text that may be the start of a tag
        self._space = ""  # whitespace inside reasoning, emitted only if more text follows
        self._started_reasoning = continuing and start_in_reasoning  # reasoning emitted yet
        self._started_answer = False  # answer text emitted yet

    def feed(self, piece: str) -> list[Delta]:
        """Take the next raw piece; return the deltas it completes."""
        out: list[Delta] = []
        text = self._pending + piece
        self._pending = ""
        while text:
            if self.in_reasoning:
                tags: tuple[str, ...] = (CLOSE, OPEN)
            elif not self._started_answer and not self.had_reasoning:
                tags = (OPEN, CLOSE)
            else:
                tags = (CLOSE,) if not self.had_reasoning else ()
            index, tag = _find_first(text, tags)
            if tag is None:
                hold = _held_suffix(text, tags)
                self._emit(text[: len(text) - hold], out)
                self._pending = text[len(text) - hold :]
                break
            self._emit(text[:index], out)
            text = text[index + len(tag) :]
            if tag == CLOSE and self.in_reasoning:
                self.in_reasoning = False
                self.reasoning_closed = True
                self._space = ""
            elif tag == OPEN and not self.in_reasoning:
                if self._started_answer:  # text came first: this <think> is answer text
                    self._emit(tag, out)
                else:
                    self.in_reasoning = True
                    self.had_reasoning = True
            # A repeated <think> inside reasoning, or a stray </think> in the answer: dropped.
        return out

    def finish(self) -> list[Delta]:
        """End of the reply: release any text held back as a possible tag."""
        out: list[Delta] = []
        text, self._pending = self._pending, ""
        self._emit(text, out)
        self._space = ""
        return out

    def _emit(self, text: str, out: list[Delta]) -> None:
        if not text:
            return
        if self.in_reasoning:
            full = self._space + text if self._started_reasoning else text.lstrip()
            body = full.rstrip()
            self._space = full[len(body) :]
            if body:
                self._started_reasoning = True
                out.append(ReasoningDelta(body))
            return
        if not self._started_answer:
            text = text.lstrip()
            if not text:
                return
            self._started_answer = True
        out.append(AnswerDelta(text))


def _find_first(text: str, tags: tuple[str, ...]) -> tuple[int, str | None]:
    """Position and value of the earliest of `tags` in `text`."""
    best, found = len(text), None
    for tag in tags:
        index = text.find(tag)
        if index != -1 and index < best:
            best, found = index, tag
    return best, found
