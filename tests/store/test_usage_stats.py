"""Usage over time: the usage table the store keeps, `stats`, prices, `tokens`, and the
usage screen."""

from __future__ import annotations

import datetime
import json
import sqlite3
import time

import pytest

from r1chat.config import load_settings
from r1chat.core.prices import compared_prices, load_prices
from r1chat.paths import Paths
from r1chat.store import ChatStore
from r1chat.store.usage import conversation_usage, usage_report
from tests.cli_helpers import run

# 20:00 UTC on 1 March 2026: still the 1st in UTC, already the 2nd in Tokyo (UTC+9).
EVENING = datetime.datetime(2026, 3, 1, 20, 0, tzinfo=datetime.UTC).timestamp()


@pytest.fixture
def tokyo(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def reply(store, chat, model, when, *, read, thinking, answer, speed, first, status="complete"):
    message = store.add_message(
        chat,
        "assistant",
        "answer",
        reasoning="thought" if thinking else "",
        model=model,
        status=status,
        stats={
            "finish_reason": "stop",
            "prompt_tokens": read,
            "reasoning_tokens": thinking,
            "answer_tokens": answer,
            "reasoning_seconds": thinking / speed if thinking else None,
            "generation_seconds": (thinking + answer) / speed,
            "tokens_per_second": speed,
            "time_to_first_token": first,
        },
    )
    with store.transaction() as db:
        db.execute("UPDATE messages SET created_at = ? WHERE id = ?", (when, message.id))
    return message


def seeded(home):
    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
    chat = store.create_conversation("Sky").id
    store.add_message(chat, "user", "Why blue?")
    reply(
        store, chat, "r1-7b", EVENING - 7200, read=100, thinking=200, answer=50, speed=10, first=1
    )
    reply(store, chat, "r1-7b", EVENING, read=300, thinking=400, answer=100, speed=30, first=3)
    reply(store, chat, "r1-7b", EVENING + 3600, read=200, thinking=0, answer=70, speed=20, first=2)
    other = store.create_conversation("Bread").id
    store.add_message(other, "user", "Starter?")
    reply(store, other, "smol", EVENING, read=10, thinking=0, answer=20, speed=5, first=0.5)
    reply(store, other, "smol", EVENING + 60, read=10, thinking=0, answer=30, speed=15, first=1.5)
    return store, chat, other


def test_usage_per_model_and_day_with_medians_in_the_local_time_zone(tmp_path, tokyo):
    store, chat, _ = seeded(tmp_path)
    report = usage_report(store)
    by_model = {entry.model: entry for entry in report.models}
    seven = by_model["r1-7b"]
    assert (seven.usage.replies, seven.usage.read) == (3, 600)
    assert (seven.usage.reasoning, seven.usage.answer) == (600, 220)
    assert seven.median_tokens_per_second == 20 and seven.median_first_token_seconds == 2
    assert seven.usage.thinking_seconds == pytest.approx(200 / 10 + 400 / 30)
    assert seven.usage.answering_seconds == pytest.approx(50 / 10 + 100 / 30 + 70 / 20)
    smol = by_model["smol"]
    assert smol.median_tokens_per_second == 10  # an even count: the middle two averaged
    assert smol.median_first_token_seconds == 1.0
    days = {(entry.period, entry.model): entry.usage.replies for entry in report.periods}
    # 18:00 UTC is the 2nd in Tokyo already; so is 20:00 and 21:00.
    assert days == {("2026-03-02", "r1-7b"): 3, ("2026-03-02", "smol"): 2}
    weeks = {entry.period for entry in usage_report(store, by="week").periods}
    assert weeks == {"2026-03-02"}  # Monday the 2nd in Tokyo starts its own week
    assert report.total.replies == 5 and report.total.written == 870
    since = usage_report(store, since=EVENING, model="r1-7b")
    assert [entry.usage.replies for entry in since.models] == [2]
    assert conversation_usage(store, chat).replies == 3
    store.close()


def test_each_day_gives_its_median_speed_the_same_measure_as_stats(tmp_path, tokyo):
    store, _, _ = seeded(tmp_path)
    report = usage_report(store)
    by_model = {entry.model: entry.median_tokens_per_second for entry in report.models}
    for entry in report.periods:  # one day of data: the day's median is the model's
        assert entry.median_tokens_per_second == by_model[entry.model]
    # Another day, slower: each day keeps its own median.
    chat = store.create_conversation("Later").id
    store.add_message(chat, "user", "More?")
    for speed in (2, 4, 6):
        later = EVENING + 2 * 86_400
        reply(store, chat, "smol", later, read=1, thinking=0, answer=5, speed=speed, first=1)
    days = {
        (entry.period, entry.model): entry.median_tokens_per_second
        for entry in usage_report(store).periods
    }
    assert days[("2026-03-02", "smol")] == 10 and days[("2026-03-04", "smol")] == 4
    week = usage_report(store, by="week").periods
    assert {e.model: e.median_tokens_per_second for e in week}["smol"] == 5  # 2 4 5 6 15
    store.close()


def test_days_follow_the_time_zone_and_weeks_start_on_monday(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        store, _, _ = seeded(tmp_path)
        days = {entry.period for entry in usage_report(store).periods}
        assert days == {"2026-03-01"}  # the same replies: still Sunday the 1st in UTC
        weeks = {entry.period for entry in usage_report(store, by="week").periods}
        assert weeks == {"2026-02-23"}  # weeks start on Monday
        store.close()
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_usage_table_follows_every_write(tmp_path):
    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(tmp_path)}))
    chat = store.create_conversation("Live").id
    store.add_message(chat, "user", "Hi")
    live = store.add_message(chat, "assistant", "", status="streaming", stats={"writer": {}})
    assert usage_report(store).total.replies == 0  # still streaming: not counted yet
    store.update_message(
        live.id, content="Hello", status="complete", stats={"prompt_tokens": 9, "answer_tokens": 2}
    )
    assert usage_report(store).total.read == 9
    store.update_message(live.id, stats={"prompt_tokens": 9, "answer_tokens": 5})
    assert usage_report(store).total.answer == 5  # replaced, not added
    with store.transaction() as db:  # a damaged stats value never blocks a save
        db.execute("UPDATE messages SET stats = 'not json' WHERE id = ?", (live.id,))
    assert usage_report(store).total.replies == 0
    store.add_message(chat, "assistant", "x", stats={"prompt_tokens": 3})
    store.delete(chat)
    assert usage_report(store).total.replies == 0
    store.close()


