"""Models: discovery over real folder layouts, header facts, doctor's arithmetic, pull and use."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

from r1chat.config import Settings
from r1chat.errors import ModelError
from r1chat.models.catalog import describe_all
from r1chat.models.discovery import (
    all_models,
    resolve_model,
    scan_hf_cache,
    scan_lmstudio,
    scan_ollama,
)
from r1chat.models.fit import ModelShape, default_context, fit, needed_bytes
from r1chat.models.gguf_header import read_header
from r1chat.models.presets import PRESETS
from r1chat.paths import Paths
from tests.gguf_files import write_gguf
from tests.hub_server import FakeHub, HostedFile


def tiny(path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_gguf(path, **kwargs)


@pytest.fixture
def layouts(tmp_path):
    """A home with a Hugging Face cache, LM Studio and Ollama stores, laid out as those tools do."""
    home = tmp_path / "home"
    hub = home / ".cache" / "huggingface" / "hub" / "models--bartowski--Tiny-GGUF"
    (hub / "refs").mkdir(parents=True)
    (hub / "refs" / "main").write_text("abc123")
    blob = tiny(hub / "blobs" / "0f1e2d")
    snapshot = hub / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "Tiny-Q4_K_M.gguf").symlink_to(blob)
    (snapshot / "mmproj-Tiny-f16.gguf").symlink_to(blob)  # a vision projector: not listed
    lmstudio = home / ".lmstudio" / "models" / "lmstudio-community" / "Tiny-GGUF"
    tiny(lmstudio / "Tiny-Q8_0.gguf")
    tiny(lmstudio / "Big-00001-of-00002.gguf")
    tiny(lmstudio / "Big-00002-of-00002.gguf")  # only the first shard names a model
    ollama = home / ".ollama" / "models"
    digest = "sha256-" + "ab" * 32
    tiny(ollama / "blobs" / digest)
    manifest = ollama / "manifests" / "registry.ollama.ai" / "library" / "tinyllama" / "latest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "layers": [
                    {
                        "mediaType": "application/vnd.ollama.image.license",
                        "digest": "sha256:" + "cd" * 32,
                    },
                    {
                        "mediaType": "application/vnd.ollama.image.model",
                        "digest": "sha256:" + "ab" * 32,
                    },
                ]
            }
        )
    )
    user = ollama / "manifests" / "registry.ollama.ai" / "someone" / "mistral" / "7b"
    user.parent.mkdir(parents=True)
    user.write_text(
        json.dumps(
            {
                "layers": [
                    {
                        "mediaType": "application/vnd.ollama.image.model",
                        "digest": "sha256:" + "ab" * 32,
                    },
                ]
            }
        )
    )
    broken = ollama / "manifests" / "registry.ollama.ai" / "library" / "gone" / "1b"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    r1home = tmp_path / "r1home"
    tiny(r1home / "data" / "models" / "mine.gguf")
    env = {"HOME": str(home), "R1CHAT_HOME": str(r1home)}
    return home, env, Paths.from_env(env)


def test_each_store_is_read_the_way_its_tool_lays_it_out(layouts):
    home, _, _ = layouts
    hf = scan_hf_cache(home / ".cache" / "huggingface" / "hub")
    assert [e.name for e in hf] == ["bartowski/Tiny-GGUF:Tiny-Q4_K_M.gguf"]
    lm = scan_lmstudio(home / ".lmstudio" / "models")
    assert sorted(e.name for e in lm) == [
        "lmstudio-community/Tiny-GGUF/Big-00001-of-00002",
        "lmstudio-community/Tiny-GGUF/Tiny-Q8_0",
    ]
    ol = scan_ollama(home / ".ollama" / "models")
    assert sorted(e.name for e in ol) == ["someone/mistral:7b", "tinyllama:latest"]
    assert all(e.path.name == "sha256-" + "ab" * 32 for e in ol)


def test_all_models_lists_every_source_once(layouts, monkeypatch):
    _, env, paths = layouts
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "OLLAMA_MODELS"):
        monkeypatch.delenv(key, raising=False)
    entries = all_models(paths, Settings(), env)
    sources = {e.source for e in entries}
    assert sources == {"models folder", "hugging face", "lm studio", "ollama", "demo"}
    # The two Ollama manifests point at one blob: listed once.
    assert sum(e.source == "ollama" for e in entries) == 1
    infos = describe_all(entries, 16 * 10**9, paths.cache_dir / "models.json")
    tiny_info = next(i for i in infos if i.source == "models folder")
    assert tiny_info.architecture == "llama" and tiny_info.error is None
    assert tiny_info.parameters == 64 and tiny_info.context_length == 512
    assert (paths.cache_dir / "models.json").exists()  # header facts cached for next time


def test_listing_reads_headers_only_and_fifty_models_are_quick(
    tmp_path, r1chat_command, cli_env, home
):
    models = home / "data" / "models"
    for index in range(50):
        tiny(models / f"model-{index:02}.gguf", tensor_elements=4096)
    done = subprocess.run(
        [*r1chat_command, "models", "--json"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert sum(item["source"] == "models folder" for item in listed) == 50
    assert all(
        item["defaults"]["n_ctx"] <= 512 for item in listed if item["source"] == "models folder"
    )


@pytest.mark.slow
def test_models_json_shows_facts_defaults_and_errors(
    tmp_path, r1chat_command, cli_env, home, r1_vocab_path
):
    models = home / "data" / "models"
    models.mkdir(parents=True)
    (models / "r1.gguf").symlink_to(r1_vocab_path)
    (models / "broken.gguf").write_bytes(b"GGUF" + struct.pack("<I", 3) + b"\x00" * 6)
    done = subprocess.run(
        [*r1chat_command, "models", "--json"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=60,
    )
    listed = {item["name"]: item for item in json.loads(done.stdout)}
    r1 = listed["r1"]
    assert r1["architecture"] == "qwen2" and r1["quantization"] == "Q4_K_M"
    assert r1["context_length"] == 131072 and r1["reasoning"]
    assert 7.0e9 < r1["parameters"] < 7.7e9
    assert r1["defaults"]["temperature"] == 0.6 and r1["defaults"]["top_p"] == 0.95
    assert r1["defaults"]["n_ctx"] == 8192 and r1["fits"] in ("fits", "tight", "too big")
    assert "truncated" in listed["broken"]["error"]
    smol = listed["SmolLM2-135M-Instruct.Q4_1"]  # the name every screen shows for it
    assert not smol["reasoning"] and smol["defaults"]["temperature"] == 0.7
    table = subprocess.run([*r1chat_command, "models"], capture_output=True, text=True, env=cli_env)
    assert "r1" in table.stdout and "qwen2" in table.stdout and "truncated" in table.stdout


def test_kv_cache_and_fit_for_the_real_r1_7b_header(r1_vocab_path):
    header = read_header(r1_vocab_path)
    shape = ModelShape.from_header(header)
    # Hand-computed: K and V, 28 layers, 4 KV heads of 128 dims, 2 bytes (f16) each.
    assert shape == ModelShape(layers=28, kv_heads=4, head_dim=3584 // 28)
    assert shape.kv_bytes_per_token() == 2 * 28 * 4 * 128 * 2 == 57_344
    assert shape.kv_bytes(4096) == 234_881_024
    assert shape == PRESETS["r1-7b"].shape
    needed = needed_bytes(header.size, shape, 4096)
    assert needed == 4_683_073_248 + 234_881_024 + 512 * 1024 * 1024
    assert fit(needed, 16 * 10**9) == "fits"  # the 16 GB laptop of the README
    assert fit(needed, 6 * 10**9) == "tight"
    assert fit(needed, 4 * 10**9) == "too big"
    assert default_context(131072, header.size, shape, 64 * 10**9) == 8192
    assert (
        default_context(131072, header.size, shape, 4_683_073_248 + 536_870_912 + 57_344 * 1024)
        == 1024
    )


@pytest.mark.slow
def test_doctor_reports_machine_and_the_distill_table(r1chat_command, cli_env):
    done = subprocess.run(
        [*r1chat_command, "doctor", "--json", "--n-ctx", "4096"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    machine = report["machine"]
    assert machine["backend"] in ("CPU", "CUDA", "Metal", "ROCm", "HIP", "Vulkan", "SYCL", "GPU")
    assert machine["gpu_offload"] == (machine["backend"] != "CPU")
    assert machine["ram_bytes"] > 10**9 and machine["cpus"] >= 1
    assert report["free_disk_bytes"] > 0
    rows = {row["model"]: row for row in report["r1_distills"]}
    assert set(rows) == {"r1-1.5b", "r1-7b", "r1-8b", "r1-14b", "r1-32b"}
    assert rows["r1-7b"]["kv_cache_bytes"] == 234_881_024
    assert rows["r1-7b"]["quants"]["Q4_K_M"]["fits"] in ("fits", "tight", "too big")
    if not machine["gpus"] or machine["gpu_offload"]:
        assert report["reinstall"] is None  # nothing to rebuild for
    text = subprocess.run([*r1chat_command, "doctor"], capture_output=True, text=True, env=cli_env)
    assert "llama-cpp-python" in text.stdout and "r1-32b" in text.stdout


def test_reinstall_hint_names_the_exact_command():
    from r1chat.models.machine import GPU, Machine, reinstall_hint

    cuda = Machine(
        "3.11",
        "Linux x86_64",
        8,
        32 * 10**9,
        30 * 10**9,
        (GPU("NVIDIA RTX 4090", 24 * 2**30, "CUDA"),),
        "0.3.36",
        "CPU",
        False,
    )
    assert 'CMAKE_ARGS="-DGGML_CUDA=on"' in str(reinstall_hint(cuda))
    assert "--force-reinstall --no-cache-dir llama-cpp-python" in str(reinstall_hint(cuda))
    assert cuda.model_memory_bytes == 30 * 10**9  # no offload: RAM decides
    metal = Machine(
        "3.11",
        "Darwin arm64",
        10,
        16 * 10**9,
        None,
        (GPU("Apple Silicon GPU", 12 * 10**9, "Metal"),),
        "0.3.36",
        "CPU",
        False,
    )
    assert 'CMAKE_ARGS="-DGGML_METAL=on"' in str(reinstall_hint(metal))
    built = Machine(
        "3.11",
        "Linux x86_64",
        8,
        32 * 10**9,
        30 * 10**9,
        (GPU("NVIDIA RTX 4090", 24 * 2**30, "CUDA"),),
        "0.3.36",
        "CUDA",
        True,
    )
    assert reinstall_hint(built) is None and built.model_memory_bytes == 24 * 2**30


def test_names_resolve_like_paths(layouts, monkeypatch):
    _, env, paths = layouts
    monkeypatch.setenv("HOME", env["HOME"])  # put back as it was for every later test
    assert resolve_model("tinyllama:latest", paths, Settings()).name.startswith("sha256-")
    assert resolve_model("bartowski/Tiny-GGUF:Tiny-Q4_K_M.gguf", paths, Settings()).name == (
        "Tiny-Q4_K_M.gguf"
    )
    assert resolve_model("mine", paths, Settings()).name == "mine.gguf"
    with pytest.raises(ModelError, match="matches several models"):
        resolve_model("tiny", paths, Settings())


@pytest.fixture
def hub():
    server = FakeHub().start()
    yield server
    server.stop()


def pull_env(cli_env, tmp_path, hub):
    env = dict(cli_env, HF_ENDPOINT=hub.endpoint, HF_HUB_CACHE=str(tmp_path / "hf"))
    env.pop("HF_HUB_OFFLINE", None)
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env["HF_HUB_DISABLE_XET"] = "1"
    return env


def run(command, env, *args):
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_pull_downloads_verifies_registers_and_use_sets_the_default(
    tmp_path, r1chat_command, cli_env, hub, home
):
    model = tiny(
        tmp_path / "src" / "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf", tensor_elements=50_000
    )
    hub.files[
        "bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF/DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf"
    ] = HostedFile(model.read_bytes())
    env = pull_env(cli_env, tmp_path, hub)
    done = run(r1chat_command, env, "pull", "r1-1.5b", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["verified"] and result["name"] == "r1-1.5b"
    path = Path(result["path"])
    assert path.read_bytes() == model.read_bytes()
    assert path.is_relative_to(tmp_path / "hf")  # into the hub cache, shared with other tools
    listed = {m["name"]: m for m in json.loads(run(r1chat_command, env, "models", "--json").stdout)}
    assert listed["r1-1.5b"]["source"] == "pulled"
    used = run(r1chat_command, env, "use", "r1-1.5b")
    assert used.returncode == 0, used.stderr
    assert (
        str(path.resolve()) in (home / "config" / "config.toml").read_text()
        or str(path) in (home / "config" / "config.toml").read_text()
    )


@pytest.mark.slow
def test_a_pull_killed_midway_resumes_where_it_stopped(tmp_path, r1chat_command, cli_env, hub):
    model = tiny(tmp_path / "src" / "m.gguf", tensor_elements=6_000_000)  # 24 MB
    data = model.read_bytes()
    hosted = HostedFile(data, stall_first_download_at=16_000_000)
    hub.files["someone/Thing-GGUF/thing.gguf"] = hosted
    env = pull_env(cli_env, tmp_path, hub)
    process = subprocess.Popen(
        [*r1chat_command, "pull", "someone/Thing-GGUF:thing.gguf"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    partial = []
    while time.monotonic() < deadline:
        partial = [p for p in (tmp_path / "hf").rglob("*.r1chat-partial") if p.stat().st_size > 0]
        if partial and partial[0].stat().st_size >= 8_000_000:
            break
        time.sleep(0.05)
    assert partial, "the download never started"
    process.send_signal(signal.SIGKILL)  # like a crash or a closed laptop
    process.wait(timeout=30)
    hosted.release.set()
    kept = partial[0].stat().st_size
    second = run(r1chat_command, env, "pull", "someone/Thing-GGUF:thing.gguf", "--json")
    assert second.returncode == 0, second.stderr
    assert f"bytes={kept}-" in hub.ranges  # it asked only for the rest
    assert Path(json.loads(second.stdout)["path"]).read_bytes() == data


@pytest.mark.slow
def test_a_dropped_connection_is_resumed_within_the_same_pull(
    tmp_path, r1chat_command, cli_env, hub
):
    model = tiny(tmp_path / "src" / "m.gguf", tensor_elements=6_000_000)
    data = model.read_bytes()
    hub.files["someone/Drop-GGUF/drop.gguf"] = HostedFile(data, cut_first_download_at=15_000_000)
    env = pull_env(cli_env, tmp_path, hub)
    done = run(r1chat_command, env, "pull", "someone/Drop-GGUF:drop.gguf", "--json")
    assert done.returncode == 0, done.stderr
    assert any(r.startswith("bytes=") and r != "bytes=0-" for r in hub.ranges)
    assert Path(json.loads(done.stdout)["path"]).read_bytes() == data


@pytest.mark.slow
def test_a_hash_mismatch_is_reported_and_the_file_kept(tmp_path, r1chat_command, cli_env, hub):
    model = tiny(tmp_path / "src" / "m.gguf")
    hub.files["someone/Bad-GGUF/bad.gguf"] = HostedFile(
        model.read_bytes(), published_sha256="0" * 64
    )
    env = pull_env(cli_env, tmp_path, hub)
    done = run(r1chat_command, env, "pull", "someone/Bad-GGUF:bad.gguf")
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert "does not match the SHA-256 the hub publishes" in line and "kept" in line
    kept = Path(line.split(" does not match")[0].removeprefix("r1chat: "))
    assert kept.exists()  # nothing deleted silently
    listed = json.loads(run(r1chat_command, env, "models", "--json").stdout)
    assert not any(m["source"] == "pulled" for m in listed)  # not registered


@pytest.mark.slow
def test_pull_errors_are_one_line(tmp_path, r1chat_command, cli_env, hub):
    hub.files["someone/Real-GGUF/real.gguf"] = HostedFile(b"GGUF")
    env = pull_env(cli_env, tmp_path, hub)
    for args, expected in (
        (["someone/Nope-GGUF:x.gguf"], "There is no repo someone/Nope-GGUF"),
        (["someone/Real-GGUF:other.gguf"], "has no file other.gguf"),
        (["r1-7b", "--quant", "Q9"], "Unknown quantization Q9"),
        (["not a repo"], "neither a preset"),
    ):
        done = run(r1chat_command, env, "pull", *args)
        assert done.returncode == 1, args
        assert expected in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr


def raw_gguf(path: Path, kvs: list[tuple[str, str]], tensor_count: int = 0, kv_count=None) -> Path:
    """A GGUF written byte by byte, for headers the gguf package would never write."""

    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    body = b"GGUF" + struct.pack(
        "<IQQ", 3, tensor_count, len(kvs) if kv_count is None else kv_count
    )
    for key, value in kvs:
        body += string(key) + struct.pack("<I", 8) + string(value)
    path.write_bytes(body)
    return path


@pytest.mark.parametrize(
    ("kvs", "counts", "expected"),
    [
        (
            [("general.architecture", "llama"), ("general.architecture", "qwen2")],
            {},
            "metadata key 'general.architecture' appears twice",
        ),
        (
            [("general.architecture", "llama")],
            {"kv_count": 10**9},
            "claims 0 tensors and 1,000,000,000",
        ),
        (
            [("general.architecture", "llama")],
            {"tensor_count": 10**12},
            "claims 1,000,000,000,000 tensors",
        ),
        (
            [("general.architecture", "not-a-real-arch")],
            {},
            "an architecture llama.cpp does not know",
        ),
        ([("general.name", "no arch")], {}, "it names no architecture"),
    ],
)
def test_hostile_headers_get_one_reason(tmp_path, kvs, counts, expected):
    path = raw_gguf(tmp_path / "raw.gguf", kvs, **counts)
    with pytest.raises(ModelError) as raised:
        read_header(path)
    assert expected in str(raised.value) and str(path) in str(raised.value)
