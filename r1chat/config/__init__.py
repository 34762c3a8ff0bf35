"""Provides r1chat's settings: `config.toml` read and checked once, `R1CHAT_MODEL`, flags."""

from r1chat.config.sections import (
    CacheSettings,
    RemoteSettings,
    Sections,
    StatsSettings,
    UISettings,
)
from r1chat.config.settings import Settings, budget_problem, load_settings, save_setting, validate

__all__ = [
    "CacheSettings",
    "RemoteSettings",
    "Sections",
    "Settings",
    "StatsSettings",
    "UISettings",
    "budget_problem",
    "load_settings",
    "save_setting",
    "validate",
]
