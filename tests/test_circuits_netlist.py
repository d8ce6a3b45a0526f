import pytest

from circuits.analog.netlist import Netlist, check_name, fmt, safe_name
from ir import BackendError

GOLDEN = """\
* golden tile  x
.model dz d(is=1e-14 n=1.5)
vin in 0 dc 0.20000000000000001
rload in out 1000
eamp y 0 0 out 100000
dclamp y 0 dz
.control
op
.endc
.end
"""


def golden() -> Netlist:
    net = Netlist("golden tile (x)")
    net.model("dz", "d", n=1.5, **{"is": 1e-14})
    net.vsource("in", "in", "0", 0.2)
    net.resistor("load", "in", "out", 1000.0)
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
