"""What a newcomer tripped over: messages that say what to do, and small truths in the app."""

from __future__ import annotations

import json

import pytest

from r1chat.store import ChatStore
from r1chat.ui.widgets.messages import AssistantMessage
from tests.cli_helpers import run
from tests.scripted import Script, ScriptedEngine
from tests.tui_helpers import block_of, make_app, ready, wait_until


def test_use_of_a_preset_not_downloaded_says_how_to_pull_it(r1chat_command, cli_env):
    done = run(r1chat_command, cli_env, "use", "r1-1.5b")
    assert done.returncode == 1 and "r1chat pull r1-1.5b" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_pull_says_offline_mode_or_an_unreachable_hub(r1chat_command, cli_env):
    offline = run(r1chat_command, {**cli_env, "HF_HUB_OFFLINE": "1"}, "pull", "r1-1.5b")
    assert offline.returncode == 1 and "Offline mode is on" in offline.stderr
    assert "resume" not in offline.stderr
    away = run(r1chat_command, {**cli_env, "HF_ENDPOINT": "http://127.0.0.1:9"}, "pull", "r1-1.5b")
    assert away.returncode == 1 and "cannot be reached" in away.stderr
    assert "report" not in away.stderr and "Traceback" not in away.stderr


def test_search_says_when_the_word_is_only_in_reasoning(r1chat_command, cli_env, home):
    from r1chat.paths import Paths

    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
    chat = store.create_conversation("Sky")
    store.add_message(chat.id, "user", "Why blue?")
    store.add_message(chat.id, "assistant", "Scattering.", reasoning="photons bounce off air")
    store.close()
    done = run(r1chat_command, cli_env, "search", "photons")
    assert "1 in the thinking" in done.stderr and "--thinking" in done.stderr


def test_an_ambiguous_id_lists_unique_prefixes_with_titles(r1chat_command, cli_env, home):
    from r1chat.paths import Paths

    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
    ids = [store.create_conversation(f"Chat {n}").id for n in range(3)]
    store.close()
    common = ids[0][:6]
    assert all(i.startswith(common) for i in ids)  # made in the same moment
    done = run(r1chat_command, cli_env, "show", common)
    assert done.returncode == 1
    shown = done.stderr.split("(")[1].split(")")[0].split("; ")
    prefixes = [part.split(" ")[0] for part in shown]
    assert len(set(prefixes)) == len(prefixes) == 3  # each one tells its chat apart
    assert all(any(i.startswith(p) for i in ids) for p in prefixes)
    assert "'Chat 0'" in done.stderr


def test_renaming_does_not_move_a_chat_up_the_list(tmp_path):
    store = ChatStore(tmp_path / "chats.db")
    old = store.create_conversation("Old")
    store.add_message(old.id, "user", "first")
    new = store.create_conversation("New")
    store.add_message(new.id, "user", "second")
    store.rename(old.id, "Old, renamed")
    assert [c.id for c in store.list_conversations()] == [new.id, old.id]
    store.close()


async def test_a_model_that_does_not_reason_is_answering_not_thinking(tmp_path):
    engine = ScriptedEngine([Script("Plain answer.", tokens_per_second=50)], reasoning=False)
    app, _, store = make_app(tmp_path, engine=engine)
    states: list[str] = []
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        original = screen._set_state
        screen._set_state = lambda state: (states.append(state), original(state))  # type: ignore[method-assign,assignment,func-returns-value]
        screen._stream = None
        screen.composer.text = "Hi"
        screen.composer.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and screen.session.last_reply)
        assert "answering" in states and "thinking" not in states
        reply = screen.conversation.query(AssistantMessage).last()
        assert reply.reasoning_block is None or not block_of(reply).display
    store.close()


