import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuits.analog.netlist import Netlist, check_name, fmt, safe_name
from circuits.analog.numbers import number_field
from ir import BackendError

GOLDEN = "".join(line + "\n" for line in [
    "* golden tile  x",
    ".model dz d(is=1e-14 n=1.5e+00)",
    "vin in 0 dc 2.0000000000000001e-01",
    "rload in out 1e+03",
    # a resistor grid: fixed-width fields padded with spaces, one number format for the whole grid
    "rcell0_0 in  c0  2.5e+03               ",
    "rcell1_0 out c0  1e+06                 ",
    "rcell1_1 out c11 1.0000000000000001e-01",
    "eamp y 0 0 out 1e+05",
    "dclamp y 0 dz",
    ".control", "op", ".endc", ".end",
])


def golden() -> Netlist:
    net = Netlist("golden tile (x)")
    net.model("dz", "d", n=1.5, **{"is": 1e-14})
    net.vsource("in", "in", "0", 0.2)
    net.resistor("load", "in", "out", 1000.0)
    nodes = np.array([[b"in", b"in"], [b"out", b"out"]])
    net.resistor_grid("cell", nodes, np.array([[b"c0", b"c1"], [b"c0", b"c11"]]),
                      np.array([[2500.0, 1.0], [1e6, 0.1]]), np.array([[True, False], [True, True]]))
    net.vcvs("amp", "y", "0", "0", "out", 1e5)
    net.diode("clamp", "y", "0", "dz")
    return net


def test_netlist_golden_text():
    assert golden().text(["op"]) == GOLDEN


def test_same_calls_same_bytes():
    assert golden().text() == golden().text()


@pytest.mark.parametrize("value", [0.1, 1e-6, 1 / 3, 123456.789, -2.5e-12])
def test_numbers_round_trip_exactly(value):
    assert float(fmt(value)) == value


def test_non_finite_number_refused():
    with pytest.raises(BackendError, match=r"^netlist value must be finite, not nan$"):
        fmt(float("nan"))


@pytest.mark.parametrize("name", ["a\n.control", "x y", "n1;", ".end", "Vout", ""])
def test_names_cannot_inject_spice_text(name):
    with pytest.raises(BackendError, match=r"^SPICE node name must match \[a-z0-9_\]\+, not "):
        Netlist("t").resistor("r1", name, "0", 1.0)


def test_safe_name_maps_anything_to_a_distinct_safe_name():
    evil = ["fc1\n.control\nshell rm -rf /\n.endc", "FC1", "fc1", "fc-1", "fc 1"]
    names = [safe_name(e) for e in evil]
    assert len(set(names)) == len(names)
    for n in names:
        assert check_name(n) == n
    assert safe_name("fc1") == "fc1"


def test_duplicate_and_bad_elements():
    net = Netlist("t")
    net.resistor("a", "n1", "0", 1.0)
    with pytest.raises(BackendError, match=r"^element 'ra' is defined twice$"):
        net.resistor("a", "n2", "0", 1.0)
    with pytest.raises(BackendError, match=r"^resistor rb must have a positive finite resistance, not 0\.0$"):
        net.resistor("b", "n1", "0", 0.0)
    with pytest.raises(BackendError, match=r"^diode dd uses model 'dx', which is not defined$"):
        net.diode("d", "n1", "0", "dx")


def test_comment_free_title_cannot_break_out():
    text = Netlist("title\n.control\nshell echo pwned").text()
    assert text == "* title  control shell echo pwned\n.end\n"


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_batch_numbers_are_fmt_exactly(value):
    """The vectorized writer and the single-number path write the same characters, and both round-trip."""
    batch = np.array([value, 1.0, -3.25e-300])
    fields = [f.decode().strip() for f in number_field(batch)]
    assert fields == [fmt(v) for v in batch]
    assert float(fields[0]) == value


def test_number_batches_round_trip_across_magnitudes():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(20000) * 10.0 ** rng.integers(-300, 300, 20000)
    texts = [f.decode().strip() for f in number_field(values)]
    assert [float(t) for t in texts] == values.tolist()
    assert texts == [fmt(v) for v in values]


def test_grid_checks():
    net = Netlist("t")
    nodes = np.array([[b"a", b"b"]])
    net.resistor_grid("g", nodes, nodes, np.ones((1, 2)))
    with pytest.raises(BackendError, match=r"^resistor grid 'rg' is defined twice"):
        net.resistor_grid("g", nodes, nodes, np.ones((1, 2)))
    with pytest.raises(BackendError, match=r"^element 'rg0_1' is defined twice$"):
        net.resistor("g0_1", "x", "y", 1.0)
    net.resistor("h2_3", "x", "y", 1.0)
    with pytest.raises(BackendError, match=r"^resistor grid 'rh' is defined twice \(or a single resistor"):
        net.resistor_grid("h", nodes, nodes, np.ones((1, 2)))
    with pytest.raises(BackendError, match=r"^grid stem 'g1' must not end in a digit$"):
        net.resistor_grid("g1", nodes, nodes, np.ones((1, 2)))
    with pytest.raises(BackendError, match=r"^SPICE node name must match \[a-z0-9_\]\+, not 'x\\n.control'$"):
        net.resistor_grid("k", np.array([[b"x\n.control", b"b"]]), nodes, np.ones((1, 2)))
    with pytest.raises(BackendError, match=r"^resistor rm0_1 must have a positive finite resistance, not 0\.0$"):
        net.resistor_grid("m", nodes, nodes, np.array([[1.0, 0.0]]))
    assert net.count == 3 and [e[1] for e in net.elements] == ["g0_0", "g0_1", "h2_3"]
