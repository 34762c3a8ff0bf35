"""Provides prompt lookup: drafting the next tokens from the conversation itself.

A reasoning model repeats itself and its user: it restates the question, copies the
code it was given, quotes the text it edits. When the last few tokens appeared before
in the context, the tokens that followed them then are a good guess for what comes
next. The engine reads such a draft in the same step as the token it just sampled and
keeps the drafted tokens the model would have sampled itself, up to the first one it
would not; the model's own choice there is kept too. The reply follows the same
distribution as plain decoding, in fewer steps. Under greedy sampling it has the same
tokens up to a near tie: llama.cpp's kernels round a step that reads several tokens a
little differently from one that reads one, so a tie can fall the other way.

`ContextDrafts` finds the guesses: an index of every 3-token sequence in the context,
kept up to date token by token. `DraftPilot` decides how many tokens to draft, or
whether to draft at all. Checking a draft costs more than a plain step: on a GPU a
little, on a CPU that is busy computing nearly a step per drafted token. The pilot
times what each draft length costs, and learns how likely a drafted token is kept
from every step, drafting or not: a plain step whose token is the one a draft would
have started with counts as a kept guess, and one that is not as a lost one. It drafts
the length that makes tokens fastest, and nothing where no length beats a plain step,
so a reply that does not repeat runs as it would without prompt lookup and one that
starts copying is drafted for as soon as it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

NGRAMS = (3,)
"""Lengths of the context's tail looked up, longest first (two tokens match too often
by chance: "of the")."""
MOST = 10
"""The longest draft."""
KEPT_PRIOR = 0.5
"""How likely a drafted token is kept before the reply has shown anything."""
PRIOR_WEIGHT = 1.0
"""How much that guess weighs, in tokens seen."""
COST_PRIOR = 0.5
"""A drafted token's cost in plain steps, before any check was timed."""
MEMORY = 0.97
"""Weight of what earlier tokens showed against the newest one."""
GAIN = 1.03
"""The least speed-up, in expectation, worth drafting for."""
SMOOTHING = 0.2
"""Weight of the newest plain step in the running measure of a step's time."""


class ContextDrafts:
    """The context's tokens, and where each of its short sequences last ended."""

    def __init__(self, tokens: Sequence[int]) -> None:
        self.tokens: list[int] = list(tokens)
        # As if appended one by one, in one pass per length: the last sequence is left
        # out, and a later run of the same tokens overwrites an earlier one.
        head = self.tokens[:-1]
        self._ends: dict[int, dict[tuple[int, ...], int]] = {}
        for n in NGRAMS:
            runs = zip(*(head[i:] for i in range(n)), strict=False)  # shorter shifts end it
            self._ends[n] = {run: start + n for start, run in enumerate(runs)}

    def append(self, token: int) -> None:
        """One more token at the end of the context."""
        tokens = self.tokens
        end = len(tokens)
        # Index the sequences ending where the context ended until now: the last
        # sequence is never in the index, so a lookup finds an earlier one.
        for n, ends in self._ends.items():
            if end >= n:
                ends[tuple(tokens[end - n : end])] = end
        tokens.append(token)

    def draft(self, most: int) -> list[int]:
        """Up to `most` tokens that followed the last time the context's tail appeared."""
        tokens = self.tokens
        for n, ends in self._ends.items():
            if len(tokens) < n:
                continue
            start = ends.get(tuple(tokens[-n:]))
            if start is not None:
                return tokens[start : start + most]
        return []


def expected_gain(length: int, kept: float, steps: float) -> float:
    """Tokens per plain step's time when a step with `length` drafted tokens takes as
    long as `steps` plain ones and each drafted token is kept with probability `kept`
    (while the ones before it were)."""
    produced = 1 + sum(kept**i for i in range(1, length + 1))
    return produced / steps


@dataclass
class DraftPilot:
    """How long the next draft is, from what drafting has cost and given in this reply."""

    drafted: int = 0
    """Tokens drafted in this reply."""
    accepted: int = 0
    """Drafted tokens the model kept."""
    plain_seconds: float | None = None
    """A plain step's time, smoothed (`None` until one is measured)."""
    costs: dict[int, float] = field(default_factory=dict)
    """What a step with a draft of each length took, in plain steps (smoothed)."""
    _kept: float = 0.0
    _tried: float = 0.0
    _best: int | None = field(default=None, repr=False)

    @property
    def kept(self) -> float:
        """How likely the next drafted token is kept, from recent tokens."""
        return (self._kept + PRIOR_WEIGHT * KEPT_PRIOR) / (self._tried + PRIOR_WEIGHT)

    def next_length(self) -> int:
        """Tokens to draft in the next step: the fastest length, 0 where none pays."""
        if self._best is None:
            kept = self.kept
            gain, length = max(
                (expected_gain(n, kept, self.cost(n)), n) for n in range(1, MOST + 1)
            )
            self._best = length if gain >= GAIN else 0
        return self._best

    def cost(self, length: int) -> float:
        """A step with `length` drafted tokens, in plain steps: as timed; for a length not
        timed, from the nearest one timed, each token more costing what a token cost there
        but at most `COST_PRIOR` (a step's cost grows more slowly the more it reads, and a
        longer draft has to be tried to be timed)."""
        costs = self.costs
        if length in costs:
            return costs[length]
        if not costs:
            return 1 + COST_PRIOR * length
        nearest = min(costs, key=lambda timed: abs(timed - length))
        per_token = max(0.0, costs[nearest] - 1) / nearest
        if length < nearest:
            return 1 + per_token * length
        return costs[nearest] + min(per_token, COST_PRIOR) * (length - nearest)

    def plain_step(self, seconds: float, guess: int | None = None, token: int = -1) -> None:
        """A step without a draft took `seconds` and sampled `token`; `guess` is what a
        draft would have started with (`None`: the context had no guess)."""
        last = self.plain_seconds
        self.plain_seconds = seconds if last is None else last + SMOOTHING * (seconds - last)
        if guess is not None:
            self._learn(int(guess == token), 1)

    def checked(self, drafted: int, accepted: int, seconds: float) -> None:
        """A step that read `drafted` guesses kept `accepted` of them, in `seconds`."""
        self.drafted += drafted
        self.accepted += accepted
        self._learn(accepted, accepted + (1 if accepted < drafted else 0))
        plain = self.plain_seconds
        if plain:
            steps = seconds / plain
            last = self.costs.get(drafted)
            self.costs[drafted] = steps if last is None else last + (1 - MEMORY) * (steps - last)

    def _learn(self, kept: int, tried: int) -> None:
        """`tried` guesses were put to the model, `kept` of them were what it sampled."""
        fade = MEMORY**tried
        self._kept = self._kept * fade + kept
        self._tried = self._tried * fade + tried
        self._best = None
