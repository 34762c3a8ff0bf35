"""The real `r1chat` command in tmux, typed at like a person: ask, toggle, quit, come back."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

PROMPT = "What is the capital of France? Answer briefly."

pytestmark = pytest.mark.slow


class Tmux:
    """A private tmux server running one window."""

    def __init__(self, env: dict[str, str]) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed; .ci/run installs it (apt-get install tmux)")
        # A socket of its own in a folder of its own, removed with the server: nothing of
        # the test is left in tmux's shared socket folder.
        self.folder = Path(tempfile.mkdtemp(prefix="r1chat-tmux-"))
        self.socket = str(self.folder / "socket")
        self.env = env

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", self.socket, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
        )
        return done.stdout

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-x", "110", "-y", "34", "-s", "main", command)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "main", *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-t", "main", "-p")

    def wait_for(self, predicate, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; the screen shows:\n{text}")
            time.sleep(0.1)

    def alive(self) -> bool:
        return "main" in self.run("list-sessions")

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-S", self.socket, "kill-server"], capture_output=True, env=self.env
        )

    def close(self) -> None:
        """Stop the server and remove its socket."""
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def tmux(cli_env, home):
    env = dict(cli_env)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm-256color"
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[generation]\nmax_tokens = 24\ntemperature = 0.0\n")
    session = Tmux(env)
    yield session
    session.close()
    assert not session.folder.exists()  # nothing left behind


def test_ask_toggle_quit_and_continue_in_a_real_terminal(tmux, r1chat_command, home):
    command = " ".join(r1chat_command)
    tmux.start(f"{command}; echo EXITED-$?; sleep 30")
    tmux.wait_for(lambda s: " idle " in s and "SmolLM2-135M-Instruct" in s)
    tmux.keys(PROMPT)
    tmux.keys("Enter")
    screen = tmux.wait_for(lambda s: "Paris" in s and " idle " in s and "tok/s" in s)
    assert PROMPT in screen
    tmux.keys("C-t")
    tmux.wait_for(lambda s: "Thinking: hidden" in s)
    tmux.keys("C-q")
    tmux.wait_for(lambda s: "EXITED-0" in s, timeout=30)

    config = (home / "config" / "config.toml").read_text()
    assert 'thinking = "hidden"' in config  # the toggle was remembered

    tmux.kill()
    tmux.socket = str(tmux.folder / "again")  # a new server: the old one may still be going
    tmux.start(f"{command} -c; echo EXITED-$?; sleep 30")
    screen = tmux.wait_for(lambda s: PROMPT in s and "Paris" in s and " idle " in s)
    assert "What is the capital of France?" in screen  # the sidebar lists it too
    tmux.keys("C-q")
    tmux.wait_for(lambda s: "EXITED-0" in s, timeout=30)
    assert os.path.exists(home / "data" / "chats.db")


def test_hostile_titles_in_a_real_terminal_are_shown_and_run_nothing(tmux, r1chat_command, home):
    from r1chat.paths import Paths
    from r1chat.store import ChatStore

    marker = home / "written-by-markup.svg"
    title = f"[/] [@click=app.quit]quit[/] [@click=app.screenshot('{marker}')]shot[/] \u202eevil"
    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
    chat = store.create_conversation(title=title)
    store.add_message(chat.id, "user", "[b]not bold[/b] \x1b]52;c;aGk=\x07 plain")
    store.close()
    command = " ".join(r1chat_command)
    tmux.start(f"{command} -c; echo EXITED-$?; sleep 30")
    screen = tmux.wait_for(lambda s: "[b]not bold[/b]" in s)
    assert "[@click=app.quit]quit[/]" in screen  # the sidebar shows the title as written
    tmux.keys("C-p")
    tmux.wait_for(lambda s: "🔎" in s or "Search" in s)
    tmux.keys("open")
    tmux.wait_for(lambda s: "Open: [/] [@click=app.quit]quit[/]" in s)
    tmux.keys("Enter")
    time.sleep(1)
    screen = tmux.screen()
    assert "EXITED" not in screen and tmux.alive()
    assert not marker.exists()
    tmux.keys("C-q")
    tmux.wait_for(lambda s: "EXITED-0" in s)


def flat(screen: str) -> str:
    """The screen's words in one line, without the borders of boxes and notices."""
    return " ".join(re.sub("[▌▕▎▊▏]", " ", screen).split())


def notices(screen: str) -> str:
    """The words of the notices on screen (right of their `▌` border), in one line."""
    return " ".join(line.rsplit("▌", 1)[1].strip() for line in screen.splitlines() if "▌" in line)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_native_crash_mid_reply_puts_the_terminal_back_and_says_why(tmux, r1chat_command, home):
    """llama.cpp dying of SIGILL takes the app's process with it: the guard above it puts
    the terminal back, says why, marks the cut reply interrupted, and the next start
    says why again."""
    (home / "config" / "config.toml").write_text("[generation]\nmax_tokens = 4000\n")
    command = " ".join(r1chat_command)
    tmux.start(f"{command}; echo EXITED-$?; sleep 30")
    tmux.wait_for(lambda s: " idle " in s and "SmolLM2-135M-Instruct" in s)
    tmux.keys("Write a very long story about a lighthouse keeper and the sea.")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "tok/s" in s and " idle " not in s)
    shell = int(tmux.run("display-message", "-p", "-t", "main", "#{pane_pid}").strip())
    (guard,) = children(shell)
    (app,) = children(guard)
    os.kill(app, signal.SIGILL)  # what a native crash inside llama.cpp does to the process
    screen = tmux.wait_for(lambda s: "EXITED-132" in s, timeout=30)
    assert "r1chat: the app stopped on an illegal instruction (SIGILL) inside llama.cpp" in flat(
        screen
    )
    flags = tmux.run(
        "display-message", "-p", "-t", "main", "#{alternate_on} #{mouse_any_flag} #{cursor_flag}"
    )
    assert flags.split() == ["0", "0", "1"]  # main screen, no mouse reporting, cursor shown

    from r1chat.paths import Paths
    from r1chat.store import ChatStore

    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
    try:
        chat = store.latest()
        assert chat is not None
        reply = store.branch(chat.id)[-1]
        assert reply.role == "assistant" and reply.status == "interrupted"
    finally:
        store.close()
    assert (home / "cache" / "last-crash.json").exists()  # for the next start

    tmux.kill()
    tmux.socket = str(tmux.folder / "again")
    tmux.start(f"{command} -c; echo EXITED-$?; sleep 30")
    tmux.wait_for(lambda s: "stopped on an illegal instruction (SIGILL)" in notices(s))
    tmux.keys("C-q")
    tmux.wait_for(lambda s: "EXITED-0" in s, timeout=30)
