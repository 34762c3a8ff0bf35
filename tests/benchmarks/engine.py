"""Provides `r1chat bench`: raw llama-cpp-python streaming against r1chat's engine, in one run."""

from __future__ import annotations

import itertools
import json
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from r1chat.config import load_settings
from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine.events import AnswerDelta, Finished, GenerationStats, ReasoningDelta
from r1chat.errors import R1ChatError
from r1chat.models.discovery import choose_model
from r1chat.paths import Paths

BENCH_PROMPT = (
    "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle. "
    "Describe the sea, the weather and the keeper's thoughts."
)
SEED = 1234


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One measured run, timed where the caller receives the text."""

    prompt_tokens: int
    generated_tokens: int
    time_to_first_token: float
    generation_tokens_per_second: float

    @property
    def prefill_tokens_per_second(self) -> float:
        """Prompt tokens over the time to the first token."""
        return self.prompt_tokens / self.time_to_first_token


def _raw_run(llm: Any, tokens: list[int], max_tokens: int) -> tuple[RunFigures, str]:
    """Plain `create_completion(stream=True)`: what a program without r1chat would do."""
    llm.reset()  # no prefix cache: every run reads the whole prompt
    started = time.perf_counter()
    stamps: list[float] = []
    text: list[str] = []
    for chunk in llm.create_completion(
        tokens,
        max_tokens=max_tokens,
        temperature=0.0,
        top_k=40,
        top_p=0.95,
        min_p=0.05,
        seed=SEED,
        stream=True,
    ):
        piece = chunk["choices"][0]["text"]
        if piece:
            stamps.append(time.perf_counter())
            text.append(piece)
    return _figures(len(tokens), len(stamps), started, stamps), "".join(text)


def _raw_run_on(engine: Any, tokens: list[int], max_tokens: int) -> tuple[RunFigures, str]:
    """`_raw_run` on the engine's generation thread, the OS thread that runs engine replies.

    llama.cpp's CPU thread pool belongs to the thread that calls it; alternating two
    calling threads makes each pay for waking its own pool, which no real use does.
    """
    result: list[tuple[RunFigures, str]] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def job() -> None:
        try:
            result.append(_raw_run(engine._llm, tokens, max_tokens))
        except BaseException as error:  # re-raised on the caller's thread
            failure.append(error)
        finally:
            done.set()

    engine._worker.submit(job)
    done.wait()
    if failure:
        raise failure[0]
    return result[0]


def _engine_run(engine: Any, request: ChatRequest) -> tuple[RunFigures, str, GenerationStats]:
    """The same request through `LlamaEngine` (thread, queue, think splitter, stats)."""
    engine._llm.reset()
    started = time.perf_counter()
    stamps: list[float] = []
    text: list[str] = []
    finished = None
    for event in engine.stream(request, threading.Event()):
        if isinstance(event, Finished):
            finished = event.stats
        elif isinstance(event, AnswerDelta | ReasoningDelta):
            stamps.append(time.perf_counter())
            text.append(event.text)
    assert finished is not None
    if finished.finish_reason == "error":
        raise R1ChatError(finished.error or "generation failed")
    figures = _figures(finished.prompt_tokens, finished.completion_tokens, started, stamps)
    return figures, "".join(text), finished


def _figures(prompt: int, generated: int, started: float, stamps: list[float]) -> RunFigures:
    if len(stamps) < 2:
        raise R1ChatError("The model stopped after one token; benchmark with another model.")
    first, last = stamps[0], stamps[-1]
    return RunFigures(prompt, generated, first - started, (generated - 1) / (last - first))


def bench_engine(model: str | None, tokens: int, rounds: int) -> Any:
    """The engine a bench times, as the app would load it (with the build check), once
    `--tokens` and `--rounds` are known to make sense."""
    if tokens < 8 or rounds < 1:
        raise R1ChatError("Use --tokens 8 or more and --rounds 1 or more.")
    from r1chat.engine.llama import LlamaEngine
    from r1chat.models.build_check import BuildChecks

    paths = Paths.from_env()
    settings = load_settings(paths)
    choice = choose_model(settings, paths, model)
    return LlamaEngine(
        choice.path,
        n_ctx=settings.n_ctx,
        threads=settings.threads,
        log_path=paths.llama_log_file,
        build_checks=BuildChecks(paths.build_checks_file),
    )


def run_bench(*, model: str | None, tokens: int, rounds: int, json_output: bool) -> None:
    """Load the model once, then alternate raw and engine runs; print medians and ratios."""
    engine = bench_engine(model, tokens, rounds)
    if engine.notice:  # safe mode changes every figure below: say so first
        print(f"r1chat: {engine.notice}", file=sys.stderr)
    request = ChatRequest(
        (ChatMessage("user", BENCH_PROMPT),),
        GenerationParams(max_tokens=tokens, temperature=0.0, top_p=0.95, seed=SEED),
    )
    prompt_tokens = engine.prepare(request).tokens
    _raw_run_on(engine, prompt_tokens, 8)  # warm-up, not counted
    raw_runs: list[RunFigures] = []
    engine_runs: list[RunFigures] = []
    same_text = True
    for _ in range(rounds):
        raw, raw_text = _raw_run_on(engine, prompt_tokens, tokens)
        mine, engine_text, _ = _engine_run(engine, request)
        raw_runs.append(raw)
        engine_runs.append(mine)
        same_text = same_text and raw_text.strip() == engine_text.strip()
    info = engine.info
    answer_now = [answer_now_run(engine) for _ in range(max(3, rounds))]
    engine.close()
    report = _report(info, raw_runs, engine_runs, same_text, tokens, rounds)
    report["answer_now"] = _answer_now_report(answer_now)
    if json_output:
        print(json.dumps(report, indent=2))
    else:
        print(_table(report))


ANSWER_AFTER = 24
"""Reasoning tokens before the answer-now request."""


def answer_now_run(engine: Any) -> dict[str, float]:
    """Ask for the answer mid-reasoning: time to the first answer token, and what was read.

    The reply starts inside a reasoning block whatever the model (as when it thinks
    on), so any model can be measured; llama.cpp's reads are counted at its `eval`.
    """
    from r1chat.engine import llama_compat as compat
    from r1chat.engine.steering import ReplyControl

    llm = engine._llm
    reads: list[int] = []
    token_times: list[float] = []  # each generated token passes through detokenize once
    original_eval, original_detokenize = llm.eval, llm.detokenize
    original_decode = compat.decode

    def counted(tokens: Any) -> Any:
        reads.append(len(tokens))
        return original_eval(tokens)

    def decoded(model: Any, tokens: Any, *, every_row: bool) -> None:
        if not every_row:  # a draft being checked is not the prompt read again
            reads.append(len(tokens))
        original_decode(model, tokens, every_row=every_row)

    def timed(tokens: Any, *args: Any, **kwargs: Any) -> Any:
        token_times.append(time.perf_counter())
        return original_detokenize(tokens, *args, **kwargs)

    llm.eval, llm.detokenize = counted, timed
    compat.decode = decoded  # type: ignore[assignment]
    try:
        engine._llm.reset()
        control = ReplyControl()
        request = ChatRequest(
            (ChatMessage("user", BENCH_PROMPT),),
            GenerationParams(max_tokens=ANSWER_AFTER + 16, temperature=0.0, seed=SEED),
            continue_reasoning="Let me think about the story first.",
        )
        deltas = 0
        asked_at = None
        reads_before = 0
        for event in engine.stream(request, control):
            if isinstance(event, ReasoningDelta) and asked_at is None:
                deltas += 1
                if deltas == ANSWER_AFTER:
                    reads_before = len(reads)
                    asked_at = time.perf_counter()
                    control.answer_now()
            elif isinstance(event, Finished):
                stats = event.stats
    finally:
        del llm.eval, llm.detokenize  # back to the class's methods
        compat.decode = original_decode
    if asked_at is None or not stats.answer_tokens or stats.reasoning_cut != "user":
        raise R1ChatError("The model stopped before the answer-now request; try another model.")
    # The first token after the reasoning ones is the answer's first token.
    first_answer = token_times[stats.reasoning_tokens]
    reasoning_times = token_times[: stats.reasoning_tokens]
    gaps = [later - earlier for earlier, later in itertools.pairwise(reasoning_times)]
    after = reads[reads_before:]
    prompt_tokens = stats.prompt_tokens
    return {
        "first_answer_seconds": first_answer - asked_at,
        "token_seconds": statistics.median(gaps),
        "largest_read_after": float(max(after)),
        "prompt_tokens": float(prompt_tokens),
    }


def _answer_now_report(runs: list[dict[str, float]]) -> dict[str, float]:
    report = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    report["ratio"] = report["first_answer_seconds"] / report["token_seconds"]
    report["largest_read_after"] = max(run["largest_read_after"] for run in runs)
    return report


def _median(runs: list[RunFigures], name: str) -> float:
    return float(statistics.median(float(getattr(run, name)) for run in runs))


def _report(
    info: Any, raw: list[RunFigures], mine: list[RunFigures], same: bool, tokens: int, rounds: int
) -> dict[str, Any]:
    import os

    import llama_cpp

    kinds: dict[str, dict[str, Any]] = {}
    for name, runs in (("raw", raw), ("engine", mine)):
        kinds[name] = {
            "prefill_tokens_per_second": _median(runs, "prefill_tokens_per_second"),
            "generation_tokens_per_second": _median(runs, "generation_tokens_per_second"),
            "time_to_first_token": _median(runs, "time_to_first_token"),
            "generated_tokens": _median(runs, "generated_tokens"),
            "runs": [asdict(run) for run in runs],
        }
    ratio = {
        key: kinds["engine"][key] / kinds["raw"][key]
        for key in ("prefill_tokens_per_second", "generation_tokens_per_second")
    }
    return {
        "model": info.model_name,
        "model_path": info.model_path,
        "backend": info.backend,
        "cpus": os.cpu_count(),
        "llama_cpp_python": llama_cpp.__version__,
        "prompt_tokens": raw[0].prompt_tokens,
        "max_tokens": tokens,
        "rounds": rounds,
        "same_output": same,
        "raw": kinds["raw"],
        "engine": kinds["engine"],
        "ratio_engine_over_raw": ratio,
    }


def _table(report: dict[str, Any]) -> str:
    lines = [
        f"r1chat bench: {report['model']} on {report['backend']} ({report['cpus']} CPUs), "
        f"llama-cpp-python {report['llama_cpp_python']}",
        f"prompt {report['prompt_tokens']} tokens, up to {report['max_tokens']} generated, "
        f"{report['rounds']} alternating rounds, greedy, medians",
        "",
        f"{'':8}{'prefill tok/s':>15}{'generation tok/s':>18}{'first token':>13}{'tokens':>8}",
    ]
    for name in ("raw", "engine"):
        row = report[name]
        lines.append(
            f"{name:8}{row['prefill_tokens_per_second']:>15.1f}"
            f"{row['generation_tokens_per_second']:>18.1f}"
            f"{row['time_to_first_token'] * 1000:>10.0f} ms{row['generated_tokens']:>8.0f}"
        )
    ratio = report["ratio_engine_over_raw"]
    lines += [
        "",
        f"engine/raw generation tokens/s: {ratio['generation_tokens_per_second']:.3f}",
        f"engine/raw prefill tokens/s:    {ratio['prefill_tokens_per_second']:.3f}",
        f"same text from both: {'yes' if report['same_output'] else 'no'}",
    ]
    now = report.get("answer_now")
    if now:
        lines += [
            "",
            f"answer now after {ANSWER_AFTER} reasoning tokens: first answer token "
            f"{now['first_answer_seconds'] * 1000:.1f} ms after the request, one token "
            f"{now['token_seconds'] * 1000:.1f} ms ({now['ratio']:.2f}×); largest read after "
            f"it {now['largest_read_after']:.0f} tokens (the prompt is "
            f"{now['prompt_tokens']:.0f})",
        ]
    return "\n".join(lines)


EDIT_TEXT = (
    "The lighthouse stood on a rock at the mouth of the harbour. Every evening the keeper "
    "climbed its ninety steps, trimmed the wick, wound the clockwork that turned the lens, "
    "and wrote the weather in a book bound in green cloth. In winter the spray reached the "
    "gallery and froze on the glass, and he scraped it off with a knife kept for that alone. "
    "Ships passed at night without knowing his name, and he liked it that way."
)
LOOKUP_PROMPTS = {
    "edit": (
        "Give back this text with 'keeper' changed to 'warden', and nothing else changed:"
        f"\n\n{EDIT_TEXT}"
    ),
    "free": BENCH_PROMPT,
}
"""A reply that copies most of its prompt, and one that repeats nothing on purpose."""


def run_lookup_bench(*, model: str | None, tokens: int, rounds: int, json_output: bool) -> None:
    """Bare greedy llama-cpp-python against r1chat's engine with and without prompt
    lookup, alternated, on an edit-this-text prompt and on free text."""
    report = lookup_report(model=model, tokens=tokens, rounds=rounds)
    if json_output:
        print(json.dumps(report, indent=2))
        return
    print(lookup_table(report))


def lookup_report(*, model: str | None, tokens: int, rounds: int) -> dict[str, Any]:
    """The figures of `bench lookup`."""
    engine = bench_engine(model, tokens, rounds)
    rows: dict[str, dict[str, Any]] = {}
    try:
        for kind, prompt in LOOKUP_PROMPTS.items():
            request = ChatRequest(
                (ChatMessage("user", prompt),),
                GenerationParams(max_tokens=tokens, temperature=0.0, top_p=0.95, seed=SEED),
            )
            prompt_tokens = engine.prepare(request).tokens
            _raw_run_on(engine, prompt_tokens, 8)  # warm-up, not counted
            speeds: dict[str, list[float]] = {"raw": [], "plain": [], "lookup": []}
            drafted = kept = 0
            texts: dict[str, str] = {}
            for _ in range(rounds):
                raw, texts["raw"] = _raw_run_on(engine, prompt_tokens, tokens)
                speeds["raw"].append(raw.generation_tokens_per_second)
                for name, lookup in (("plain", False), ("lookup", True)):
                    engine.prompt_lookup = lookup
                    figures, texts[name], stats = _engine_run(engine, request)
                    speeds[name].append(figures.generation_tokens_per_second)
                drafted, kept = stats.draft_tokens, stats.draft_tokens_accepted
            medians = {name: statistics.median(values) for name, values in speeds.items()}
            generated = engine.tokenize(texts["lookup"])
            rows[kind] = {
                **{f"{name}_tokens_per_second": value for name, value in medians.items()},
                "lookup_over_raw": medians["lookup"] / medians["raw"],
                "lookup_over_plain": medians["lookup"] / medians["plain"],
                "drafted": drafted,
                "kept": kept,
                "generated": len(generated),
                "same_as_plain": texts["lookup"] == texts["plain"],
                "same_tokens_as_plain": _agreeing(engine, texts["plain"], texts["lookup"]),
                "same_as_raw": texts["lookup"].strip() == texts["raw"].strip(),
            }
        info = engine.info
    finally:
        engine.close()
    report = {"model": info.model_name, "backend": info.backend, "tokens": tokens}
    return report | {"rounds": rounds, "prompts": rows}


def _agreeing(engine: Any, first: str, second: str) -> int:
    """Tokens the two texts share from their start."""
    a, b = engine.tokenize(first), engine.tokenize(second)
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def lookup_table(report: dict[str, Any]) -> str:
    """The prompt-lookup figures, one row per prompt."""
    lines = [
        f"r1chat bench lookup: {report['model']} on {report['backend']}, greedy, "
        f"{report['tokens']} tokens, medians of {report['rounds']} alternating rounds",
        "",
        f"{'prompt':8}{'bare':>8}{'plain':>8}{'lookup':>8}{'× bare':>8}{'× plain':>9}"
        f"{'kept':>12}{'same as plain':>16}",
    ]
    for kind, row in report["prompts"].items():
        share = f"{row['kept']}/{row['drafted']}" if row["drafted"] else "none"
        same = "yes" if row["same_as_plain"] else f"{row['same_tokens_as_plain']} tokens"
        lines.append(
            f"{kind:8}{row['raw_tokens_per_second']:>8.1f}{row['plain_tokens_per_second']:>8.1f}"
            f"{row['lookup_tokens_per_second']:>8.1f}{row['lookup_over_raw']:>8.3f}"
            f"{row['lookup_over_plain']:>9.3f}{share:>12}{same:>16}"
        )
    lines += [
        "",
        "tok/s after the first token; kept: drafted tokens the model kept (last round);",
        "same as plain: the greedy reply with prompt lookup against the one without it, or",
        "how many tokens they share before a near tie parts them (see docs/settings.md).",
    ]
    return "\n".join(lines)
