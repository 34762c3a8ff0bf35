"""Provides what kind of model a GGUF describes: DeepSeek-R1 or not, the sampling r1chat
uses for it when the user sets none, and the parts of a chat template no template needs."""

from __future__ import annotations

import re

R1_TEMPLATE_MARKERS = ("<｜Assistant｜>", "<｜User｜>")
R1_NAME_MARKERS = ("deepseek-r1", "deepseek r1", "r1-distill", "r1 distill")


def default_sampling(r1: bool) -> tuple[float, float]:
    """Temperature and top_p when the user sets none: DeepSeek's advice for R1 models."""
    return (0.6, 0.95) if r1 else (0.7, 0.95)


# What no chat template needs: Python's dunder attributes, shell access, Jinja's file loading.
_HOSTILE = re.compile(
    r"__\w+__"
    r"|\bos\s*\.\s*(?:system|popen|environ|exec\w*|spawn\w*)"
    r"|\bpopen\b|\bsubprocess\b"
    r"|{%-?\s*(?:import|from|include|extends)\b"
)


def hostile_parts(source: str) -> list[str]:
    """The parts of a template that try to reach Python internals or the system."""
    return sorted({match.group(0) for match in _HOSTILE.finditer(source)})


def is_r1_model(template: str | None, name: str | None = None) -> bool:
    """Whether a model follows DeepSeek-R1's conventions, judged from its template and name."""
    if template and any(marker in template for marker in R1_TEMPLATE_MARKERS):
        return True
    lowered = (name or "").lower()
    return any(marker in lowered for marker in R1_NAME_MARKERS)
