"""Provides the build check's child: load a model, read a prompt batch, generate a little.

Run by `models.build_check` as `python -m r1chat.engine.native_probe MODEL [--safe]`. If this
llama.cpp build cannot run on the CPU, this process is the one that dies; on success it
prints one JSON line with the prompt reading speed.
"""

from __future__ import annotations

import argparse
import json
import time

from r1chat.engine import llama_compat as compat
from r1chat.models.build_check import PROBE_TOKENS

GENERATED = 4


def main(argv: list[str] | None = None) -> None:
    """Load the model given on the command line and run one prompt batch through it."""
    parser = argparse.ArgumentParser(prog="r1chat.engine.native_probe")
    parser.add_argument("model")
    parser.add_argument("--safe", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--gpu-layers", type=int, default=0)
    args = parser.parse_args(argv)

    import llama_cpp

    llm = compat.load_llama(
        llama_cpp,
        safe=args.safe,
        model_path=args.model,
        n_ctx=PROBE_TOKENS + 32,
        n_batch=PROBE_TOKENS + 32,
        n_gpu_layers=args.gpu_layers,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    text = b"The quick brown fox jumps over the lazy dog while the sky turns blue at noon. "
    tokens = list(llm.tokenize(text * 16, add_bos=False, special=False))[:PROBE_TOKENS]
    started = time.perf_counter()
    llm.eval(tokens)  # one batch: the size at which matrix kernels take over
    read = time.perf_counter() - started
    for _ in range(GENERATED):
        llm.eval([int(llm.sample(temp=0.0))])
    print(
        json.dumps(
            {
                "prompt_tokens": len(tokens),
                "prompt_tokens_per_second": len(tokens) / read if read > 0 else None,
                "extra_buffers": compat.uses_extra_buffers(llm),
            }
        )
    )


if __name__ == "__main__":
    main()
