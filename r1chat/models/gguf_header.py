"""Provides a fast GGUF header reader that checks a file before llama.cpp ever opens it.

`gguf.GGUFReader` maps every tensor and takes seconds on a 150k-token vocabulary;
this walks only the header (metadata and tensor table) and checks that the tensor
data it promises is inside the file. Value types, quantization block sizes and the
magic number come from the `gguf` package.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1chat.errors import ModelError
from r1chat.text import terminal_safe

SUPPORTED_VERSIONS = (2, 3)
MAX_TENSORS = 1_000_000
MAX_KV = 100_000
MAX_BLOCKS = 512
MAX_DIMS = 4
# Arrays kept in full; the others (token lists, merges, scores) are only skipped past.
_SMALL_ARRAY = 64

_SCALARS = {
    0: "<B",  # UINT8
    1: "<b",  # INT8
    2: "<H",  # UINT16
    3: "<h",  # INT16
    4: "<I",  # UINT32
    5: "<i",  # INT32
    6: "<f",  # FLOAT32
    7: "<?",  # BOOL
    10: "<Q",  # UINT64
    11: "<q",  # INT64
    12: "<d",  # FLOAT64
}
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")


@dataclass
class GGUFHeader:
    """What a GGUF file says about itself, read without loading any weights."""

    path: Path
    size: int
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(repr=False)
    array_lengths: dict[str, int] = field(default_factory=dict, repr=False)
    """Length of every long array that was skipped (for example the token list)."""
    tensor_bytes: int = 0
    """Bytes of tensor data the header describes."""
    parameters: int = 0
    """Number of weights (elements of all tensors)."""
    data_start: int = 0
    """Where the tensor data begins in the file."""

    @property
    def architecture(self) -> str | None:
        """`general.architecture`, for example `llama` or `qwen2`."""
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    @property
    def name(self) -> str:
        """The model's own name, or the file name."""
        value = self.metadata.get("general.name")
        return value if isinstance(value, str) and value.strip() else self.path.stem

    @property
    def context_length(self) -> int | None:
        """The context length the model was trained for."""
        value = self.metadata.get(f"{self.architecture}.context_length")
        return value if isinstance(value, int) and value > 0 else None

    def number(self, key: str) -> int | None:
        """An integer from the architecture's own keys, for example `block_count`."""
        value = self.metadata.get(f"{self.architecture}.{key}")
        if isinstance(value, list):  # per-layer values: the largest decides the memory
            value = max((v for v in value if isinstance(v, int)), default=None)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def quantization(self) -> str:
        """The file type, for example `Q4_K_M`, as llama.cpp names it."""
        import gguf

        value = self.metadata.get("general.file_type")
        if not isinstance(value, int):
            return "unknown"
        try:
            name = gguf.LlamaFileType(value).name
        except (ValueError, TypeError):
            return "unknown"
        return name.removeprefix("MOSTLY_").replace("ALL_", "")

    @property
    def chat_template(self) -> str | None:
        """The embedded Jinja chat template, if any."""
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None


class _Cursor:
    """Reads little-endian values from a file, turning a short read into a clear error."""

    def __init__(self, path: Path, handle: Any, size: int) -> None:
        self.path, self.handle, self.size = path, handle, size
        self.buffer = b""
        self.offset = 0  # file offset of buffer[0]
        self.position = 0  # index into buffer

    @property
    def tell(self) -> int:
        return self.offset + self.position

    def take(self, count: int) -> bytes:
        if count > self.size - self.tell:
            raise ModelError(
                f"{self.path} is truncated: its header needs more bytes than the file's "
                f"{self.size:,}; download it again."
            )
        end = self.position + count
        if end > len(self.buffer):
            rest = self.buffer[self.position :]
            self.offset = self.tell
            self.buffer = rest + self.handle.read(max(count - len(rest), 1 << 20))
            self.position, end = 0, count
        chunk = self.buffer[self.position : end]
        self.position = end
        return chunk

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self, what: str) -> str:
        length = self.scalar("<Q")
        if length > self.size:
            raise ModelError(f"{self.path} is corrupt: {what} claims {length:,} bytes.")
        return self.take(length).decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        """Step over `count` length-prefixed strings without copying them (the vocabulary).

        The hot loop only reads lengths inside the buffer; crossing its end is handled
        outside it, where `take` refills (or reports a truncated file).
        """
        unpack = _U64.unpack_from
        while count:
            buffer, position = self.buffer, self.position
            limit = len(buffer) - 8
            while count and position <= limit:
                position += 8 + unpack(buffer, position)[0]
                count -= 1
            if position <= len(buffer):
                self.position = position
                if count:  # the next length straddles the buffer's end
                    self.take(8)
                    self.position -= 8
                continue
            # The last string read runs past the buffer: skip the rest of it.
            self.position = len(buffer)
            self.take(position - len(buffer))


