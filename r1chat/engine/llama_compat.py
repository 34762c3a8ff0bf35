"""Provides every reach into llama-cpp-python below its public `Llama` API, in one place.

r1chat needs a few things the public API does not give: the vocabulary handle (end of
generation, special-token attributes), the tokens the KV cache holds and cutting it
back to a prefix (prompt reuse between turns), and the sequence state files (resume
from disk). They are private attributes of `Llama`, so a new llama-cpp-python may move
them: `check_version` refuses versions outside the tested range with one sentence, and
these functions are the only code that touches them.

Tested range: 0.3.17 (the first whose `kv_cache_seq_rm` reports success, so the
prompt cache is really reused) up to the 0.3 series; 0.4 may rename the internals.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from r1chat.errors import ModelError

OLDEST = (0, 3, 17)
NEWEST_SERIES = (0, 3)


def version_tuple(text: str) -> tuple[int, ...]:
    """`0.3.36` → (0, 3, 36); anything after the numbers (`.dev0`, `+cu121`) is ignored."""
    parts: list[int] = []
    for piece in text.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits or not piece[:1].isdigit():
            break
        parts.append(int(digits))
    return tuple(parts)


def check_version(llama_cpp: Any) -> None:
    """Refuse a llama-cpp-python this module was not written for, in one sentence."""
    found = str(getattr(llama_cpp, "__version__", "0"))
    version = version_tuple(found)
    if version < OLDEST or version[:2] > NEWEST_SERIES:
        wanted = ".".join(map(str, OLDEST))
        series = ".".join(map(str, NEWEST_SERIES))
        raise ModelError(
            f"llama-cpp-python {found} is not supported: r1chat needs {wanted} or newer in the "
            f"{series} series; run `pip install 'llama-cpp-python>={wanted},<0.4'`."
        )


def free_failed_load(error: BaseException) -> None:
    """Free what llama-cpp-python half-built before `error`, in the caller's context (where
    its stderr goes to the log): some 0.3 releases raise from `LlamaModel.__del__` after a
    failed load, which Python would otherwise print on the terminal later. Call it in the
    `except` block, before raising again."""
    failed: BaseException | None = error
    while failed is not None:  # the frames holding the half-built model
        failed.__traceback__ = None
        failed = failed.__cause__ or failed.__context__
    gc.collect()


def vocab(llm: Any) -> Any:
    """The model's vocabulary handle (for `is_end` and `token_attributes`)."""
    return llm._model.vocab


def token_text(llm: Any, token: int) -> str:
    """A token's text as the vocabulary writes it (`<｜Assistant｜>`, `</think>`)."""
    return str(llm._model.token_get_text(token))


def token_bytes(llm: Any, token: int) -> bytes:
    """The bytes a token stands for (a piece of a UTF-8 character, sometimes)."""
    return bytes(llm.detokenize([token], special=True))


def is_end(llama_cpp: Any, handle: Any, token: int) -> bool:
    """Whether `token` ends generation (end of text, end of turn)."""
    return bool(llama_cpp.llama_vocab_is_eog(handle, token))


def token_attributes(llama_cpp: Any, handle: Any, token: int) -> int:
    """The token's attribute bits (control, user-defined, …)."""
    return int(llama_cpp.llama_vocab_get_attr(handle, token))


def threads(llm: Any) -> int:
    """The threads llama.cpp generates with now."""
    return int(llm.n_threads)


def set_threads(llama_cpp: Any, llm: Any, count: int) -> None:
    """Generate and read prompts with `count` threads from the next step on."""
    llama_cpp.llama_set_n_threads(llm._ctx.ctx, count, count)
    llm.n_threads = llm.n_threads_batch = count


def cached_tokens(llm: Any) -> list[int]:
    """The tokens the KV cache holds, oldest first."""
    return [int(token) for token in llm._input_ids[: int(llm.n_tokens)]]


def keep_prefix(llm: Any, count: int) -> bool:
    """Cut the KV cache back to its first `count` tokens; `False` if llama.cpp cannot."""
    if not llm._ctx.kv_cache_seq_rm(-1, count, -1):
        return False
    if count < int(llm.n_tokens):
        llm._requires_eval = True  # the logits were the dropped token's
    llm.n_tokens = count
    return True


def sampler(llm: Any, *, temperature: float, top_p: float, top_k: int, min_p: float) -> Any:
    """A sampler chain as `Llama.generate` builds it (seeded from `llm.set_seed`), kept for
    a whole reply: its random state runs on from token to token."""
    return llm._init_sampler(temp=temperature, top_p=top_p, top_k=top_k, min_p=min_p)


