"""Provides the engines that turn a chat into reasoning and answer deltas, and their events."""

from r1chat.engine.base import Engine, EngineInfo
from r1chat.engine.events import (
    AnswerDelta,
    EngineEvent,
    Finished,
    FinishReason,
    GenerationStats,
    ReasoningDelta,
)
from r1chat.engine.think import ThinkSplitter

__all__ = [
    "AnswerDelta",
    "Engine",
    "EngineEvent",
    "EngineInfo",
    "FinishReason",
    "Finished",
    "GenerationStats",
    "ReasoningDelta",
    "ThinkSplitter",
]
