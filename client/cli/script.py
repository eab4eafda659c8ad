"""Run a job script in this process, and explain its failures in terms of the script.

The script runs as ``__main__`` (``runpy.run_path``), so cloudpickle pickles
the functions it defines by value, and with ``sys.argv = [script, *args]``
and the script's folder first on ``sys.path``, as ``python script.py`` would.

A failure is reported as
``job script 'wc.py' failed at line 12: NameError: name 'txt' is not defined``
followed by a traceback of the user's frames only (Strom's, runpy's and the
CLI's frames are dropped).
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from collections.abc import Sequence

from strom.client.execution.tracebacks import is_strom_code


def run_script(path: str, args: Sequence[str]) -> None:
    """Execute ``path`` as ``__main__`` with ``args``; sys.argv and sys.path are restored afterwards."""
    abs_path = os.path.abspath(path)
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(abs_path))
    try:
        runpy.run_path(abs_path, run_name="__main__")
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path


def script_frames(exc: BaseException, script: str) -> list[traceback.FrameSummary]:
    """The traceback frames from the script's first frame on, without Strom's internals."""
    script_abs = os.path.abspath(script)
    frames = traceback.extract_tb(exc.__traceback__)
    for i, frame in enumerate(frames):
        if os.path.abspath(frame.filename) == script_abs:
            return [f for f in frames[i:] if not is_strom_code(f.filename)]
    return []


def failing_line(exc: BaseException, script: str) -> int | None:
    """The line of the script where ``exc`` arose: the deepest script frame, or a SyntaxError's line."""
    script_abs = os.path.abspath(script)
    if isinstance(exc, SyntaxError) and exc.filename and os.path.abspath(exc.filename) == script_abs:
        return exc.lineno
    lines = [f.lineno for f in script_frames(exc, script) if os.path.abspath(f.filename) == script_abs]
    return lines[-1] if lines else None


def describe_exception(exc: BaseException) -> str:
    """``NameError: name 'txt' is not defined`` (a SyntaxError without its file/line decoration)."""
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc.msg}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def format_script_failure(exc: BaseException, script: str) -> str:
    """Headline plus the user's part of the traceback."""
    line = failing_line(exc, script)
    where = f" at line {line}" if line is not None else ""
    first_line = describe_exception(exc).splitlines()[0]
    headline = f"job script '{script}' failed{where}: {first_line}"
    frames = script_frames(exc, script)
    body = []
    if frames:
        body.append("Traceback (most recent call last, job script frames only):\n")
        body.extend(traceback.format_list(frames))
    body.extend(traceback.format_exception_only(type(exc), exc))
    return headline + "\n" + "".join(body).rstrip("\n")
