"""Provides `R1ChatApp`: the Textual application (themes, keymap, palette, help, quit)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.driver import Driver
from textual.markup import escape
from textual.notifications import SeverityLevel
from textual.screen import Screen

from r1chat.config import Settings, save_setting
from r1chat.core.service import ChatService
from r1chat.errors import ConfigError
from r1chat.paths import Paths
from r1chat.text import one_line, terminal_safe
from r1chat.ui.commands import ConversationsProvider, ModelsProvider
from r1chat.ui.driver import driver_class
from r1chat.ui.keymap import APP_BINDINGS, QUIT_ID, QUIT_KEY, check_keymap, places
from r1chat.ui.keys import key_label
from r1chat.ui.priority import ModelFirst
from r1chat.ui.screens.chat import ChatScreen
from r1chat.ui.screens.help import NEWLINE_HELP, HelpScreen
from r1chat.ui.themes import APP_VARIABLES, DEFAULT_THEME, bundled_themes_dir, load_themes
from r1chat.ui.widgets.reasoning import THINKING_MODES, ThinkingMode

QUIT_WAIT = 0.8
"""Seconds quitting waits for a reply to be saved and for the model to be freed."""
CTRL_C_AGAIN = 1.0
"""Seconds within which a second Ctrl+C quits (the first stops a reply, or says how)."""


PLACES = (
    "anywhere",
    "chat",
    "message box",
    "the conversation",
    "a focused message",
    "a focused answer",
    "conversation list",
)
"""The order the help lists places in."""


class R1ChatApp(App[None]):
    """r1chat in the terminal: chat with a local model, watch it think, come back later."""

    CSS_PATH = "r1chat.tcss"
    TITLE = "r1chat"
    COMMANDS = App.COMMANDS | {ConversationsProvider, ModelsProvider}
    BINDINGS: ClassVar[list[BindingType]] = list(APP_BINDINGS)

    def __init__(
        self,
        settings: Settings,
        paths: Paths,
        service: ChatService,
        *,
        model: str | None = None,
        model_explicit: bool = False,
        model_problem: str | None = None,
        open_conversation: str | None = None,
        remember_settings: bool = True,
        thinking_explicit: dict[str, Any] | None = None,
        welcome: Callable[[], str] | None = None,
        notices: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.settings = settings
        self.paths = paths
        self.service = service
        self.model = model
        self.model_explicit = model_explicit
        self.model_problem = model_problem
        self.open_conversation = open_conversation
        self.remember_settings = remember_settings
        self.welcome = ""
        """Said in an empty chat (for example: this is the demo model, and what to get)."""
        self.welcome_source = welcome
        """Where `welcome` comes from: called off the UI thread once the screen is up."""
        self.notices = tuple(notices)
        """Sentences shown once at start (why the last session ended, for example)."""
        self.thinking_explicit = dict(thinking_explicit or {})
        """`--think-budget` / `--no-think`: applied to the first chat opened, as `--model` is."""
        self.ui_settings: dict[str, Any] = {
            key: value for key, value in vars(settings.sections.ui).items() if value is not None
        }
        self._themes_ready = False
        self._ctrl_c_at = -CTRL_C_AGAIN
        self._default_keys: dict[str, str] | None = None
        self.keymap: dict[str, str] = {}
        """The `[keymap]` entries in use (binding id → keys), as checked at start-up."""
        self.model_first = ModelFirst()
        """The UI thread's priority while a local CPU model generates (see `ModelFirst`)."""

    def get_driver_class(self) -> type[Driver]:
        """The platform's driver, reading the terminal the way `r1chat.ui.driver` says.

        Keys and mouse events are read on the driver's own thread: while a local model
        generates, that thread first gives the UI thread its own priority back, so
        input is handled as fast as when nothing streams; a lone Esc is handed over as
        soon as it can be told from an escape sequence.
        """
        # Called from App.__init__, before `model_first` exists.
        return driver_class(super().get_driver_class(), lambda: self.model_first.wake())

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Show a notification; its text is always plain (see `r1chat.ui.plain`).

        Messages carry error texts, titles and model names from outside: they are never
        parsed as markup, whatever a caller asks, and lose control characters.
        """
        super().notify(
            terminal_safe(str(message)),
            title=terminal_safe(str(title)),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def copy_to_clipboard(self, text: str) -> None:
        """Copy what is shown: without control characters or bidi overrides."""
        super().copy_to_clipboard(terminal_safe(text))

    def format_title(self, title: str, sub_title: str) -> Content:
        return super().format_title(terminal_safe(title), terminal_safe(sub_title))

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLES)

    def on_ready(self) -> None:
        # Everything built so far lives as long as the app: keeping it out of the cyclic
        # collector's full passes stops those passes from stalling the screen for tens of
        # milliseconds (measured by `r1chat bench ui`).
        gc.freeze()

    def on_mount(self) -> None:
        themes, problems = load_themes(bundled_themes_dir(), self.paths.config_dir / "themes")
        for theme in themes:
            self.register_theme(theme)
        for problem in problems:
            self.notify(
                f"Skipped theme {problem.path.name}: {problem.reason}.",
                severity="warning",
                timeout=10,
            )
        wanted = self.ui_settings.get("theme", DEFAULT_THEME)
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self.theme = DEFAULT_THEME
            self.notify(f"Unknown theme {wanted!r}; using {DEFAULT_THEME}.", severity="warning")
        self._themes_ready = True
        if self.service.read_only:
            self.notify(
                f"Chats open read-only ({self.service.read_only}): saved chats can be read, "
                "new messages are not saved.",
                severity="warning",
                timeout=15,
            )
        for notice in self.notices:
            self.notify(notice, severity="warning", timeout=20)
        self.service.on_store_restored(  # said from whichever thread was saving
            lambda sentence: self.notify(sentence, severity="warning", timeout=20)
        )
        self.keymap = self._checked_keymap(self.settings.sections.keymap)
        self.set_keymap(self.keymap)
        mode = self.ui_settings.get("thinking", "collapsed")
        thinking: ThinkingMode = mode if mode in THINKING_MODES else "collapsed"
        self.push_screen(
            ChatScreen(
                self.service,
                thinking_mode=thinking,
                open_conversation=self.open_conversation,
                model=self.model,
                model_explicit=self.model_explicit,
                model_problem=self.model_problem,
            )
        )

    def watch_theme(self, theme: str) -> None:
        if self._themes_ready and theme != self.ui_settings.get("theme", DEFAULT_THEME):
            self.remember("theme", theme)

    def remember(self, key: str, value: str | bool) -> None:
        """Save a `[ui]` setting to config.toml (the choice survives a restart)."""
        self.ui_settings[key] = value
        if not self.remember_settings:
            return
        try:
            save_setting(self.paths, "ui", key, value)
        except ConfigError as error:
            self.notify(str(error), severity="error", timeout=10)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, ChatScreen):
            yield SystemCommand("New chat", "Start a new conversation", screen.action_new_chat)
            yield SystemCommand(
                "Toggle thinking", "Expanded, collapsed or hidden", screen.action_cycle_thinking
            )
            yield SystemCommand(
                "Copy last answer", "Copy the last answer to the clipboard", screen.action_copy_last
            )
            yield SystemCommand(
                "Chat settings",
                f"Model, system prompt and sampling of this chat ({self.key('chat.settings')})",
                screen.action_chat_settings,
            )
            yield SystemCommand(
                "Answer now",
                f"End the reasoning and answer from it ({self.key('chat.answer_now')}, "
                "while the model reasons)",
                screen.action_answer_now,
            )
            thinking = screen.session.params.thinking
            yield SystemCommand(
                "Thinking off for this chat" if thinking else "Thinking on for this chat",
                "R1 models answer at once, without reasoning"
                if thinking
                else "R1 models reason before answering again",
                screen.action_toggle_think,
            )
            yield SystemCommand(
                "Search chats",
                f"Full-text search over every conversation ({self.key('chat.search')})",
                screen.action_search,
            )
            yield SystemCommand(
                "Memory",
                f"What r1chat remembers about you, for every chat ({self.key('chat.memory')})",
                screen.action_memory,
            )
            yield SystemCommand(
                "Count draft tokens",
                "How many tokens the message box holds, and its share of the window",
                screen.action_count_draft,
            )
            yield SystemCommand(
                "Usage stats",
                f"Tokens, speed and the API bill not paid, over time ({self.key('chat.stats')})",
                screen.action_stats,
            )
            yield SystemCommand(
                "Copy thinking",
                "Copy the thinking of the focused (or last) reply",
                screen.action_copy_reasoning,
            )
            yield SystemCommand(
                "Write the message in your editor",
                f"Open the draft in $VISUAL or $EDITOR; save and quit to bring it back "
                f"({self.key('chat.editor')})",
                screen.action_edit_in_editor,
            )
            yield SystemCommand(
                "Clear the message box",
                f"Empty it, however long; Ctrl+Z brings it back ({self.key('chat.clear_draft')})",
                screen.action_clear_draft,
            )
            yield SystemCommand(
                "Export reply as Markdown",
                "Save the focused (or last) reply, with its thinking, to a file",
                screen.action_export_reply,
            )
            yield SystemCommand(
                "Think on",
                f"Let a reply that stopped while reasoning go on ({self.key('chat.continue')})",
                screen.action_continue_reply,
            )
            yield SystemCommand(
                "Edit last message",
                "Edit your last message and send it again (e on any of yours edits that one)",
                screen.action_edit_last,
            )
            for name, preset in self.settings.sections.presets.items():
                yield SystemCommand(  # the palette reads both as markup: escaped
                    escape(f"Preset: {one_line(name)}"),
                    escape(f"This chat takes it: {one_line(preset.summary())}"),
                    partial(screen.apply_preset, name),
                )
            yield SystemCommand(
                "Timestamps: " + ("hide" if screen.conversation.timestamps else "show"),
                "Show when every message was written (the focused one always shows it)",
                screen.action_toggle_timestamps,
            )
            yield SystemCommand(
                "Branches of this chat",
                "Every branch that edits and regenerated answers made: pick one to show it",
                screen.action_branches,
            )
            for mode in THINKING_MODES:
                yield SystemCommand(
                    f"Thinking: {mode}",
                    f"Show thinking {mode}",
                    lambda mode=mode: screen.set_thinking_mode(mode),
                )
        yield SystemCommand("Help", "List every key", self.action_help)

    def _help_bindings(self) -> list[tuple[str, Binding]]:
        """Every binding with an id, and where it works."""
        from r1chat.ui.widgets.conversation import ConversationView
        from r1chat.ui.widgets.messages import AssistantMessage, UserMessage
        from r1chat.ui.widgets.sidebar import ConversationList

        places: list[tuple[str, list[Any]]] = [
            ("anywhere", list(self.BINDINGS)),
            ("chat", list(ChatScreen.BINDINGS)),
            ("the conversation", list(ConversationView.BINDINGS)),
            ("a focused message", list(UserMessage.BINDINGS)),
            ("a focused answer", list(AssistantMessage.BINDINGS)),
            ("conversation list", list(ConversationList.BINDINGS)),
        ]
        return [
            (where, binding)
            for where, bindings in places
            for binding in bindings
            if isinstance(binding, Binding)
        ]

    def help_rows(self) -> list[tuple[str, str, str, str, str]]:
        """Every binding the user can press: key, action, where it works, what it does, id."""
        keymap = self.keymap
        rows: list[tuple[str, str, str, str, str]] = [
            ("ctrl+p", "Commands", "anywhere", "Open chats, switch model or theme, and more", "")
        ]
        for where, binding in self._help_bindings():
            key = keymap.get(binding.id, binding.key) if binding.id else binding.key
            rows.append((key, binding.description, where, binding.tooltip, binding.id or ""))
        rows.append(("enter", "Send", "message box", "Send the message", ""))
        rows.append((NEWLINE_HELP[0], "New line", "message box", NEWLINE_HELP[1], ""))
        return sorted(rows, key=lambda row: PLACES.index(row[2]) if row[2] in PLACES else 99)

    def key(self, binding_id: str) -> str:
        """The key that runs `binding_id` now, as people write it (`Ctrl+G`): the keymap's
        first key for it, else the binding's own."""
        if self._default_keys is None:
            found: dict[str, str] = {}
            for place in places():
                for binding in place.bindings:
                    if binding.id:
                        found.setdefault(binding.id, binding.key)
            self._default_keys = found
        keys = self.keymap.get(binding_id) or self._default_keys.get(binding_id, "")
        if binding_id == QUIT_ID:
            keys = keys or QUIT_KEY
        return key_label(keys)

    def _checked_keymap(self, keymap: dict[str, str]) -> dict[str, str]:
        """The `[keymap]` entries that can be used; the rest are said in one notice (the
        command line refuses them before the app starts: this covers an app built
        directly)."""
        checked, problems = check_keymap(keymap)
        if problems:
            more = f" (and {len(problems) - 3:,} more)" if len(problems) > 3 else ""
            reasons = "; ".join(problem.reason for problem in problems[:3])
            self.notify(
                f"Ignored in [keymap] of config.toml: {reasons}{more}.",
                severity="warning",
                timeout=15,
            )
        return checked

    async def action_copy_or_quit(self) -> None:
        """Ctrl+C: copy a selection in the focused box; else stop a reply that streams; a
        second press within a second quits."""
        copy = getattr(self.focused, "action_copy", None)
        selected = getattr(self.focused, "selected_text", "")
        if isinstance(selected, str) and selected and callable(copy):
            copy()
            return
        now = time.monotonic()
        if now - self._ctrl_c_at < CTRL_C_AGAIN:
            await self.action_quit()
            return
        self._ctrl_c_at = now
        screen = self.screen
        if isinstance(screen, ChatScreen) and screen.generating:  # what people mean by it
            screen.action_stop()
            self.notify("Stopped; Ctrl+C again within a second quits.", timeout=CTRL_C_AGAIN)
            return
        self.notify(f"Press Ctrl+C again to quit (or {self.key(QUIT_ID)}).", timeout=CTRL_C_AGAIN)

    def action_help_quit(self) -> None:  # Textual's own Ctrl+C hint, kept plain
        self.notify(f"Press {self.key(QUIT_ID)} to quit.", title="Do you want to quit?")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.help_rows()))

    async def action_quit(self) -> None:
        """Stop and save any reply, free the model, and leave; within a second or so.

        A reply ends within a token and is saved; should that or freeing the model take
        longer (a model still loading, a slow disk), the app leaves anyway: the reply's
        text so far is already saved, and the model is freed as the process ends.
        """
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(screen.stop_and_wait(), QUIT_WAIT)
        closing = asyncio.create_task(asyncio.to_thread(self.service.close))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(closing), QUIT_WAIT)
        self.exit()
