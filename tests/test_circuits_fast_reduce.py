"""The fast simulator's one-input path piece by piece: grounded sources substituted out (``fast_reduce``), the
tridiagonal blocks, and chains that are not paths."""

import numpy as np
import pytest

import circuits.analog.fast_iterative as fast_iterative
from circuits.analog.fast import FastCircuit
from circuits.analog.fast_reduce import Reduction
from circuits.analog.netlist import Netlist
from tests.test_circuits_fast import inputs, relative, tile


def mixed_sources(seed: int) -> Netlist:
    """A random resistor network with every kind of source the reduction meets: grounded voltage sources, one
    between two nodes (kept), VCVS on a source's output, on another VCVS's output (two levels), on plain nodes (an
    amplifier) and on that amplifier's output, with a floating minus terminal (kept), and two that control each
    other (kept: a loop)."""
    rng = np.random.default_rng(seed)
    net = Netlist("mixed")
    nodes = [f"n{i}" for i in range(24)]
    for i in range(1, len(nodes)):  # a random tree, then some more resistors and a few to ground
        net.resistor(f"t{i}", nodes[i], nodes[int(rng.integers(0, i))], float(rng.uniform(1, 100)))
    for k in range(12):
        a, b = rng.choice(len(nodes), 2, replace=False)
        net.resistor(f"x{k}", nodes[a], nodes[b], float(rng.uniform(1, 1e4)))
    for k in range(3):
        net.resistor(f"g{k}", nodes[int(rng.integers(0, len(nodes)))], "0", float(rng.uniform(10, 1e3)))
    net.vsource("a", "n0", "0", 0.3)
    net.vsource("b", "n1", "0", -0.2)
    net.vsource("float", "n2", "n3", 0.1)
    net.vcvs("inv", "n4", "0", "n0", "0", -1.0)  # on a source's output
    net.vcvs("twice", "n5", "0", "n4", "n1", 2.0)  # on a VCVS's output and a source's
    net.vcvs("amp", "n6", "0", "0", "n7", 50.0)  # on a plain node
    net.vcvs("chain", "n14", "0", "n6", "n15", 3.0)  # on the amplifier's output and a plain node
    net.vcvs("diff", "n8", "n9", "n10", "0", 0.5)  # minus not grounded
    net.vcvs("ping", "n11", "0", "n12", "0", 0.5)  # ping and pong control each other's outputs
    net.vcvs("pong", "n12", "0", "n11", "n13", 0.25)
    return net


def solved_by_reduction(circuit: FastCircuit, b: np.ndarray) -> tuple[Reduction, np.ndarray]:
    c = circuit.circuit
    reduced = Reduction(circuit.size, c.r.nodes, 1.0 / c.r.values, circuit._sources())
    e = reduced.couplings
    matrix = np.diag(reduced.diagonal)
    np.add.at(matrix, (e.rows, e.cols), e.values)
    return reduced, reduced.expand(np.linalg.solve(matrix, reduced.rhs(b)), b)


def reduced_like_dense(net: Netlist, seed: int, columns: int) -> tuple[FastCircuit, Reduction]:
    """The circuit of ``net`` and its reduction, whose whole solution (the taken sources' branch currents too)
    has been checked against a dense solve for ``columns`` random right-hand sides."""
    circuit = FastCircuit(net)
    b = np.random.default_rng(seed).standard_normal((circuit.size, columns))
    reduced, x = solved_by_reduction(circuit, b)
    direct = np.linalg.solve(circuit.matrix.toarray(), b)
    assert np.abs(x - direct).max() <= 1e-9 * np.abs(direct).max()
    return circuit, reduced


@pytest.mark.parametrize("seed", range(6))
def test_the_reduced_system_gives_the_whole_solution(seed):
    circuit, reduced = reduced_like_dense(mixed_sources(seed), seed, 3)
    names = [*circuit.circuit.v.names, *circuit.circuit.e.names]
    taken = {names[k] for level in reduced.levels for k in level}
    assert taken == {"va", "vb", "einv", "etwice", "eamp", "echain"}  # the rest stay
    assert [sorted(names[k] for k in level) for level in reduced.levels] == [
        ["eamp", "va", "vb"], ["echain", "einv"], ["etwice"]]
    assert reduced.size == circuit.size - 2 * len(taken)


def test_a_circuit_without_grounded_sources_is_left_as_it_is():
    net = Netlist("bare")
    net.resistor("a", "x", "y", 2.0)
    net.resistor("b", "y", "0", 3.0)
    net.vsource("s", "x", "y", 1.0)
    circuit = FastCircuit(net)
    b = np.array([[0.0], [0.0], [1.0]])
    reduced, x = solved_by_reduction(circuit, b)
    assert reduced.levels == [] and reduced.size == circuit.size
    assert np.allclose(x, np.linalg.solve(circuit.matrix.toarray(), b), rtol=0, atol=1e-12)