def test_an_older_store_is_counted_when_it_is_opened(tmp_path):
    from pathlib import Path

    fixture = Path(__file__).parents[1] / "fixtures" / "chats-v1.sql"
    target = tmp_path / "data" / "chats.db"
    target.parent.mkdir(parents=True)
    db = sqlite3.connect(target)
    db.executescript(fixture.read_text(encoding="utf-8"))
    db.close()
    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(tmp_path)}))
    total = usage_report(store).total
    assert (total.replies, total.read, total.reasoning, total.answer) == (1, 12, 40, 11)
    store.close()


def test_prices_ship_as_data_and_config_changes_them(tmp_path):
    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    shipped = load_prices(load_settings(paths))
    r1 = shipped["deepseek-r1"]
    assert (r1.input, r1.output, r1.date) == (0.55, 2.19, "2025-01-20")
    assert r1.cost(1_000_000, 1_000_000) == pytest.approx(2.74)
    assert [p.key for p in compared_prices(load_settings(paths))] == ["deepseek-r1", "openai-o1"]
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(
        '[prices.deepseek-r1]\ninput = 1.0\noutput = 2.0\ndate = "2026-06-01"\n\n'
        '[prices.house]\nname = "House API"\ninput = 3\noutput = 4\ndate = 2026-01-01\n\n'
        '[stats]\ncompare = ["house", "deepseek-r1"]\n'
    )
    settings = load_settings(paths)
    chosen = compared_prices(settings)
    assert [p.key for p in chosen] == ["house", "deepseek-r1"]
    assert chosen[1].cost(1_000_000, 1_000_000) == pytest.approx(3.0)
    assert "2026-06-01" in chosen[1].label and chosen[1].name == "DeepSeek-R1 on DeepSeek's API"
    assert chosen[0].date == "2026-01-01"


