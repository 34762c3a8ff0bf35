"""Provides what the faces see of a running model: its events, its info, and reply control.

A face follows a reply as a stream of these events and steers it (stop, answer now)
through `ReplyControl`; it never reaches into an engine itself.
"""

from __future__ import annotations

from r1chat.engine.base import Engine as Engine
from r1chat.engine.base import EngineInfo as EngineInfo
from r1chat.engine.events import AnswerDelta as AnswerDelta
from r1chat.engine.events import EngineEvent as EngineEvent
from r1chat.engine.events import Finished as Finished
from r1chat.engine.events import GenerationStats as GenerationStats
from r1chat.engine.events import Progress as Progress
from r1chat.engine.events import PromptPlan as PromptPlan
from r1chat.engine.events import ReasoningDelta as ReasoningDelta
from r1chat.engine.remote import is_remote as is_remote
from r1chat.engine.steering import ReplyControl as ReplyControl
