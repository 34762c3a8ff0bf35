"""Provides the error type for problems a user can cause and fix (one clear sentence each)."""


class R1ChatError(Exception):
    """A user-facing failure: the message says what happened and what to do.

    The CLI prints it as one line and exits non-zero; `--debug` adds the traceback.
    """

    exit_code = 1


class ModelError(R1ChatError):
    """The model file is missing, unreadable, not a GGUF, or refused by llama.cpp."""


class TemplateError(R1ChatError):
    """The model's chat template could not be rendered (broken, or hostile and refused)."""


class ContextOverflowError(R1ChatError):
    """The prompt does not fit in the context window."""


class ConfigError(R1ChatError):
    """`config.toml` or a command-line setting is invalid."""


class StoreError(R1ChatError):
    """The chat database cannot be opened, read or written."""


class StoreFullError(StoreError):
    """The disk (or the database's size limit) is full; nothing already saved was lost."""


class NotFoundError(R1ChatError):
    """No conversation matches the id (or id prefix) given."""


class ReplyRefused(R1ChatError):
    """A reply that cannot start, and why as data (`reason`), so each face can say it in its
    own words: `empty` (nothing to send), `answered` (nothing to think on) or `no-model`
    (no model has loaded yet)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
