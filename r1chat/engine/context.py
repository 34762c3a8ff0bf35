"""Provides context fitting: keep the newest turns that fit, found from per-turn token counts,
leaving old turns out in blocks so the prompt's start (and its cache) lasts many turns."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from r1chat.domain import ChatMessage, ChatRequest
from r1chat.engine.events import PromptPlan
from r1chat.errors import ContextOverflowError

CHARS_PER_TOKEN = 4
"""The rule of thumb for engines without a tokenizer at hand (scripted, remote)."""


def estimated_tokens(text: str) -> int:
    """About how many tokens `text` takes, by `CHARS_PER_TOKEN`."""
    return len(text) // CHARS_PER_TOKEN


def reply_reserve(n_ctx: int, max_tokens: int | None) -> int:
    """Tokens kept free for the reply: `max_tokens` if set, else a quarter of the context.

    Never more than half the context, so a long `max_tokens` cannot starve the prompt.
    """
    wanted = max_tokens if max_tokens else n_ctx // 4
    return max(1, min(wanted, n_ctx // 2))


def turn_starts(messages: Sequence[ChatMessage]) -> list[int]:
    """Indexes where a cut may fall: each user turn (its answer goes with it), and each
    reply that has no user turn before it. System messages are never cut."""
    return [
        index
        for index, message in enumerate(messages)
        if message.role == "user"
        or (message.role == "assistant" and (index == 0 or messages[index - 1].role != "user"))
    ]


def find_cut(
    messages: Sequence[ChatMessage], costs: Sequence[int], fixed: int, n_ctx: int, reserve: int
) -> int:
    """The index of the oldest message to send, so that the kept turns fit in the window.

    The prompt may take `n_ctx - reserve` tokens. `costs[i]` is message i's tokens in
    the prompt, `fixed` what the prompt costs
    besides the turns (system prompt, generation prompt). System messages are always
    kept and the last message always is; a user turn goes with the reply that
    follows it. One pass from the newest turn back: linear in the number of messages.

    Raises:
        ContextOverflowError: the last message alone does not fit.
    """
    budget = n_ctx - reserve
    starts = turn_starts(messages)
    last = len(messages) - 1
    total = fixed + sum(cost for m, cost in zip(messages, costs, strict=True) if m.role == "system")
    total += costs[last]
    cut = last
    if total > budget:
        raise overflow(total, n_ctx, reserve)
    # Walk the turns from the newest back; stop at the first that does not fit.
    bounds = [*starts, len(messages)]
    for start, end in reversed(list(pairwise(bounds))):
        stop = min(end, last)
        if start >= stop:
            continue
        cost = sum(costs[i] for i in range(start, stop) if messages[i].role != "system")
        if total + cost > budget:
            break
        total += cost
        cut = start
    return cut


def stable_cut(
    messages: Sequence[ChatMessage], costs: Sequence[int], cut: int, fixed: int, room: int
) -> int:
    """Where to cut so that the start of the prompt stays the same for many turns.

    `cut` is the oldest turn that fits (`find_cut`); `room` is what the prompt may take,
    `fixed` what it takes besides the turns. Dropping old turns one at a time would move
    the prompt's start at nearly every reply and make llama.cpp (and a server's prompt
    cache) read the whole prompt again. Instead the cut moves in blocks of half the room:
    to the first turn past the next multiple of the block, counted from the chat's first
    message. Those counts never change as the chat grows (nor with the memory facts or
    the system prompt), so the cut stays put until the kept turns fill the window again,
    then jumps a block ahead.
    """
    starts = turn_starts(messages)
    if not starts or cut <= starts[0]:
        return cut  # nothing is left out
    sent = [cost if m.role != "system" else 0 for m, cost in zip(messages, costs, strict=True)]
    turns_room = room - fixed - sum(costs) + sum(sent)  # what the turns may take
    block = max(1, room // 2)
    before = [0]
    for cost in sent:
        before.append(before[-1] + cost)
    mark = -(-before[cut] // block) * block  # the next checkpoint at or past the cut
    last = len(messages) - 1
    for start in starts:
        if start > last:
            break
        if start >= cut and before[start] >= mark:
            if before[-1] - before[start] <= turns_room:
                return start
            break
    return cut


def kept_messages(messages: Sequence[ChatMessage], cut: int) -> tuple[list[ChatMessage], int]:
    """The messages sent for a cut at `cut` (system messages before it stay), and how
    many were left out."""
    before = [m for m in messages[:cut] if m.role == "system"]
    return [*before, *messages[cut:]], cut - len(before)


def overflow(tokens: int, n_ctx: int, reserve: int) -> ContextOverflowError:
    """The error for a message that cannot fit however much history is left out."""
    return ContextOverflowError(
        f"The message needs {tokens:,} tokens but the context window is {n_ctx:,} tokens with "
        f"{reserve:,} kept for the reply; shorten it, or raise the context with --n-ctx "
        "(or n_ctx in config.toml)."
    )


def estimated_plan(request: ChatRequest, n_ctx: int, fixed: int) -> PromptPlan:
    """Fit `request` as the real engines do, counting `estimated_tokens` per turn (plus a few
    for its markers) and `fixed` for what every prompt carries."""
    messages = request.messages
    reserve = reply_reserve(n_ctx, request.params.max_tokens)
    costs = [estimated_tokens(m.content) + 4 for m in messages]
    cut = find_cut(messages, costs, fixed, n_ctx, reserve)
    cut = stable_cut(messages, costs, cut, fixed, n_ctx - reserve)
    _, dropped = kept_messages(messages, cut)
    kept = sum(cost for i, cost in enumerate(costs) if i >= cut or messages[i].role == "system")
    return PromptPlan(fixed + kept, n_ctx, reserve, dropped)
