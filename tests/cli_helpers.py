"""Helpers for tests that run the real `r1chat` command in a subprocess."""

from __future__ import annotations

import subprocess


def run(command, env, *args, stdin=None, timeout=120):
    return subprocess.run(
        [*command, *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
