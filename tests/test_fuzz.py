"""Fuzzing (derandomized): mutated model files and compiled folders through inspect, eval, compile, simulate and
verify, in-process. Every case must end in success or a one-line NeuroccError, and no hostile line may run.
``bench/fuzz.py --cases 10000`` runs many more of the same cases and counts them."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import KINDS, prepare, run_case


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return prepare(tmp_path_factory.mktemp("fuzz-seeds"))


pytestmark = pytest.mark.slow  # hundreds of compiles and simulations; bench/fuzz.py runs thousands


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 2**31 - 1))
def test_every_mutated_input_ends_in_success_or_one_clean_line(seeds, tmp_path_factory, kind, seed):
    outcome = run_case(seeds, kind, seed, tmp_path_factory.getbasetemp() / "fuzz-case")
    assert outcome.end in ("ok", "error"), (kind, seed, outcome.end, outcome.problems)
    assert outcome.growth_mb < 256, (kind, seed, outcome.growth_mb)


def test_the_mutators_reach_every_command(seeds, tmp_path):
    """The fuzzer is not vacuous: over a few seeds of each kind, some case gets past every check and succeeds,
    and every command runs."""
    ran: set[str] = set()
    ends = set()
    for seed in range(60):
        kind = KINDS[seed % 3]
        outcome = run_case(seeds, kind, seed, tmp_path / "case", on_command=lambda argv: ran.add(argv[0]))
        ends.add((kind, outcome.end))
    assert ran == {"inspect", "eval", "compile", "simulate", "verify"}
    assert {("model", "ok"), ("model", "error"), ("spice", "error"), ("fpga", "error")} <= ends
