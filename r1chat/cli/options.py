"""Provides the command-line options several commands share."""

from __future__ import annotations

from typing import Annotated

import typer

TrustOption = Annotated[
    bool,
    typer.Option(
        "--trust-template",
        help="Use a chat template that reaches for Python internals (still sandboxed).",
    ),
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ThinkBudgetOption = Annotated[
    int | None,
    typer.Option(
        "--think-budget",
        help="R1 models: answer after this many reasoning tokens (default: no limit).",
    ),
]
NoThinkOption = Annotated[
    bool,
    typer.Option("--no-think", help="R1 models: answer at once, without reasoning."),
]
RemoteOption = Annotated[
    str | None,
    typer.Option(
        "--remote",
        help="An OpenAI-compatible server's URL (vLLM, llama-server, Ollama, an API).",
    ),
]
RemoteModelOption = Annotated[
    str | None,
    typer.Option("--remote-model", help="The model to use on --remote (default: its first)."),
]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="GGUF model file (default: config, R1CHAT_MODEL, demo)."),
]
MaxTokensOption = Annotated[
    int | None, typer.Option("--max-tokens", "-n", help="Stop after this many tokens.")
]
TemperatureOption = Annotated[
    float | None, typer.Option("--temperature", "-t", help="Sampling temperature (R1: 0.6).")
]
TopPOption = Annotated[float | None, typer.Option("--top-p", help="Nucleus sampling.")]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Sampling seed (-1: random).")]
NCtxOption = Annotated[int | None, typer.Option("--n-ctx", help="Context window in tokens.")]
ThreadsOption = Annotated[
    int | None,
    typer.Option("--threads", help="CPU threads for llama.cpp (default: adapts to the load)."),
]
PresetOption = Annotated[
    str | None,
    typer.Option(
        "--preset", "-p", help="A [presets.NAME] from config.toml: system prompt and sampling."
    ),
]
