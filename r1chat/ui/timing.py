"""Provides the app's public timing hooks: what a benchmark may observe of a running reply.

`r1chat bench ui` runs the real app in a terminal of its own and needs to know when the
model is ready, how many tokens are on screen, when each frame of a reply is drawn and
when the reply is over. Observers registered with `observe` are told exactly that; with
none registered, each hook costs one empty loop.
"""

from __future__ import annotations

from typing import Protocol


class TimingObserver(Protocol):
    """What a timing observer is told, from the UI thread."""

    def model_ready(self, threads: int | None) -> None:
        """A model finished loading (`threads`: llama.cpp's CPU threads, if local)."""

    def tokens_shown(self, tokens: int) -> None:
        """The reply's status line now counts `tokens` (about twice a second)."""

    def reply_frame(self) -> None:
        """One frame of the streaming reply was written."""

    def reply_ended(self) -> None:
        """The reply stopped streaming (finished, stopped or failed)."""


_observers: list[TimingObserver] = []


def observe(observer: TimingObserver) -> None:
    """Tell `observer` about every reply from now on."""
    _observers.append(observer)


def model_ready(threads: int | None) -> None:
    """Called by the chat screen when a model is ready."""
    for observer in _observers:
        observer.model_ready(threads)


def tokens_shown(tokens: int) -> None:
    """Called by the chat screen when the token count on screen changes."""
    for observer in _observers:
        observer.tokens_shown(tokens)


def reply_frame() -> None:
    """Called by the reply stream after each frame."""
    for observer in _observers:
        observer.reply_frame()


def reply_ended() -> None:
    """Called by the reply stream when the reply is over."""
    for observer in _observers:
        observer.reply_ended()