async def test_copying_an_empty_answer_says_there_is_nothing_to_copy(tmp_path, monkeypatch):
    app, _, store = make_app(tmp_path, [Script("<think>only thinking")])
    copied: list[str] = []
    monkeypatch.setattr(type(app), "copy_to_clipboard", lambda self, text: copied.append(text))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        screen.composer.text = "Hi"
        screen.composer.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and screen.session.last_reply)
        screen.action_copy_last()
        reply = screen.conversation.query(AssistantMessage).last()
        reply.action_copy_answer()
        notices = lambda: [n.message.lower() for n in app._notifications]  # noqa: E731
        await wait_until(pilot, lambda: sum("no answer to copy" in n for n in notices()) == 2)
        assert copied == []
    assert json.dumps(copied) == "[]"
    store.close()


def test_doctor_recommends_a_distill_the_machine_can_run_at_a_useful_speed():
    from dataclasses import replace as change

    from r1chat.models.advice import doctor_report, recommended_preset
    from r1chat.models.machine import inspect_machine

    machine = inspect_machine()
    report = doctor_report(machine, machine_dir := __import__("pathlib").Path("/tmp"), 8192)
    assert machine_dir and report["recommended"] == recommended_preset(
        report["r1_distills"], machine
    )
    table = report["r1_distills"]
    roomy = [
        {**row, "quants": {**row["quants"], "Q4_K_M": {**row["quants"]["Q4_K_M"], "fits": "fits"}}}
        for row in table
    ]
    cpu_two = change(machine, cpus=2, gpu_offload=False)
    assert recommended_preset(roomy, cpu_two) == "r1-1.5b"  # fits, but a 14B crawls on 2 CPUs
    assert recommended_preset(roomy, change(machine, cpus=8, gpu_offload=False)) == "r1-7b"
    assert recommended_preset(roomy, change(machine, gpu_offload=True)) == roomy[-1]["model"]


async def test_the_demo_model_is_named_in_the_empty_chat_with_what_to_get(tmp_path):
    app, _, store = make_app(tmp_path)
    app.welcome_source = lambda: "This is the demo model. For R1 here: `r1chat pull r1-1.5b`."
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        hint = screen.conversation.query_one(".empty-hint")
        # Found off the UI thread after the screen is up, then said in the empty chat.
        await wait_until(pilot, lambda: "r1chat pull r1-1.5b" in str(hint.render()))
        assert "Enter sends" in str(hint.render())
    store.close()


@pytest.mark.slow
def test_models_never_cuts_a_name_that_use_and_model_take(
    r1chat_command, cli_env, home, smollm2_path
):
    folder = home / "data" / "models"
    folder.mkdir(parents=True, exist_ok=True)
    name = "DeepSeek-R1-Distill-Qwen-Extremely-Long-Model-Name-For-Testing-Q4_K_M"
    (folder / f"{name}.gguf").symlink_to(smollm2_path)
    for width in ("80", "120"):
        shown = run(r1chat_command, {**cli_env, "COLUMNS": width}, "models").stdout
        assert name in shown and "…" not in shown.split(name)[0][-2:]


def test_list_cuts_neither_titles_nor_models_at_80_columns(r1chat_command, cli_env, home):
    from r1chat.paths import Paths

    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
    title = "A rather long title about lighthouse keepers and their logs"
    chat = store.create_conversation(title, model="DeepSeek-R1-Distill-Qwen-14B-Q4_K_M")
    store.add_message(chat.id, "user", "hi")
    store.close()
    shown = run(r1chat_command, {**cli_env, "COLUMNS": "80"}, "list").stdout
    assert title in shown and "DeepSeek-R1-Distill-Qwen-14B-Q4_K_M" in shown


def test_table_cells_measure_wide_characters():
    from rich.cells import cell_len

    from r1chat.cli.console import cell

    assert cell_len(cell("日本語のタイトル", 8)) == 8 and cell("日本語のタイトル", 8).endswith("…")
    assert cell_len(cell("日本", 8)) == 8


@pytest.mark.slow
async def test_enter_on_a_reply_opens_its_thinking_and_notices_stay_off_the_message_box(tmp_path):
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await ready(pilot)
        screen.composer.text = "Hi"
        screen.composer.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and screen.session.last_reply)
        reply = screen.conversation.query(AssistantMessage).last()
        reply.focus()
        was = block_of(reply).collapsed
        await pilot.press("enter")
        assert block_of(reply).collapsed is not was
        app.notify("A notice")
        await wait_until(pilot, lambda: app.screen.query("Toast"))
        await pilot.pause()
        toast = app.screen.query("Toast").last()
        composer = screen.composer.region
        assert not toast.region.overlaps(composer)  # it covers nothing being typed
        assert toast.region.y < composer.y
    store.close()


