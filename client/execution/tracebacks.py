"""Tracebacks trimmed to the user's frames.

Users debug their own functions; the frames of Strom's task runtime, operators,
CLI and ``runpy`` around them are noise. Local tracebacks are filtered by
file path (``is_strom_code``); remote ones arrive as text and are filtered
line by line (``trim_traceback_text``). The untrimmed text stays available
(``strom info JOB`` prints it).

    trim_traceback_text(details.root_exception)
"""

from __future__ import annotations

import importlib
import os
import re
import runpy
from functools import cache

_FRAME = re.compile(r'^(\s*)File "(?P<path>[^"]+)", line \d+')
# Strom installed as a package on another host: .../site-packages/strom/<component>/...
_INSTALLED = re.compile(r"[/\\]strom[/\\](client|common|jobmanager|taskmanager)[/\\]")


@cache
def strom_code_dirs() -> tuple[str, ...]:
    """Folders holding Strom's own code here (the component folders are mapped into ``strom``)."""
    dirs: list[str] = []
    for name in ("strom", "strom.client", "strom.common", "strom.jobmanager", "strom.taskmanager"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        dirs.extend(os.path.abspath(p) + os.sep for p in getattr(module, "__path__", []))
    return tuple(dirs)


def is_strom_code(filename: str) -> bool:
    """Whether a traceback frame's file is Strom's (or runpy's) rather than the user's."""
    if _INSTALLED.search(filename):
        return True
    path = os.path.abspath(filename)
    if path == os.path.abspath(runpy.__file__):
        return True
    return any(path.startswith(d) for d in strom_code_dirs())


def trim_traceback_text(text: str) -> str:
    """Drop Strom's frames (the ``File`` line and its source lines) from a formatted traceback.

    Returns ``text`` unchanged if it has no user frame at all (then Strom's frames are the story).
    """
    lines = text.splitlines()
    out: list[str] = []
    dropped = kept = 0
    i = 0
    while i < len(lines):
        match = _FRAME.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        indent = len(match.group(1))
        end = i + 1
        while end < len(lines) and _indent_of(lines[end]) > indent and _FRAME.match(lines[end]) is None:
            end += 1
        if is_strom_code(match.group("path")):
            dropped += 1
        else:
            out.extend(lines[i:end])
            kept += 1
        i = end
    if dropped == 0 or kept == 0:
        return text
    return "\n".join(out)


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip()) if line.strip() else 1 << 30
