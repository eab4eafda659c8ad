import subprocess
import sys

import pyarrow as pa

from strom.common.keygroups import (
    key_group_for_key,
    key_group_range,
    key_groups_of_array,
    operator_index_for_key_group,
    stable_hash,
)


def test_key_group_ranges_cover_all_groups_contiguously_and_match_operator_index():
    for parallelism in (1, 2, 3, 4, 7, 128):
        covered = []
        for subtask in range(parallelism):
            r = key_group_range(subtask, parallelism, 128)
            assert all(operator_index_for_key_group(g, parallelism, 128) == subtask for g in r)
            covered.extend(r)
        assert covered == list(range(128))


def test_vectorized_key_groups_equal_scalar_ones():
    samples = [
        [1, 2, 3, -5, 10**12, 0],
        ["a", "b", "a", "", "ünïcode", "zz"],
        ["x", None, "y"],
        [1.5, 2.5, 1.5],
    ]
    for keys in samples:
        assert key_groups_of_array(pa.array(keys)).tolist() == [key_group_for_key(k) for k in keys]
        assert key_groups_of_array(keys).tolist() == [key_group_for_key(k) for k in keys]


def test_equal_numbers_share_a_key_group_like_python_equality():
    assert stable_hash(1) == stable_hash(1.0) == stable_hash(True)


def test_hash_is_stable_across_processes():
    keys = ["word", 42, ("a", 1), b"raw", 3.25]
    code = ("from strom.common.keygroups import stable_hash;"
            f"print([stable_hash(k) for k in {keys!r}])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outs) == 1
    assert outs.pop().strip() == str([stable_hash(k) for k in keys])


def test_composite_keys_in_a_pickled_column_hash_like_the_keys_themselves():
    from strom.taskmanager.network.partitioner import HashPartitioner
    from strom.taskmanager.runtime.records import records_to_arrow

    records = [(("a", i % 3), i) for i in range(50)]
    keys = [r[0] for r in records]
    batch = records_to_arrow(records, keys=keys)
    channels = HashPartitioner(max_parallelism=128).channels_of(batch, 4)
    expected = [operator_index_for_key_group(key_group_for_key(k), 4, 128) for k in keys]
    assert channels.tolist() == expected