def read_header(path: str | Path) -> GGUFHeader:
    """Read and check the header of a GGUF file.

    Raises:
        ModelError: with one sentence saying what is wrong with the file.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"No model file at {path}; check the path.")
    if path.is_dir():
        raise ModelError(f"{path} is a folder, not a model file; pass the .gguf file inside it.")
    if not path.is_file():  # a FIFO, socket or device: opening it could wait for ever
        raise ModelError(
            f"{terminal_safe(str(path))} is not a regular file (a pipe, socket or device); "
            "pass a .gguf model file."
        )
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except OSError as error:
        raise ModelError(f"Cannot read {path} ({error.strerror}).") from error
    if size == 0:
        handle.close()
        raise ModelError(
            f"{path} is empty (0 bytes); the download probably failed, fetch it again."
        )
    with handle:
        return _parse(path, handle, size)


def _parse(path: Path, handle: Any, size: int) -> GGUFHeader:
    import gguf

    cursor = _Cursor(path, handle, size)
    magic = handle.read(4)
    cursor.offset = 4
    if len(magic) < 4 or struct.unpack("<I", magic.ljust(4, b"\0"))[0] != gguf.GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF model file (it does not start with 'GGUF').")
    version = cursor.scalar("<I")
    if version not in SUPPORTED_VERSIONS:
        raise ModelError(
            f"{path} is GGUF version {version}, which r1chat cannot read (it reads versions 2 "
            "and 3); get a current conversion of the model."
        )
    tensor_count, kv_count = cursor.scalar("<Q"), cursor.scalar("<Q")
    if tensor_count > MAX_TENSORS or kv_count > MAX_KV:
        raise ModelError(
            f"{path} is corrupt: it claims {tensor_count:,} tensors and {kv_count:,} metadata keys."
        )
    metadata: dict[str, Any] = {}
    arrays: dict[str, int] = {}
    for _ in range(kv_count):
        key = cursor.string("a metadata key")
        if key in metadata or key in arrays:
            raise ModelError(f"{path} is corrupt: metadata key {key!r} appears twice.")
        kind = cursor.scalar("<I")
        if kind == _ARRAY:
            item_kind, length = cursor.scalar("<I"), cursor.scalar("<Q")
            if length > size:
                raise ModelError(f"{path} is corrupt: array {key!r} claims {length:,} items.")
            if item_kind == _STRING and length > _SMALL_ARRAY:
                cursor.skip_strings(length)
                arrays[key] = length
            elif item_kind in _SCALARS and length > _SMALL_ARRAY:
                cursor.take(struct.calcsize(_SCALARS[item_kind]) * length)
                arrays[key] = length
            else:
                metadata[key] = [_value(cursor, item_kind, key) for _ in range(length)]
        else:
            metadata[key] = _value(cursor, kind, key)
    _check_counts(path, metadata)
    tensor_bytes, parameters, data_start = _check_tensors(
        path, cursor, tensor_count, metadata, size
    )
    return GGUFHeader(
        path, size, version, tensor_count, metadata, arrays, tensor_bytes, parameters, data_start
    )


def _value(cursor: _Cursor, kind: int, key: str) -> Any:
    if kind == _STRING:
        return cursor.string(f"the value of {key!r}")
    if kind in _SCALARS:
        return cursor.scalar(_SCALARS[kind])
    raise ModelError(f"{cursor.path} is corrupt: {key!r} has unknown value type {kind}.")


def _check_counts(path: Path, metadata: dict[str, Any]) -> None:
    import gguf

    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelError(f"{path} is not a usable model: it names no architecture.")
    if arch not in gguf.MODEL_ARCH_NAMES.values():
        raise ModelError(
            f"{path} is a {arch!r} model, an architecture llama.cpp does not know; "
            "it cannot be run here."
        )
    blocks = metadata.get(f"{arch}.block_count")
    if isinstance(blocks, int) and not 0 < blocks <= MAX_BLOCKS:
        raise ModelError(f"{path} is corrupt: it claims {blocks:,} layers.")


def _check_tensors(
    path: Path, cursor: _Cursor, count: int, metadata: dict[str, Any], size: int
) -> tuple[int, int, int]:
    import gguf

    alignment = metadata.get("general.alignment", gguf.GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise ModelError(f"{path} is corrupt: alignment {alignment!r} is not a power of two.")
    end_of_data = 0
    total = 0
    parameters = 0
    for _ in range(count):
        name = cursor.string("a tensor name")
        dims = cursor.scalar("<I")
        if dims > MAX_DIMS:
            raise ModelError(f"{path} is corrupt: tensor {name!r} claims {dims} dimensions.")
        elements = 1
        for _ in range(dims):
            elements *= cursor.scalar("<Q")
        kind, offset = cursor.scalar("<I"), cursor.scalar("<Q")
        try:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(kind)]
        except (ValueError, KeyError):
            raise ModelError(
                f"{path} uses tensor type {kind}, which this version of r1chat does not know."
            ) from None
        nbytes = elements // block * type_size
        total += nbytes
        parameters += elements
        end_of_data = max(end_of_data, offset + nbytes)
    data_start = -(-cursor.tell // alignment) * alignment
    if data_start + end_of_data > size:
        raise ModelError(
            f"{path} is truncated: its tensors need {data_start + end_of_data:,} bytes but the "
            f"file has {size:,}; download it again."
        )
    return total, parameters, data_start


SAMPLE_BYTES = 1 << 16
"""Bytes read at each of the places `check_weights` looks."""


def check_weights(header: GGUFHeader) -> None:
    """Refuse a file whose weights are all zeros where sampled (start, middle and end).

    A download that was allocated but never written has a valid header and a file of
    the right size, and would load and print garbage.

    Raises:
        ModelError: when every sampled byte of tensor data is zero.
    """
    span = header.tensor_bytes
    if span <= 0:
        return
    starts = {
        header.data_start + max(0, min(span - SAMPLE_BYTES, at)) for at in (0, span // 2, span)
    }
    try:
        with header.path.open("rb") as handle:
            for start in sorted(starts):
                handle.seek(start)
                if handle.read(SAMPLE_BYTES).strip(b"\0"):
                    return
    except OSError as error:
        raise ModelError(f"Cannot read {header.path} ({error.strerror}).") from error
    raise ModelError(
        f"{terminal_safe(str(header.path))} has no weights (its tensor data is all zeros, like a "
        "download that never finished); download it again."
    )
