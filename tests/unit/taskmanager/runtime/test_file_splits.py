import random

import pytest

from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.sources.base import END_OF_INPUT
from strom.taskmanager.operators.sources.files import CsvFileSource, TextFileSource


def _read_all(source, parallelism):
    out = []
    for subtask in range(parallelism):
        reader = source.create_reader(OperatorContext("j", "j", "v", "s", subtask, parallelism, 128, 0))
        while (b := reader.poll()) is not END_OF_INPUT:
            out.extend(b.records)
    return out


@pytest.mark.parametrize("split_bytes", [1, 7, 100, 4096, 1 << 22])
@pytest.mark.parametrize("parallelism", [1, 3])
def test_every_line_read_exactly_once_whatever_the_splits(tmp_path, split_bytes, parallelism):
    rng = random.Random(split_bytes * 10 + parallelism)
    lines = ["".join(rng.choice("ab ") for _ in range(rng.randint(0, 30))) for _ in range(2000)]
    (tmp_path / "a.txt").write_text("\n".join(lines[:1000]) + "\n")
    (tmp_path / "b.txt").write_text("\n".join(lines[1000:]))  # no trailing newline
    got = _read_all(TextFileSource(str(tmp_path), split_bytes=split_bytes), parallelism)
    assert sorted(got) == sorted(lines)


def test_windows_line_endings(tmp_path):
    (tmp_path / "w.txt").write_bytes(b"one\r\ntwo\r\n")
    assert _read_all(TextFileSource(str(tmp_path / "w.txt")), 1) == ["one", "two"]


def test_csv_splits_with_header_and_inferred_schema(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("id,twice,name\n" + "".join(f"{i},{i * 2},x{i}\n" for i in range(1000)))
    src = CsvFileSource(str(path), has_header=True, split_bytes=333)
    src.validate()
    assert src.schema.names == ["id", "twice", "name"]
    assert sorted(_read_all(src, 2)) == [(i, i * 2, f"x{i}") for i in range(1000)]


def test_missing_input_is_a_clear_error(tmp_path):
    from strom.common.errors import JobGraphError

    with pytest.raises(JobGraphError, match="does not exist"):
        TextFileSource(str(tmp_path / "nope.txt")).validate()