def tridiagonal(n: int, symmetric: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    upper = -rng.uniform(0.1, 1.0, n - 1)
    lower = upper.copy() if symmetric else -rng.uniform(0.1, 1.0, n - 1)
    return lower, 2.5 + rng.uniform(0, 1, n), upper


@pytest.mark.parametrize("symmetric", [True, False])
def test_tridiagonal_blocks_solve_like_a_dense_solve(symmetric):
    lower, diagonal, upper = tridiagonal(50, symmetric)
    factors = fast_iterative.Tridiagonal(lower, diagonal, upper)
    dense = np.diag(diagonal) + np.diag(lower, -1) + np.diag(upper, 1)
    b = np.random.default_rng(1).standard_normal(50)
    assert np.allclose(factors.solve(b), np.linalg.solve(dense, b), rtol=0, atol=1e-12)
    # the symmetric positive definite block goes through Cholesky (pttrs), the other through LU (gttrs)
    assert factors._solve.__name__.endswith("pttrs" if symmetric else "gttrs")


def test_a_singular_tridiagonal_block_is_refused():
    with pytest.raises(RuntimeError, match="singular"):
        fast_iterative.Tridiagonal(np.array([1.0, 0.0]), np.ones(3), np.array([1.0, 0.0]))


def test_a_row_line_that_branches_is_factorized_by_superlu_and_still_agrees():
    net, outs = tile(40, 40, seed=3, variation=0.2, r_wire=1.0)
    net.resistor("spur", "t0_t0_rp3_7", "spur_end", 1.0)  # a wire off the middle of a row line: a T, not a path
    net.resistor("spur_dev", "spur_end", "t0_t0_c9_3", 2e4)  # ... with a device of its own to a column
    src = inputs(40, 2)
    direct = FastCircuit(net)
    direct.lu  # noqa: B018
    circuit = FastCircuit(net)
    assert relative(circuit.run(outs, src), direct.run(outs, src)) <= 1e-12
    assert circuit._lu is None
    _, split = circuit._chains
    blocks = {type(split.lu_x).__name__, type(split.lu_y).__name__}
    assert blocks == {"SuperLU", "Tridiagonal"}  # the rows' side has the T; the columns' is still paths


def test_a_chain_closed_in_a_ring_is_numbered_without_an_end():
    # chains: a ring {0,1,2} (no node with one neighbour) and a path {3,4}; weak links 0-3 and 2-4
    pairs, weak_pairs = [(0, 1), (1, 2), (2, 0), (3, 4)], [(0, 3), (2, 4)]
    ends = np.array(pairs + weak_pairs)
    g = np.array([1.0] * len(pairs) + [1e-3] * len(weak_pairs))
    a, b = ends[:, 0], ends[:, 1]
    tag = np.arange(len(ends))
    entries = fast_iterative.Entries(np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([-g, -g]),
                                     np.concatenate([tag, tag]))
    sides = fast_iterative.two_sides(5, entries, fast_iterative.weak_resistors(ends, g, 5))
    assert sides is not None
    assert sides.side.tolist() == [0, 0, 0, 1, 1] and sorted(sides.order.tolist()) == list(range(5))
    assert sides.order.tolist()[:2] == [3, 4]  # the path first, along it; the ring's nodes after


def test_a_substitution_through_two_levels_keeps_every_term():
    # the amplifier's control is the first kept node and the VCVS on its output the first of its level: the
    # chained substitution c2 = 2·out = -20·a has its one term in row 0, column 0 of the level's terms
    net = Netlist("chained")
    net.resistor("1", "a", "0", 10.0)
    net.resistor("2", "a", "b", 5.0)
    net.vcvs("amp", "out", "0", "0", "a", 10.0)
    net.vcvs("chain", "c2", "0", "out", "0", 2.0)
    net.resistor("3", "c2", "b", 7.0)
    net.resistor("4", "out", "b", 3.0)
    net.resistor("5", "b", "0", 4.0)
    circuit = FastCircuit(net)
    b = np.random.default_rng(0).standard_normal((circuit.size, 2))
    reduced, x = solved_by_reduction(circuit, b)
    assert len(reduced.levels) == 2
    assert np.allclose(x, np.linalg.solve(circuit.matrix.toarray(), b), rtol=1e-12, atol=1e-12)


def random_sources(seed: int) -> Netlist:
    """A random resistor tree (and a few more resistors) on 30 nodes, its root grounded, with 12 sources on
    distinct output nodes: voltage sources and VCVS, their minus terminal ground or a node no source drives (so
    the sources never close a loop), a VCVS's controls any nodes (other outputs, in chains and loops, included),
    its gain at most 0.5 (so a loop of them is never singular)."""
    rng = np.random.default_rng(100 + seed)
    nodes = [f"n{i}" for i in range(30)]
    net = Netlist("random")
    net.resistor("root", nodes[0], "0", float(rng.uniform(1, 10)))
    for i in range(1, len(nodes)):
        net.resistor(f"t{i}", nodes[i], nodes[int(rng.integers(0, i))], float(rng.uniform(1, 1e3)))
    for k in range(8):
        a, b = rng.choice(len(nodes), 2, replace=False)
        net.resistor(f"x{k}", nodes[a], nodes[b], float(rng.uniform(1, 1e4)))
    outputs = rng.choice(len(nodes), 12, replace=False)
    free = [n for i, n in enumerate(nodes) if i not in set(outputs.tolist())]
    for k, out in enumerate(outputs):
        minus = "0" if rng.uniform() < 0.7 else free[int(rng.integers(0, len(free)))]
        if rng.uniform() < 0.3:
            net.vsource(f"s{k}", nodes[out], minus, float(rng.uniform(-1, 1)))
        else:
            cp, cm = (nodes[int(i)] if rng.uniform() < 0.8 else "0" for i in rng.integers(0, len(nodes), 2))
            net.vcvs(f"e{k}", nodes[out], minus, cp, cm, float(rng.uniform(-0.5, 0.5)))
    return net


@pytest.mark.parametrize("seed", range(20))
def test_random_sources_reduce_to_the_same_solution(seed):
    circuit, reduced = reduced_like_dense(random_sources(seed), seed, 2)
    assert reduced.size < circuit.size  # (some sources were taken)
