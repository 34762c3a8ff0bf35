"""The saved-context folder is trusted no further than needed: identity, checksum, regular
files only, no links followed, leftovers of a killed writer removed, files private."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from r1chat.engine.kv_cache import SAVE_FROM, StateCache

TOKENS = list(range(SAVE_FROM + 200))


def saved(cache: StateCache, key: str = "k" * 20, payload: bytes = b"state" * 1000) -> Path:
    def write(path: Path) -> bool:
        path.write_bytes(payload)
        return True

    state = cache.save(key, TOKENS, write)
    assert state is not None
    return state


def test_a_saved_context_carries_its_model_its_count_and_its_checksum(tmp_path):
    cache = StateCache(tmp_path / "kv")
    state = saved(cache)
    found = cache.best("k" * 20, TOKENS)
    assert found is not None and found.tokens == len(TOKENS) and cache.intact(found)
    assert cache.best("o" * 20, TOKENS) is None  # another model's key
    for path in (state, state.with_suffix(".tokens")):
        assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "kv").stat().st_mode & 0o777 == 0o700


def test_bit_rot_in_a_state_file_is_refused_and_removed(tmp_path):
    cache = StateCache(tmp_path / "kv")
    state = saved(cache)
    data = bytearray(state.read_bytes())
    data[100:108] = b"\x7f" * 8
    state.write_bytes(bytes(data))
    found = cache.best("k" * 20, TOKENS)
    assert found is not None and not cache.intact(found)
    assert not state.exists() and cache.info() == (0, 0)


def test_a_state_renamed_from_another_model_is_refused(tmp_path):
    cache = StateCache(tmp_path / "kv")
    other = saved(cache, key="o" * 20, payload=b"other" * 1000)
    mine = other.with_name(other.name.replace("o" * 20, "k" * 20))
    other.rename(mine)
    other.with_suffix(".tokens").rename(mine.with_suffix(".tokens"))
    assert cache.best("k" * 20, TOKENS) is None  # its header names the other model
    assert not mine.exists()


def test_links_fifos_and_devices_in_the_folder_are_skipped_not_followed(tmp_path):
    cache = StateCache(tmp_path / "kv")
    state = saved(cache)
    listing = state.with_suffix(".tokens")
    listing.unlink()
    listing.symlink_to("/dev/zero")  # read whole, this was gigabytes
    assert cache.best("k" * 20, TOKENS) is None
    assert listing.is_symlink()  # skipped, not followed, not removed
    listing.unlink()
    os.mkfifo(listing)  # reading it would hang
    assert cache.best("k" * 20, TOKENS) is None


def test_a_linked_folder_is_neither_used_chmodded_nor_cleared(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "someone-else.state").write_bytes(b"theirs")
    (tmp_path / "kv").symlink_to(shared)
    cache = StateCache(tmp_path / "kv")
    assert cache.save("k" * 20, TOKENS, lambda path: path.write_bytes(b"x") > 0) is None
    assert cache.clear() == 0 and cache.info() == (0, 0)
    assert (shared / "someone-else.state").read_bytes() == b"theirs"
    assert shared.stat().st_mode & 0o777 == 0o755


def test_half_written_files_of_a_killed_writer_are_removed(tmp_path):
    cache = StateCache(tmp_path / "kv")
    saved(cache)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    leftover = tmp_path / "kv" / f".{'k' * 20}-abc.state.{pid}"
    leftover.write_bytes(b"half" * 1000)
    live = tmp_path / "kv" / f".{'k' * 20}-def.state.{os.getpid()}"
    live.write_bytes(b"being written")
    assert cache.info()[0] == 1
    assert not leftover.exists() and live.exists()  # another live writer's file stays
    live.unlink()


@pytest.mark.slow
def test_a_rotted_context_never_reaches_llama_cpp(smollm2_path, tmp_path):
    """On the real model: the reply after bit rot reads the prompt again and answers."""
    from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
    from r1chat.engine.events import AnswerDelta, Finished
    from r1chat.engine.llama import LlamaEngine

    cache = StateCache(tmp_path / "kv")
    turns = []
    for index in range(8):
        turns += [
            ChatMessage("user", f"Tell me fact {index} about lighthouses, please."),
            ChatMessage("assistant", f"Fact {index}: lighthouses guide ships. " * 6),
        ]
    request = ChatRequest(
        (*turns, ChatMessage("user", "One more?")), GenerationParams(max_tokens=12, temperature=0)
    )
    writer = LlamaEngine(smollm2_path, n_ctx=2048, log_path=tmp_path / "l.log", state_cache=cache)
    try:
        list(writer.stream(request))
    finally:
        writer.close()
    (state,) = (tmp_path / "kv").glob("*.state")
    data = bytearray(state.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = b"\x7f" * 8
    state.write_bytes(bytes(data))
    reader = LlamaEngine(smollm2_path, n_ctx=2048, log_path=tmp_path / "l.log", state_cache=cache)
    try:
        events = list(reader.stream(request))
        assert reader.restored_tokens == 0
    finally:
        reader.close()
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.stats.finish_reason in ("stop", "length")
    assert "".join(e.text for e in events if isinstance(e, AnswerDelta)).strip()