def sample(llm: Any, chain: Any, row: int = -1) -> int:
    """Sample from the logits of output `row` of the last step (negative: from the end);
    the chain takes the token in (its penalties and random state move on)."""
    return int(chain.sample(llm._ctx, row))


def decode(llm: Any, tokens: Sequence[int], *, every_row: bool) -> None:
    """Read `tokens` after the cached ones, in steps of at most `n_batch`; logits for each
    of them with `every_row` (one step only), else for the last only. The tokens are then
    cached, as after `Llama.eval`."""
    size = int(llm.n_batch)
    for first in range(0, len(tokens), size):
        part = tokens[first : first + size]
        start = int(llm.n_tokens)
        llm._ctx.kv_cache_seq_rm(-1, start, -1)
        llm._batch.set_batch(batch=part, n_past=start, logits_all=every_row)
        llm._ctx.decode(llm._batch)
        llm.input_ids[start : start + len(part)] = part
        llm.n_tokens = start + len(part)
    llm._requires_eval = False


def logits_current(llm: Any) -> bool:
    """Whether the last step's logits belong to the last cached token (a restored or cut
    cache has none until a token is read again)."""
    return not bool(getattr(llm, "_requires_eval", True))


def save_state(llama_cpp: Any, llm: Any, path: Path) -> tuple[list[int], bool]:
    """Write the KV cache of sequence 0 to `path`; the tokens it holds, and success."""
    tokens = cached_tokens(llm)
    array = (llama_cpp.llama_token * len(tokens))(*tokens)
    written = llama_cpp.llama_state_seq_save_file(
        llm._ctx.ctx, str(path).encode(), 0, array, len(tokens)
    )
    return tokens, bool(written)


def load_state(llama_cpp: Any, llm: Any, path: Path, capacity: int) -> list[int] | None:
    """Replace the KV cache with the one saved at `path`; its tokens, or `None` (and an
    empty cache) if llama.cpp could not read it."""
    out = (llama_cpp.llama_token * capacity)()
    count = ctypes.c_size_t(0)
    llm._ctx.kv_cache_clear()
    read = llama_cpp.llama_state_seq_load_file(
        llm._ctx.ctx, str(path).encode(), 0, out, capacity, ctypes.byref(count)
    )
    if not read:
        llm._ctx.kv_cache_clear()
        llm.n_tokens = 0
        return None
    tokens = [int(token) for token in out[: count.value]]
    llm.n_tokens = count.value
    llm._requires_eval = True  # a saved state holds no logits
    llm._input_ids[: count.value] = tokens
    return tokens


def forget(llm: Any) -> None:
    """Empty the KV cache."""
    llm._ctx.kv_cache_clear()
    llm.n_tokens = 0
    llm._requires_eval = True


_PARAMS_LOCK = threading.Lock()
"""Held while llama.cpp's default model params are swapped for a load."""


@contextlib.contextmanager
def _model_params(llama_cpp: Any, **fields: Any) -> Iterator[None]:
    """While a `Llama` is built, hand it model params with `fields` set: `Llama()` takes no
    argument for some of them (`use_extra_bufts`), and fills the rest from llama.cpp's
    defaults, which are read through this module-level function."""
    module = llama_cpp.llama_cpp
    default = module.llama_model_default_params

    def patched() -> Any:
        params = default()
        for name, value in fields.items():
            setattr(params, name, value)
        return params

    with _PARAMS_LOCK:
        module.llama_model_default_params = patched
        try:
            yield
        finally:
            module.llama_model_default_params = default


def supports_safe_mode(llama_cpp: Any) -> bool:
    """Whether this build lets extra buffer types be turned off (llama.cpp from mid-2025)."""
    names = {name for name, *_ in llama_cpp.llama_model_params._fields_}
    return "use_extra_bufts" in names


def load_llama(llama_cpp: Any, *, safe: bool = False, **arguments: Any) -> Any:
    """`llama_cpp.Llama(**arguments)`; with `safe`, without extra buffer types (no weight
    repacking, no AMX kernels): slower on the CPU, but it runs where those crash."""
    if not safe or not supports_safe_mode(llama_cpp):
        return llama_cpp.Llama(**arguments)
    with _model_params(llama_cpp, use_extra_bufts=False):
        return llama_cpp.Llama(**arguments)


def uses_extra_buffers(llm: Any) -> bool | None:
    """Whether the model was loaded with extra buffer types (`None`: unknown to this build)."""
    value = getattr(llm.model_params, "use_extra_bufts", None)
    return None if value is None else bool(value)