@pytest.mark.slow
def test_stats_command_prints_tables_costs_and_json(r1chat_command, cli_env, home):
    store, _, _ = seeded(home)
    store.close()
    env = {**cli_env, "TZ": "Asia/Tokyo", "COLUMNS": "80"}
    text = run(r1chat_command, env, "stats")
    assert text.returncode == 0, text.stderr
    assert "5 replies" in text.stdout and "r1-7b" in text.stdout and "2026-03-02" in text.stdout
    assert "DeepSeek-R1 on DeepSeek's API" in text.stdout and "2025-01-20" in text.stdout
    assert max(len(line) for line in text.stdout.splitlines()) <= 80
    document = json.loads(run(r1chat_command, env, "stats", "--json").stdout)
    assert document["total"]["replies"] == 5 and document["time_zone"] == "JST"
    expected = (620 * 0.55 + 870 * 2.19) / 1_000_000
    assert document["total"]["api_cost_usd"]["deepseek-r1"] == pytest.approx(expected)
    assert {p["key"]: p["date"] for p in document["prices"]}["openai-o1"] == "2024-12-17"
    seven = next(m for m in document["models"] if m["model"] == "r1-7b")
    assert seven["median_tokens_per_second"] == 20
    only = json.loads(run(r1chat_command, env, "stats", "--model", "smol", "--json").stdout)
    assert [m["model"] for m in only["models"]] == ["smol"]
    weekly = json.loads(run(r1chat_command, env, "stats", "--by", "week", "--json").stdout)
    assert {p["period"] for p in weekly["periods"]} == {"2026-03-02"}
    since = run(r1chat_command, env, "stats", "--since", "2026-03-03", "--json")
    assert json.loads(since.stdout)["total"]["replies"] == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--since", "last tuesday"], "is not a date"),
        (["--by", "month"], "give day or week"),
        (["--price", "nope"], "No price for nope"),
        (["--model", "nope"], "No replies from nope"),
    ],
)
def test_stats_bad_input_is_one_line(r1chat_command, cli_env, home, args, words):
    store, _, _ = seeded(home)
    store.close()
    done = run(r1chat_command, cli_env, "stats", *args)
    assert done.returncode != 0 and words in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_stats_with_nothing_saved_says_so(r1chat_command, cli_env):
    done = run(r1chat_command, cli_env, "stats")
    assert done.returncode == 0 and "No replies yet" in done.stdout


@pytest.mark.slow
def test_tokens_on_the_real_smollm2_counts_and_shows_pieces(r1chat_command, cli_env):
    done = run(r1chat_command, cli_env, "tokens", "--json", "Hello world\n日")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["model"] == "SmolLM2-135M-Instruct.Q4_1"
    pieces = [token["piece"] for token in document["tokens"]]
    assert pieces[:2] == ["Hello", " world"] and document["count"] == len(pieces)
    assert document["special"] == 0
    text = run(r1chat_command, cli_env, "tokens", "Hello world\n日")
    assert '" world"' in text.stdout and '"\\n"' in text.stdout
    assert f"{document['count']} tokens" in text.stdout


def test_tokens_on_the_r1_header_keep_think_as_one_special_token(r1_vocab_path):
    from r1chat.engine.llama import LlamaEngine

    engine = LlamaEngine(r1_vocab_path, vocab_only=True)
    try:
        pieces = engine.pieces("<think>\nWhy?</think>")
        # The draft counter counts typed tags as the characters they are sent as.
        typed = engine.count_tokens("<think>\nWhy?</think>")
        assert typed == len(engine.plain_tokens("<think>\nWhy?</think>")) > len(pieces)
    finally:
        engine.close()
    assert pieces[0].data == b"<think>" and pieces[0].special
    assert pieces[-1].data == b"</think>" and pieces[-1].special
    assert not any(piece.special for piece in pieces[1:-1])


