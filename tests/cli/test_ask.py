"""`r1chat ask` end to end: the real command in a subprocess, on the real SmolLM2 model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

SHORT = ["--max-tokens", "12", "--temperature", "0"]


def ask(command, env, *args, stdin: str | None = None, timeout: float = 120):
    return subprocess.run(
        [*command, "ask", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_ask_streams_an_answer_from_the_demo_model(r1chat_command, cli_env, smollm2_path):
    done = ask(r1chat_command, cli_env, "What is the capital of France? Answer briefly.", *SHORT)
    assert done.returncode == 0, done.stderr
    assert "Paris" in done.stdout
    assert done.stdout.endswith("\n")
    # The embedded default is named in one line on stderr, and nothing else is printed there.
    assert done.stderr.splitlines()[0] == (
        f"r1chat: using the demo model {smollm2_path.stem} ({smollm2_path})"
    )
    assert "llama" not in done.stderr.lower()


@pytest.mark.slow
def test_ask_json_prints_one_object_with_stats(r1chat_command, cli_env, smollm2_path):
    done = ask(
        r1chat_command, cli_env, "Name a colour.", "--json", "--model", str(smollm2_path), *SHORT
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert set(document) >= {"answer", "reasoning", "stats", "model", "backend", "finish_reason"}
    assert document["answer"].strip() and document["reasoning"] == ""
    stats = document["stats"]
    assert stats["prompt_tokens"] > 0 and 0 < stats["completion_tokens"] <= 12
    assert stats["tokens_per_second"] > 0 and stats["time_to_first_token"] > 0
    assert stats["finish_reason"] == document["finish_reason"]
    # An explicit --model is not announced; the saved conversation is.
    assert (
        done.stderr
        == f"r1chat: saved as {document['conversation_id']} (continue with: r1chat ask -c)\n"
    )


@pytest.mark.slow
def test_ask_reads_the_prompt_from_stdin(r1chat_command, cli_env, smollm2_path):
    text = "What is the capital of France? Answer briefly."
    dash = ask(r1chat_command, cli_env, "-", "--json", *SHORT, stdin=text)
    piped = ask(r1chat_command, cli_env, "--json", *SHORT, stdin=text)
    direct = ask(r1chat_command, cli_env, text, "--json", *SHORT)
    answers = [json.loads(run.stdout)["answer"] for run in (dash, piped, direct)]
    assert answers[0] == answers[1] == answers[2] and "Paris" in answers[0]


@pytest.mark.slow
def test_settings_flags_and_environment_pick_the_model(
    r1chat_command, cli_env, home, tmp_path, smollm2_path
):
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'model = "{tmp_path / "missing-from-config.gguf"}"\n')
    from_config = ask(r1chat_command, cli_env, "hi", *SHORT)
    assert from_config.returncode == 1
    assert "missing-from-config.gguf" in from_config.stderr
    env = dict(cli_env, R1CHAT_MODEL=str(smollm2_path))
    from_env = ask(r1chat_command, env, "Say hi.", "--json", *SHORT)
    assert from_env.returncode == 0 and json.loads(from_env.stdout)["model_path"] == str(
        smollm2_path
    )
    from_flag = ask(r1chat_command, env, "hi", "--model", str(tmp_path / "flag.gguf"), *SHORT)
    assert from_flag.returncode == 1 and "flag.gguf" in from_flag.stderr


@pytest.mark.slow
def test_config_generation_settings_apply_and_flags_override(r1chat_command, cli_env, home):
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[generation]\nmax_tokens = 3\ntemperature = 0.0\n")
    done = ask(r1chat_command, cli_env, "Write a story.", "--json")
    assert json.loads(done.stdout)["stats"]["completion_tokens"] == 3
    done = ask(r1chat_command, cli_env, "Write a story.", "--json", "--max-tokens", "5")
    assert json.loads(done.stdout)["stats"]["completion_tokens"] == 5


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_keeps_what_was_printed(r1chat_command, cli_env, smollm2_path):
    process = subprocess.Popen(
        [
            *r1chat_command,
            "ask",
            "Write a very long story about the sea.",
            "--model",
            str(smollm2_path),
            "--max-tokens",
            "3000",
            "--temperature",
            "0",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env,
    )
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + 60
    while len(seen) < 40 and time.monotonic() < deadline:
        seen += os.read(process.stdout.fileno(), 64)
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    printed = (seen + rest).decode()
    assert printed.startswith(seen.decode()) and len(printed) > 40
    assert printed.endswith("\n")
    assert err.decode().strip().endswith("r1chat: stopped.")
    assert b"Traceback" not in err


@pytest.mark.slow
def test_bench_prints_ratios_from_one_run(r1chat_command, cli_env, smollm2_path):
    done = subprocess.run(
        [
            *r1chat_command,
            "bench",
            "--model",
            str(smollm2_path),
            "--tokens",
            "16",
            "--rounds",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["same_output"] is True
    assert report["raw"]["generated_tokens"] == report["engine"]["generated_tokens"] == 16
    # The ratio comes from this run's two measured speeds, both real.
    engine_speed = report["engine"]["generation_tokens_per_second"]
    raw_speed = report["raw"]["generation_tokens_per_second"]
    assert engine_speed > 0 and raw_speed > 0
    ratio = report["ratio_engine_over_raw"]["generation_tokens_per_second"]
    assert ratio == engine_speed / raw_speed
