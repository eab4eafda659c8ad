"""Every ```python block of the user guides (docs/datastream.md, docs/event-time.md) is a
complete job: run it with `strom run` on the embedded local cluster and compare what it
prints with the doc.

Conventions of the guides:

- A ```python block is a job script. If its first line is a comment naming a file
  (``# oops.py``), the script is saved under that name, else as ``job.py``.
- The ```text blocks right after it (before any other fenced block) show its output.
  The info string says which output and how to compare:
    ```text                 stdout, line by line, in order
    ```text unordered       stdout, compared as sorted lines (parallel subtasks interleave)
    ```text stderr exit=1   stderr must contain these lines in this order (others may sit between)
  ``...`` inside a line matches anything; a line that is only ``...`` is a reader's hint
  for "more lines here". ``exit=N`` is the expected exit code (default 0).
- The ``Job has been submitted with JobID ...`` / ``Job ... finished in ... s`` lines
  that `strom run` prints are ignored on both sides.

The test also checks that docs/operations.md lists every configuration key.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from strom.client.local.process import strom_command

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DOCS = Path(__file__).resolve().parents[2] / "docs"
DATASTREAM = DOCS / "datastream.md"
EVENT_TIME = DOCS / "event-time.md"
GUIDES = [DATASTREAM, EVENT_TIME]
OPERATIONS = DOCS / "operations.md"

_FENCE = re.compile(r"^```(\S*)(.*)$")
_SCRIPT_NAME = re.compile(r"^#\s*([\w.-]+\.py)\s*$")
_JOB_LINES = (re.compile(r"^Job has been submitted with JobID "), re.compile(r"^Job \S+ finished in "))


@dataclass
class Output:
    stream: str          # stdout | stderr
    unordered: bool
    exit_code: int
    lines: list[str]
    line_no: int


@dataclass
class Snippet:
    code: str
    line_no: int
    doc: str = "datastream.md"
    outputs: list[Output] = field(default_factory=list)

    @property
    def script_name(self) -> str:
        first = self.code.splitlines()[0] if self.code else ""
        m = _SCRIPT_NAME.match(first)
        return m.group(1) if m else "job.py"

    @property
    def exit_code(self) -> int:
        codes = {o.exit_code for o in self.outputs} or {0}
        assert len(codes) == 1, f"snippet at line {self.line_no}: its output blocks disagree on the exit code"
        return codes.pop()

    @property
    def test_id(self) -> str:
        return f"{self.doc.removesuffix('.md')}:{self.line_no}"


def fenced_blocks(text: str) -> list[tuple[str, list[str], str, int]]:
    """(language, info tokens, content, line number of the opening fence) for every fenced block."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, rest = m.group(1), m.group(2).split()
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"unclosed code fence at line {start + 1}"
        blocks.append((lang, rest, "\n".join(body) + "\n", start + 1))
        i += 1
    return blocks


def parse_output(tokens: list[str], content: str, line_no: int) -> Output:
    stream, unordered, exit_code = "stdout", False, 0
    for token in tokens:
        if token in ("stdout", "stderr"):
            stream = token
        elif token == "unordered":
            unordered = True
        elif token.startswith("exit="):
            exit_code = int(token.split("=", 1)[1])
        else:
            raise AssertionError(f"line {line_no}: unknown output option {token!r}")
    return Output(stream, unordered, exit_code, content.rstrip("\n").splitlines(), line_no)


def snippets(path: Path = DATASTREAM) -> list[Snippet]:
    found: list[Snippet] = []
    current: Snippet | None = None
    for lang, tokens, content, line_no in fenced_blocks(path.read_text(encoding="utf-8")):
        if lang == "python":
            current = Snippet(content, line_no, path.name)
            found.append(current)
        elif lang == "text":
            assert current is not None, f"{path.name}:{line_no}: output block without a python block before it"
            current.outputs.append(parse_output(tokens, content, line_no))
        else:
            current = None   # a bash/console block ends the outputs of the python block before it
    return found


def _pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in line.rstrip().split("...")) + r"\Z")


def _meaningful(lines: list[str]) -> list[str]:
    out = [ln.rstrip() for ln in lines if not any(p.match(ln) for p in _JOB_LINES)]
    while out and not out[-1]:
        out.pop()
    return out


def check_stdout(expected: Output, actual: str) -> None:
    want = _meaningful(expected.lines)
    got = _meaningful(actual.splitlines())
    if expected.unordered:
        want, got = sorted(want), sorted(got)
    ok = len(want) == len(got) and all(_pattern(w).match(g) for w, g in zip(want, got, strict=True))
    assert ok, (f"stdout differs from the doc (output block at line {expected.line_no}):\n"
                + "--- doc\n" + "\n".join(want) + "\n--- actual\n" + "\n".join(got))


def check_stderr(expected: Output, actual: str) -> None:
    got = actual.splitlines()
    pos = 0
    for want in expected.lines:
        if want.strip() in ("", "..."):
            continue
        pattern = _pattern(want)
        while pos < len(got) and not pattern.match(got[pos].rstrip()):
            pos += 1
        assert pos < len(got), (f"stderr lacks {want!r} (output block at line {expected.line_no}) "
                                f"in this order:\n{actual}")
        pos += 1


def run_snippet(snippet: Snippet, workdir: Path) -> subprocess.CompletedProcess[str]:
    conf_dir = workdir / "conf"
    conf_dir.mkdir()
    script = workdir / snippet.script_name
    script.write_text(snippet.code, encoding="utf-8")
    # A short TMPDIR: snippets make their files there, and the TaskManager's fork server
    # puts its Unix socket there (socket paths are limited to about 100 characters).
    short_tmp = tempfile.mkdtemp(prefix="strom-doc-")
    env = {k: v for k, v in os.environ.items() if k not in ("STROM_PROPERTIES", "STROM_CONF_DIR")}
    env.update(STROM_CONF_DIR=str(conf_dir), PYTHONUNBUFFERED="1", TMPDIR=short_tmp)
    try:
        return subprocess.run(strom_command(["run", snippet.script_name]), cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=240)
    finally:
        shutil.rmtree(short_tmp, ignore_errors=True)


SNIPPETS = [s for guide in GUIDES if guide.exists() for s in snippets(guide)]


@pytest.mark.parametrize("guide", GUIDES, ids=[g.name for g in GUIDES])
def test_the_guide_has_runnable_examples(guide: Path):
    found = snippets(guide)
    assert len(found) >= 10
    for snippet in found:
        compile(snippet.code, f"{guide.name}:{snippet.line_no}", "exec")


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.test_id for s in SNIPPETS])
def test_snippet_runs_and_prints_what_the_doc_shows(snippet: Snippet, tmp_path: Path):
    result = run_snippet(snippet, tmp_path)
    where = f"snippet at {snippet.doc}:{snippet.line_no}"
    assert result.returncode == snippet.exit_code, (
        f"{where} exited with {result.returncode}, the doc expects {snippet.exit_code}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    for output in snippet.outputs:
        if output.stream == "stdout":
            check_stdout(output, result.stdout)
        else:
            check_stderr(output, result.stderr)


def test_operations_guide_lists_every_configuration_key():
    # the modules that declare options besides strom.common.config
    import strom.client.execution.context  # noqa: F401
    import strom.taskmanager.network.settings  # noqa: F401
    from strom.common.config import all_options

    text = OPERATIONS.read_text(encoding="utf-8")
    missing = [o.key for o in all_options() if f"`{o.key}`" not in text]
    assert not missing, f"docs/operations.md does not describe these configuration keys: {missing}"
