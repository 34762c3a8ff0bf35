"""Provides `Steps`: a reply's tokens from llama.cpp, one model step at a time.

Each step reads the token sampled last; with prompt lookup on it also reads a draft of
the tokens likely to follow (see `engine.lookup`) and samples at every drafted
position in turn, keeping drafted tokens while they are what the model samples. The
sampler chain lives for the whole reply, so its random state moves on exactly as in
plain decoding: a kept draft token is one the model sampled itself.

The cache is cut back to the kept tokens before they are handed over, so a reply that
stops at any token leaves a cache that holds what was generated and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from r1chat.engine import llama_compat as compat
from r1chat.engine.lookup import ContextDrafts, DraftPilot
from r1chat.text import shared_prefix


class Steps:
    """The tokens of a reply, from a context the cache may already hold part of."""

    def __init__(self, llm: Any, chain: Any, *, lookup: bool, limit: int) -> None:
        self.llm = llm
        self.chain = chain
        self.left = limit
        """Tokens the caller takes at most: no draft reaches past them."""
        self.pilot: DraftPilot | None = DraftPilot() if lookup else None
        self.step_seconds: float | None = None
        """The last plain step's time, for the thread pilot (`None` once read, and after
        a step that checked a draft: it measures something else)."""
        self._drafts: ContextDrafts | None = None

    def tokens(self, context: list[int]) -> Generator[int, None, None]:
        """Sample after `context` (read first where the cache lacks it), then after each
        token sampled; ends only when the caller stops asking."""
        llm, chain, pilot = self.llm, self.chain, self.pilot
        held = compat.cached_tokens(llm)
        shared = shared_prefix(held, context)
        if not (shared == len(context) == len(held) and compat.logits_current(llm)):
            shared = min(shared, len(context) - 1)  # the last token is read again
            if not compat.keep_prefix(llm, shared):
                llm.reset()
                shared = 0
            compat.decode(llm, context[shared:], every_row=False)
        token = compat.sample(llm, chain)
        drafts = self._drafts_for(context) if pilot is not None else None
        room = int(llm.n_ctx())
        while True:
            self.left -= 1
            yield token
            draft: list[int] = []
            guess: int | None = None
            if drafts is not None and pilot is not None:
                drafts.append(token)
                length = min(pilot.next_length(), self.left - 1, room - int(llm.n_tokens) - 2)
                ahead = drafts.draft(max(length, 1))
                if length > 0:
                    draft = ahead
                elif ahead:
                    guess = ahead[0]  # not drafted, but learned from: see `DraftPilot`
            started = time.perf_counter()
            if not draft:
                compat.decode(llm, [token], every_row=False)
                token = compat.sample(llm, chain)
                self.step_seconds = time.perf_counter() - started
                if pilot is not None:
                    pilot.plain_step(self.step_seconds, guess, token)
                continue
            start = int(llm.n_tokens)
            compat.decode(llm, [token, *draft], every_row=True)
            kept: list[int] = []
            rows = len(draft) + 1
            for drafted in draft:
                token = compat.sample(llm, chain, len(kept) - rows)
                if token != drafted:
                    break
                kept.append(token)
            else:
                token = compat.sample(llm, chain, -1)
            self.step_seconds = None
            assert pilot is not None and drafts is not None
            pilot.checked(len(draft), len(kept), time.perf_counter() - started)
            compat.keep_prefix(llm, start + 1 + len(kept))
            for accepted in kept:
                self.left -= 1
                yield accepted
                drafts.append(accepted)

    def _drafts_for(self, context: list[int]) -> ContextDrafts:
        """The index over `context`: after a cut (answer now) the reply's index so far,
        extended by the closing tokens, instead of indexing the whole context again."""
        drafts = self._drafts
        known = len(drafts.tokens) if drafts is not None else 0
        if drafts is None or drafts.tokens != context[:known]:
            drafts = ContextDrafts(context)
        else:
            for token in context[known:]:
                drafts.append(token)
        self._drafts = drafts
        return drafts
