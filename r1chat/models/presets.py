"""Provides the DeepSeek-R1 distill presets for `r1chat pull` and the `doctor` table.

Shapes come from each model's GGUF metadata; parameter counts from the model cards.
Sizes for a quantization are estimated from its bits per weight (Q4_K_M of the 7B:
4.68 GB real, 4.66 GB estimated).
"""

from __future__ import annotations

from dataclasses import dataclass

from r1chat.models.fit import ModelShape

QUANTS_BITS = {
    "Q2_K": 3.0,
    "Q3_K_M": 3.91,
    "Q4_K_M": 4.89,
    "Q5_K_M": 5.69,
    "Q6_K": 6.56,
    "Q8_0": 8.5,
    "F16": 16.0,
}
"""Average bits per weight of each quantization (llama.cpp's figures, rounded)."""
DEFAULT_QUANT = "Q4_K_M"


@dataclass(frozen=True, slots=True)
class Preset:
    """A named model: where it lives on the hub, and its shape."""

    name: str
    repo: str
    file_stem: str
    parameters: float
    shape: ModelShape
    trained_context: int = 131072

    def filename(self, quant: str = DEFAULT_QUANT) -> str:
        """The GGUF file for a quantization."""
        return f"{self.file_stem}-{quant}.gguf"

    def size_bytes(self, quant: str = DEFAULT_QUANT) -> int:
        """Estimated file size for a quantization."""
        return int(self.parameters * QUANTS_BITS[quant] / 8)


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "r1-1.5b",
            "bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF",
            "DeepSeek-R1-Distill-Qwen-1.5B",
            1.78e9,
            ModelShape(28, 2, 128),
        ),
        Preset(
            "r1-7b",
            "bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF",
            "DeepSeek-R1-Distill-Qwen-7B",
            7.62e9,
            ModelShape(28, 4, 128),
        ),
        Preset(
            "r1-8b",
            "bartowski/DeepSeek-R1-Distill-Llama-8B-GGUF",
            "DeepSeek-R1-Distill-Llama-8B",
            8.03e9,
            ModelShape(32, 8, 128),
        ),
        Preset(
            "r1-14b",
            "bartowski/DeepSeek-R1-Distill-Qwen-14B-GGUF",
            "DeepSeek-R1-Distill-Qwen-14B",
            14.8e9,
            ModelShape(48, 8, 128),
        ),
        Preset(
            "r1-32b",
            "bartowski/DeepSeek-R1-Distill-Qwen-32B-GGUF",
            "DeepSeek-R1-Distill-Qwen-32B",
            32.8e9,
            ModelShape(64, 8, 128),
        ),
    )
}
