"""Writes small GGUF files for the bad-input tests with the real `gguf` package."""

from __future__ import annotations

from pathlib import Path

import numpy as np

HOSTILE_TEMPLATE = (
    "{% for message in messages %}{{ message['content'] }}{% endfor %}"
    "{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}"
)


def write_gguf(
    path: Path,
    *,
    template: str | None = None,
    arch: str = "llama",
    block_count: int = 1,
    tensor_elements: int = 64,
) -> Path:
    """A structurally valid GGUF: one F32 tensor and the given metadata."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("r1chat test model")
    writer.add_block_count(block_count)
    writer.add_context_length(512)
    if template is not None:
        writer.add_chat_template(template)
    writer.add_tensor("token_embd.weight", np.ones(tensor_elements, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_truncated(path: Path) -> Path:
    """A GGUF cut in the middle of its tensor data, like an interrupted download."""
    write_gguf(path, tensor_elements=4096)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size - 4096 * 4 // 2)
    return path
