"""Provides `pull`: fetch a GGUF from the Hugging Face hub, verify it, and register it.

Downloads go through huggingface_hub into its own cache (so other tools share them); an
interrupted download resumes where it stopped; the file's SHA-256 is checked against the
one the hub publishes for it (its LFS ETag) before r1chat will use it.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1chat.errors import ModelError, R1ChatError
from r1chat.models.discovery import hf_cache_dir, register_model
from r1chat.models.gguf_header import read_header
from r1chat.models.presets import DEFAULT_QUANT, PRESETS, QUANTS_BITS
from r1chat.paths import Paths

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class PullTarget:
    """What to fetch: a repo, a file in it, and the name to register it under."""

    repo: str
    filename: str
    name: str
    revision: str = "main"


@dataclass(frozen=True, slots=True)
class Pulled:
    """A verified download."""

    name: str
    path: Path
    size: int
    sha256: str
    verified: bool
    """The hub published a SHA-256 and it matched (False: the hub gave none to check)."""


def target_for(spec: str, quant: str | None) -> PullTarget:
    """`r1-7b`, `org/repo:file.gguf` or `org/repo` (+ `--quant`) as a download target."""
    quant = (quant or DEFAULT_QUANT).upper()
    if spec.lower() in PRESETS:
        if quant not in QUANTS_BITS:
            known = ", ".join(QUANTS_BITS)
            raise R1ChatError(f"Unknown quantization {quant}; choose one of {known}.")
        preset = PRESETS[spec.lower()]
        name = preset.name if quant == DEFAULT_QUANT else f"{preset.name}-{quant.lower()}"
        return PullTarget(preset.repo, preset.filename(quant), name)
    repo, _, filename = spec.partition(":")
    if repo.count("/") != 1 or not all(repo.split("/")):
        names = ", ".join(PRESETS)
        raise R1ChatError(
            f"'{spec}' is neither a preset ({names}) nor a Hugging Face repo like "
            "org/name or org/name:file.gguf."
        )
    if not filename:
        # The common naming: <repo without -GGUF>-<QUANT>.gguf
        stem = repo.split("/")[1].removesuffix("-GGUF").removesuffix("-gguf")
        filename = f"{stem}-{quant}.gguf"
    if not filename.endswith(".gguf"):
        raise R1ChatError(f"{filename} is not a .gguf file; r1chat runs GGUF models.")
    return PullTarget(repo, filename, f"{repo}:{filename}")


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in 8 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _unreachable(error: BaseException) -> bool:
    """Whether `error` (or what caused it) means the hub could not be reached at all."""
    seen: BaseException | None = error
    while seen is not None:
        name = type(seen).__name__
        if name in (
            "ConnectError",
            "ConnectTimeout",
            "ConnectionError",
            "OfflineModeIsEnabled",
            "NameResolutionError",
        ) or isinstance(seen, ConnectionError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def pull(target: PullTarget, paths: Paths, *, progress: bool = True) -> Pulled:
    """Download `target` (resuming a partial download), verify it, register it.

    Raises:
        R1ChatError: unreachable hub, missing repo or file, interrupted download (run
            again to resume), or a checksum mismatch (the file is kept and named).
    """
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.errors import (
            EntryNotFoundError,
            GatedRepoError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
        )
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    except ImportError as error:  # pragma: no cover - it is a dependency
        raise R1ChatError("huggingface_hub is not installed; install r1chat again.") from error

    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()  # its retry notes would land on stdout
    endpoint = os.environ.get("HF_ENDPOINT") or None
    cache = hf_cache_dir()
    where = f"{target.repo}/{target.filename}"
    (enable_progress_bars if progress else disable_progress_bars)()
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise R1ChatError(
            f"Offline mode is on (HF_HUB_OFFLINE={os.environ['HF_HUB_OFFLINE']}), so {where} "
            "cannot be downloaded; unset HF_HUB_OFFLINE and pull again."
        )
    try:
        url = hf_hub_url(target.repo, target.filename, revision=target.revision, endpoint=endpoint)
        try:
            metadata = get_hf_file_metadata(url)
        except Exception as error:
            if _unreachable(error):
                hub = endpoint or "https://huggingface.co"
                raise R1ChatError(
                    f"The Hugging Face hub ({hub}) cannot be reached "
                    f"({type(error).__name__}); check the network or proxy (or set HF_ENDPOINT "
                    "to a mirror) and pull again. Nothing was downloaded."
                ) from error
            raise
        local = _download(target, metadata, cache)
    except GatedRepoError as error:
        raise R1ChatError(
            f"{target.repo} is gated: accept its terms on the hub and log in "
            "(`hf auth login`), then pull again."
        ) from error
    except RepositoryNotFoundError as error:
        raise R1ChatError(
            f"There is no repo {target.repo} on the hub (or it is private)."
        ) from error
    except EntryNotFoundError as error:
        raise R1ChatError(
            f"{target.repo} has no file {target.filename}; check the name or --quant."
        ) from error
    except LocalEntryNotFoundError as error:
        raise R1ChatError(
            f"Could not reach the hub for {where}; check the network (HF_HUB_OFFLINE is "
            f"{os.environ.get('HF_HUB_OFFLINE', 'unset')})."
        ) from error
    except HfHubHTTPError as error:
        raise R1ChatError(f"The hub refused {where}: {error}.") from error
    except (OSError, ValueError) as error:
        raise R1ChatError(
            f"The download of {where} was interrupted ({type(error).__name__}); run the same "
            "command again to resume it."
        ) from error
    except Exception as error:  # httpx and friends: treat as an interruption, resumable
        if type(error).__module__.split(".")[0] in ("httpx", "httpcore", "h11", "requests"):
            raise R1ChatError(
                f"The download of {where} was interrupted ({type(error).__name__}); run the "
                "same command again to resume it."
            ) from error
        raise
    digest = sha256_of(local)
    published = (metadata.etag or "").strip('"').lower()
    verified = bool(_SHA256.match(published))
    if verified and digest != published:
        raise R1ChatError(
            f"{local} does not match the SHA-256 the hub publishes ({published[:12]}…, the file "
            f"has {digest[:12]}…); it was kept for you to inspect. Delete it and pull again."
        )
    try:
        read_header(local)
    except ModelError as error:
        raise R1ChatError(f"The downloaded file is not a usable model: {error}") from error
    register_model(paths, target.name, local)
    return Pulled(target.name, local, local.stat().st_size, digest, verified)


RESUME_ATTEMPTS = 5
"""How often one `pull` goes on after a dropped connection before it gives up."""


def _dropped(error: BaseException) -> bool:
    """Whether `error` is the network letting go (worth going on from the partial file)."""
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    network = ("httpx", "httpcore", "h11", "requests", "urllib3")
    return type(error).__module__.split(".")[0] in network


def _download(target: PullTarget, metadata: Any, cache: Path) -> Path:
    """Fetch into the hub cache's own layout, resumable across runs.

    huggingface_hub resumes a dropped connection within one run but starts again from
    zero in a new process; a multi-gigabyte model deserves better. The partial file
    keeps a stable name next to the blob, so the next `pull` asks only for the rest.
    """
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    etag = str(metadata.etag or "").strip('"')
    commit = str(metadata.commit_hash or "")
    if not etag or not commit:
        raise R1ChatError(f"The hub gave no version for {target.repo}/{target.filename}.")
    storage: Path = cache / f"models--{target.repo.replace('/', '--')}"
    blob = storage / "blobs" / etag
    pointer = storage / "snapshots" / commit / target.filename
    if not blob.exists():
        blob.parent.mkdir(parents=True, exist_ok=True)
        partial = blob.with_name(f"{etag}.r1chat-partial")
        for attempt in range(RESUME_ATTEMPTS):
            resume = partial.stat().st_size if partial.exists() else 0
            if metadata.size is not None and resume > metadata.size:
                partial.unlink()
                resume = 0
            try:
                with partial.open("ab") as handle:
                    http_get(
                        metadata.location,
                        handle,
                        resume_size=resume,
                        headers=build_hf_headers(),
                        expected_size=metadata.size,
                        displayed_filename=target.filename,
                    )
                break
            except Exception as error:
                # A dropped connection: go on from what arrived (whatever the hub library
                # does about it itself; not every version resumes within a run).
                if attempt + 1 == RESUME_ATTEMPTS or not _dropped(error):
                    raise
                time.sleep(min(0.5 * 2**attempt, 4.0))
        partial.replace(blob)
    if not pointer.exists():
        pointer.parent.mkdir(parents=True, exist_ok=True)
        relative = os.path.relpath(blob, pointer.parent)
        try:
            pointer.symlink_to(relative)
        except OSError:  # no symlinks (some Windows setups): a copy-free hard link, or a move
            try:
                os.link(blob, pointer)
            except OSError:
                blob.replace(pointer)
    refs = storage / "refs" / target.revision
    refs.parent.mkdir(parents=True, exist_ok=True)
    refs.write_text(commit)
    return pointer