def _ask_on_a_terminal(r1chat_command, cli_env, model) -> bytes:
    """Run `ask --hide-thinking` with stderr on a pseudo-terminal; what the terminal got."""
    import os
    import pty
    import subprocess

    main, side = pty.openpty()
    process = subprocess.Popen(
        [
            *r1chat_command,
            "ask",
            "--model",
            str(model),
            "--hide-thinking",
            "--no-save",
            "-n",
            "60",
            "--temperature",
            "0",
            "Why is the sky blue?",
        ],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=side,
        stdin=subprocess.DEVNULL,
    )
    os.close(side)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    process.wait(timeout=60)
    os.close(main)
    return seen


@pytest.mark.slow
def test_ask_shows_a_spinner_on_a_terminal_and_not_when_piped(
    r1chat_command, cli_env, r1_smol_path
):
    seen = _ask_on_a_terminal(r1chat_command, cli_env, r1_smol_path).decode("utf-8", "replace")
    assert "loading " in seen and "thinking" in seen and " s" in seen  # phase and time
    assert seen.count("\r\x1b[K") >= 2  # erased before the answer and at the end
    piped = run(
        r1chat_command,
        cli_env,
        "ask",
        "--model",
        str(r1_smol_path),
        "--hide-thinking",
        "--no-save",
        "-n",
        "20",
        "Hi",
    )
    assert "\r\x1b[K" not in piped.stderr and "thinking ·" not in piped.stderr


async def test_f1_lists_ids_and_the_footer_keeps_help_at_80_columns(tmp_path):
    from textual.widgets._footer import FooterKey

    from r1chat.ui.screens.help import HelpScreen

    app, _, store = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await wait_until(pilot, lambda: bool(app.screen.query(FooterKey)))  # composed later
        footer = [key.description for key in app.screen.query(FooterKey)]
        assert footer[0] == "Help"  # first, so it is never the one dropped
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        lines = [str(line.render()) for line in app.screen.query(".help-line")]
        assert any("chat.answer_now" in line for line in lines)
        assert any("message.toggle_thinking" in line for line in lines)
        assert all(app.screen.query_one("#help-list").region.width <= 80 for _ in lines[:1])
    store.close()


@pytest.mark.slow
def test_a_model_has_one_name_on_every_screen(r1chat_command, cli_env, home, r1_smol_path):
    """A pulled model whose file says `DeepSeek R1 Smol (old template)` is `r1-smol` in
    `models`, in `ask`, in the saved chat and `list`, in the app's status bar and switcher:
    the name `use` and `--model` take."""
    from r1chat.models.discovery import register_model
    from r1chat.paths import Paths

    paths = Paths.from_env({"R1CHAT_HOME": str(home)})
    register_model(paths, "r1-smol", r1_smol_path)
    listed = json.loads(run(r1chat_command, cli_env, "models", "--json").stdout)
    assert "r1-smol" in [item["name"] for item in listed]
    asked = run(
        r1chat_command,
        cli_env,
        "ask",
        "--model",
        "r1-smol",
        "--json",
        "--no-think",
        "--max-tokens",
        "8",
        "Hi",
    )
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["model"] == "r1-smol"
    shown = run(r1chat_command, {**cli_env, "COLUMNS": "120"}, "list").stdout
    assert "r1-smol" in shown and "DeepSeek R1 Smol" not in shown
    assert run(r1chat_command, cli_env, "use", "r1-smol").returncode == 0
    from r1chat.config import load_settings
    from r1chat.models.discovery import found_models

    names = [name for name, _ in found_models(paths, load_settings(paths))]
    assert "r1-smol" in names and not any("DeepSeek R1 Smol" in n for n in names)
