import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ir
from ir import ModelFormatError, interp
from ir.dialects import nn
from tests.conftest import make_mlp_graph


def _rewrite(path, new_path, edit):
    """Copy a model archive, passing neurocc.json's parsed document through ``edit``."""
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(new_path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "neurocc.json":
                doc = json.loads(data)
                edit(doc)
                data = json.dumps(doc).encode()
            zout.writestr(item, data)


def _replace_array(path, param, array, allow_pickle=False):
    """Rewrite a model archive with ``param``'s entry replaced by ``array`` (archive otherwise valid)."""
    with zipfile.ZipFile(path) as zf:
        entries = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    doc = json.loads(entries["neurocc.json"])
    entry = next(p["entry"] for p in doc["params"] if p["name"] == param)
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    entries[entry] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def test_round_trip_prints_identically(tmp_path, small_graph):
    small_graph.meta = {"dataset": "digits", "history": [{"epoch": i} for i in range(12)]}
    path = tmp_path / "m.ncm"
    ir.save(small_graph, path)
    loaded = ir.load(path)
    assert ir.print_graph(loaded) == ir.print_graph(small_graph)
    assert loaded.meta == small_graph.meta
    for name, value in small_graph.params.items():
        assert loaded.params[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded.params[name], value)


def test_same_graph_same_bytes(tmp_path, small_graph):
    ir.save(small_graph, tmp_path / "a.ncm")
    ir.save(small_graph, tmp_path / "b.ncm")
    assert (tmp_path / "a.ncm").read_bytes() == (tmp_path / "b.ncm").read_bytes()


def test_missing_file(tmp_path):
    path = tmp_path / "none.ncm"
    with pytest.raises(ModelFormatError, match=rf"^model file '{path}' does not exist$"):
        ir.load(path)


@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_truncated_file(tmp_path, small_graph, keep):
    path = tmp_path / "m.ncm"
    ir.save(small_graph, path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFormatError, match=rf"^model file '{path}' is truncated or corrupted: it is not a "
                                               r"readable zip archive$"):
        ir.load(path)


def test_corrupted_entry(tmp_path, small_graph):
    path = tmp_path / "m.ncm"
    ir.save(small_graph, path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("arrays/0001.npy")
    # Flip bytes inside the compressed data of one array (past its 30-byte local header and name).
    start = info.header_offset + 30 + len(info.filename) + 4
    for i in range(start, start + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=rf"^model file '{path}' is corrupted: entry 'arrays/0001\.npy' "
                                               r"cannot be read \(.+\)$"):
        ir.load(path)


def test_not_a_neurocc_archive(tmp_path):
    path = tmp_path / "other.ncm"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ModelFormatError, match=rf"^model file '{path}' is not a neurocc model: entry "
                                               r"'neurocc\.json' is missing$"):
        ir.load(path)


def test_unknown_schema_version(tmp_path, small_graph):
    ir.save(small_graph, tmp_path / "m.ncm")
    path = tmp_path / "v99.ncm"
    _rewrite(tmp_path / "m.ncm", path, lambda doc: doc.update(schema=99))
    with pytest.raises(ModelFormatError, match=rf"^model file '{path}' has schema version 99, but this neurocc "
                                               r"reads version 1$"):
        ir.load(path)


def test_unknown_op_kind(tmp_path, small_graph):
    ir.save(small_graph, tmp_path / "m.ncm")
    path = tmp_path / "k.ncm"
    _rewrite(tmp_path / "m.ncm", path, lambda doc: doc["nodes"][1].update(kind="nn.conv2d"))
    with pytest.raises(ModelFormatError, match=rf"^model file '{path}', node 'fc1': unknown op kind 'nn\.conv2d'$"):
        ir.load(path)


def test_nan_weight_in_file(tmp_path, small_graph):
    path = tmp_path / "nan.ncm"
    ir.save(small_graph, path)
    weight = small_graph.params["fc1.weight"].copy()
    weight[0, 1] = np.nan
    _replace_array(path, "fc1.weight", weight)
    with pytest.raises(ModelFormatError, match=rf"^model file '{path}': node 'fc1' \(nn\.dense\): parameter "
                                               r"'fc1\.weight' must be finite, not nan at index \(0, 1\)$"):
        ir.load(path)


def test_save_refuses_invalid_graph_and_writes_nothing(tmp_path, small_graph):
    small_graph.params["fc1.weight"][0, 0] = np.inf
    with pytest.raises(ir.VerifyError):
        ir.save(small_graph, tmp_path / "m.ncm")
    assert list(tmp_path.iterdir()) == []


def test_pickled_arrays_are_refused(tmp_path, small_graph):
    path = tmp_path / "m.ncm"
    ir.save(small_graph, path)
    _replace_array(path, "fc1.bias", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFormatError, match=rf"^model file '{path}' is corrupted: array 'fc1\.bias' must hold "
                                               r"numbers, not pickled Python objects \(dtype '\|O'\): neurocc never "
                                               r"unpickles$"):
        ir.load(path)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    acts=st.lists(st.sampled_from(nn.ACTIVATIONS), min_size=1, max_size=3),
    bias=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_random_graphs_round_trip(tmp_path_factory, sizes, acts, bias, seed):
    g = make_mlp_graph(sizes, acts, seed=seed, bias=bias)
    path = tmp_path_factory.mktemp("rt") / "g.ncm"
    ir.save(g, path)
    h = ir.load(path)
    assert ir.print_graph(h) == ir.print_graph(g)
    x = np.random.default_rng(seed).standard_normal((5, sizes[0]))
    np.testing.assert_array_equal(interp.run(h, x)["logits"], interp.run(g, x)["logits"])
