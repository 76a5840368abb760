import itertools

import pandas as pd
import pytest

from benchmarks.nb201.space import (
    EDGES,
    N_ARCHS,
    OPS,
    ArchError,
    NB201Arch,
    NB201Space,
    all_arch_strings,
    none_free_indices,
)
from tests.conftest import shared_file


def test_all_15625_indices_match_the_official_table():
    table = pd.read_csv(shared_file("nb201-hp12-mean-accuracies.csv"), usecols=["index", "arch_str"])
    assert len(table) == N_ARCHS == 15625
    assert list(table["index"]) == list(range(N_ARCHS))
    assert all_arch_strings() == list(table["arch_str"])


def test_known_official_indices():
    # index 0 is the first cell of the benchmark's shuffled enumeration
    assert NB201Arch.from_index(0).to_string() == (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|")
    assert NB201Arch.from_string("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|"
                                 "skip_connect~1|skip_connect~2|").index == 1835


def test_string_index_roundtrip_is_a_bijection():
    seen = set()
    for i in range(0, N_ARCHS, 7):
        arch = NB201Arch.from_index(i)
        assert NB201Arch.from_string(arch.to_string()) == arch
        assert arch.index == i
        seen.add(arch.code)
    assert len(seen) == len(range(0, N_ARCHS, 7))


def test_none_free_subspace():
    idx = none_free_indices()
    assert len(idx) == 4096 == 4 ** 6
    assert all("none" not in NB201Arch.from_index(int(i)).ops for i in idx)
    assert len(set(idx.tolist())) == 4096


@pytest.mark.parametrize("text", ["", "|none~0|", "|none~0|+|none~0|none~1|+|none~0|none~1|",
                                  "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
                                  "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
def test_bad_arch_strings_are_rejected(text):
    with pytest.raises(ArchError):
        NB201Arch.from_string(text)


def test_index_outside_space_is_rejected():
    with pytest.raises(ArchError, match="outside"):
        NB201Arch.from_index(N_ARCHS)


def test_space_decisions_and_selection_roundtrip():
    space = NB201Space()
    (group,) = space.groups
    assert group.rows == len(EDGES) == 6 and group.width == 5 and group.ks == (1,) * 6
    no_none = NB201Space(include_none=False)
    assert no_none.groups[0].width == 4 and no_none.size == 4096
    for ops in itertools.islice(itertools.product(OPS[1:], repeat=6), 0, 4096, 97):
        arch = NB201Arch(ops)
        assert no_none.arch(no_none.selection(arch)) == arch
    with pytest.raises(ArchError, match="excludes"):
        no_none.selection(NB201Arch(("none",) * 6))
    with pytest.raises(ValueError, match="option index"):
        space.arch({"ops": ((5,),) * 6})


def test_node_partition_and_option_costs():
    space = NB201Space(include_none=False)
    assert space.groups[0].nodes == ((0,), (1, 2), (3, 4, 5))
    costs = space.option_costs("ops", channels=16)
    # skip, conv1x1 (256 weights + 32 BN), conv3x3 (2304 + 32), avg pool
    assert costs.shape == (6, 4) and costs[0].tolist() == [0.0, 288.0, 2336.0, 0.0]
