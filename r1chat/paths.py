"""Provides the folders r1chat reads and writes, all movable under one root by `R1CHAT_HOME`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "r1chat"


@dataclass(frozen=True)
class Paths:
    """Where r1chat keeps its config, data (chats, models) and cache (logs)."""

    config_dir: Path
    data_dir: Path
    cache_dir: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Paths:
        """Build the paths from `R1CHAT_HOME` if set, otherwise from the platform's conventions."""
        env = os.environ if environ is None else environ
        home = env.get("R1CHAT_HOME")
        if home:
            root = Path(home).expanduser()
            return cls(root / "config", root / "data", root / "cache")
        import platformdirs

        return cls(
            Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        )

    @property
    def config_file(self) -> Path:
        """The user's `config.toml`."""
        return self.config_dir / "config.toml"

    @property
    def models_dir(self) -> Path:
        """Folder where r1chat looks for (and later downloads) GGUF models."""
        return self.data_dir / "models"

    @property
    def log_dir(self) -> Path:
        """Folder for llama.cpp's own log and r1chat's debug logs."""
        return self.cache_dir / "logs"

    @property
    def build_checks_file(self) -> Path:
        """Whether each llama.cpp build ran on this CPU (the build check's verdicts)."""
        return self.cache_dir / "build-checks.json"

    @property
    def crash_file(self) -> Path:
        """What the last run that died on a native crash was doing (read at the next start)."""
        return self.cache_dir / "last-crash.json"

    @property
    def llama_log_file(self) -> Path:
        """The file that receives llama.cpp's log instead of the user's terminal."""
        return self.log_dir / "llama.log"
