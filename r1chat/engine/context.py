"""Provides context fitting: drop the oldest turns so the prompt leaves room for the reply."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from r1chat.domain import ChatMessage
from r1chat.errors import ContextOverflowError


def reply_reserve(n_ctx: int, max_tokens: int | None) -> int:
    """Tokens kept free for the reply: `max_tokens` if set, else a quarter of the context.

    Never more than half the context, so a long `max_tokens` cannot starve the prompt.
    """
    wanted = max_tokens if max_tokens else n_ctx // 4
    return max(1, min(wanted, n_ctx // 2))


def fit_messages(
    messages: Sequence[ChatMessage],
    count: Callable[[Sequence[ChatMessage]], int],
    n_ctx: int,
    reserve: int,
) -> tuple[list[ChatMessage], int, int]:
    """Drop the oldest turns until the prompt fits in `n_ctx - reserve` tokens.

    System messages and the latest user message are never dropped; a user turn
    goes together with the assistant reply that follows it.

    Returns:
        The kept messages, the prompt's token count, and how many messages were dropped.

    Raises:
        ContextOverflowError: the latest user message alone does not fit.
    """
    kept = list(messages)
    budget = n_ctx - reserve
    dropped = 0
    while True:
        tokens = count(kept)
        if tokens <= budget:
            return kept, tokens, dropped
        droppable = [i for i, m in enumerate(kept[:-1]) if m.role != "system"]
        if not droppable:
            raise ContextOverflowError(
                f"The message needs {tokens:,} tokens but the context window is {n_ctx:,} "
                f"tokens with {reserve:,} kept for the reply; shorten it, or raise the context "
                "with --n-ctx (or n_ctx in config.toml)."
            )
        first = droppable[0]
        remove = [first]
        if (
            kept[first].role == "user"
            and first + 1 < len(kept) - 1
            and kept[first + 1].role == "assistant"
        ):
            remove.append(first + 1)
        for index in reversed(remove):
            del kept[index]
        dropped += len(remove)