@pytest.mark.slow
async def test_the_usage_screen_opens_with_f4_and_the_chat_settings_show_totals(tmp_path, tokyo):
    from r1chat.ui.screens.settings import ChatSettingsScreen
    from r1chat.ui.screens.stats import StatsScreen
    from tests.tui_helpers import make_app, ready, wait_until

    app, _, store = make_app(tmp_path)
    _, chat, _ = seeded(tmp_path)
    app.open_conversation = chat
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, StatsScreen))
        stats = app.screen
        assert isinstance(stats, StatsScreen)
        await wait_until(pilot, lambda: stats.report is not None)
        summary = str(stats.query_one("#stats-summary").render())
        assert "5 replies" in summary and "DeepSeek-R1 on DeepSeek's API" in summary
        assert "2025-01-20" in summary
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatSettingsScreen))
        line = app.screen.query_one("#settings-usage")
        await wait_until(pilot, lambda: "counting" not in str(line.render()))
        shown = str(line.render())
        assert "3 replies" in shown and "600 tokens read" in shown and "$" in shown
    store.close()


async def test_the_meter_tooltip_and_the_palette_count_the_draft(tmp_path):
    from tests.tui_helpers import make_app, ready, wait_until

    app, _, store = make_app(tmp_path)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        screen = await ready(pilot)
        screen.composer.text = "x" * 400
        screen.measure_soon(0)
        await wait_until(pilot, lambda: screen.status.draft_tokens == 100)
        tooltip = str(screen.status.query_one("#status-context").tooltip)
        assert "Your draft: 100 tokens" in tooltip and "window" in tooltip
        screen.action_count_draft()
        await wait_until(
            pilot, lambda: any("Your draft: 100 tokens" in n.message for n in app._notifications)
        )
    store.close()


async def test_a_broken_price_table_is_said_on_the_usage_screen(tmp_path):
    from r1chat.ui.screens.stats import StatsScreen
    from tests.tui_helpers import make_app, ready, wait_until

    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text('[stats]\ncompare = ["nowhere"]\n')
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, StatsScreen))
        assert isinstance(app.screen, StatsScreen)
        summary = app.screen.query_one("#stats-summary")
        await wait_until(pilot, lambda: "No price for nowhere" in str(summary.render()))
        assert app.screen.report is None  # nothing drawn from a table it could not read
    store.close()


def test_a_price_name_from_config_is_plain_text(tmp_path):
    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(
        '[prices.evil]\nname = "Evil \\u001b]52;c;aGk=\\u0007 API\\u202e"\ninput = 1\noutput = 1\n'
        'date = "2026-01-01"\n'
    )
    price = load_prices(load_settings(paths))["evil"]
    assert price.name == "Evil API" and "\x1b" not in price.label


def test_stats_never_cuts_a_long_model_name_at_80_columns(r1chat_command, cli_env, home):
    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
    chat = store.create_conversation("Long").id
    name = "DeepSeek-R1-Distill-Qwen-14B-Q4_K_M"
    reply(store, chat, name, EVENING, read=10, thinking=20, answer=5, speed=10, first=1)
    store.close()
    shown = run(r1chat_command, {**cli_env, "COLUMNS": "80"}, "stats").stdout
    assert shown.count(name) == 3  # tokens, time and per-day tables, whole each time
    assert max(len(line) for line in shown.splitlines()) <= 80


@pytest.mark.slow
def test_tokens_command_on_the_r1_header(r1chat_command, cli_env, r1_vocab_path):
    done = run(r1chat_command, cli_env, "tokens", "--model", str(r1_vocab_path), "<think>\nHi")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert '"<think>"' in first and first.rstrip().endswith("special")
    assert "1 special" in done.stdout.splitlines()[-1]
