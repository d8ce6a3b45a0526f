"""Node numbering of the fast simulator's readers: first appearance, ground, lookups, and a hash collision."""

import numpy as np
import pytest

import circuits.analog.node_table as node_table
from circuits.analog.node_table import NodeTable
from circuits.analog.parse import _first_appearance


def names(*words: str) -> np.ndarray:
    return np.array([w.encode() for w in words], dtype="S")


WORDS = ["in0", "a_long_node_name_1", "0", "in0", "b", "a_long_node_name_1", "c", "0", "b"]


def test_byte_names_are_numbered_in_order_of_first_appearance_ground_left_out():
    table, ids = NodeTable.numbered(names(*WORDS))
    assert list(table) == ["in0", "a_long_node_name_1", "b", "c"]
    assert ids.tolist() == [0, 1, -1, 0, 2, 1, 3, -1, 2]
    strings, string_ids = _first_appearance(WORDS)  # the text reader's dict numbering: the same
    assert list(strings) == list(table) and string_ids.tolist() == ids.tolist()


def test_a_hash_collision_falls_back_to_numbering_by_dict(monkeypatch):
    every_name_one_hash = lambda words: np.zeros(len(words[0]), dtype=np.uint64)  # noqa: E731
    monkeypatch.setattr(node_table, "_mixed", every_name_one_hash)
    table, ids = NodeTable.numbered(names(*WORDS))
    assert list(table) == ["in0", "a_long_node_name_1", "b", "c"]
    assert ids.tolist() == [0, 1, -1, 0, 2, 1, 3, -1, 2]
    assert table.find(["c", "0", "nope"]).tolist() == [3, -1, -2]


@pytest.mark.parametrize("from_bytes", [True, False])
def test_find_and_add(from_bytes):
    table = NodeTable.numbered(names(*WORDS))[0] if from_bytes else _first_appearance(WORDS)[0]
    # a name longer than any in the table, a prefix of one, ground, and names not there
    wanted = ["b", "a_long_node_name_1_and_more", "a_long", "0", "c", "in0"]
    assert table.find(wanted).tolist() == [2, -2, -2, -1, 3, 0]
    assert table.add(["new", "b", "0", "new", "newer"]).tolist() == [4, 2, -1, 4, 5]
    assert len(table) == 6 and table[4] == "new" and table[-1] == "newer"
    assert table.find(["newer", "new"]).tolist() == [5, 4]


def test_no_names():
    table, ids = NodeTable.numbered(names())
    assert len(table) == 0 and len(ids) == 0
    assert table.find(["a"]).tolist() == [-2]
