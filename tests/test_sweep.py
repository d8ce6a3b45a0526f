"""neurocc sweep: the grid on a Dask LocalCluster, a killed worker, a resumed sweep, and bad parameters."""

import json
import os
import signal

import pytest

from compiler.cli import main
from compiler.sweep import parse_params, sweep
from errors import BackendError, ConfigError

GRID = ["r_wire=0,2", "variation=0,0.2"]
LIMIT = 60


def rows(folder):
    return json.loads((folder / "table.json").read_text())["rows"]


def test_a_killed_worker_loses_nothing_and_a_resumed_sweep_recomputes_nothing(small_model, tmp_path):
    serial = sweep(small_model, parse_params(GRID), 2, tmp_path / "serial", limit=LIMIT, scheduler="serial")
    assert serial["computed"] == 8 and len(serial["rows"]) == 4
    killed = []

    def kill_one(client, done):
        if done == 2 and not killed:  # mid-sweep: two results in, six to go
            pids = client.run(os.getpid)
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    report = sweep(small_model, parse_params(GRID), 2, tmp_path / "dask", limit=LIMIT, scheduler="local",
                   workers=2, on_result=kill_one)
    assert killed and report["computed"] == 8
    assert rows(tmp_path / "dask") == rows(tmp_path / "serial")
    assert (tmp_path / "dask" / "table.csv").read_text() == (tmp_path / "serial" / "table.csv").read_text()
    assert sorted(p.name for p in (tmp_path / "dask").glob("*.png")) == ["accuracy_vs_r_wire.png",
                                                                         "accuracy_vs_variation.png"]
    again = sweep(small_model, parse_params(GRID), 2, tmp_path / "dask", limit=LIMIT, scheduler="local")
    assert again["computed"] == 0 and again["cached"] == 8 and again["rows"] == report["rows"]


def test_a_stopped_sweep_resumes_where_it_stopped(small_model, tmp_path):
    class Stop(Exception):
        pass

    def stop(client, done):
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        sweep(small_model, parse_params(GRID), 2, tmp_path / "s", limit=LIMIT, scheduler="serial", on_result=stop)
    assert len(list((tmp_path / "s" / "tasks").glob("*.json"))) == 3
    stale = [tmp_path / "s" / "tasks" / f".{'ab' * 32}.json.x1y2_z.tmp", tmp_path / "s" / ".table.json.k3_9.tmp"]
    for path in stale:  # what a sweep killed in the middle of writing a file leaves
        path.write_text("{")
    report = sweep(small_model, parse_params(GRID), 2, tmp_path / "s", limit=LIMIT, scheduler="serial")
    assert report["computed"] == 5 and report["cached"] == 3 and not any(p.exists() for p in stale)
    more = sweep(small_model, parse_params(GRID), 3, tmp_path / "s", limit=LIMIT, scheduler="serial")
    assert more["computed"] == 4 and {r["seeds"] for r in more["rows"]} == {3}  # only the new seed's tasks


def test_the_command_line_sweep(small_model, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["sweep", str(small_model), "--param", "tile=8,16", "--seeds", "1", "--limit", "20",
                 "--scheduler", "serial", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["tile"] for r in report["rows"]] == [8, 16] and report["plots"] == [str(out / "accuracy_vs_tile.png")]
    assert (out / "table.csv").read_text().splitlines()[0] == "tile,accuracy_mean,accuracy_std,seeds"


@pytest.mark.parametrize("params,message", [
    (["r_wires=0,1"], r"^--param 'r_wires=0,1': 'r_wires' is not a circuit option; the options are tile, g_min, "),
    (["tile=1,64"], r"^--param tile: --tile must be an integer in \[2, 1024\], not 1$"),
    (["variation=0,-0.1"], r"^--param variation: --variation must be a number in \[0, 2\], not -0\.1$"),
    (["r_wire"], r"^--param 'r_wire' must be written NAME=V1,V2,\.\.\.$"),
    (["r_wire=0,0"], r"^--param r_wire: the value 0 is given twice$"),
    (["r_wire=1", "r_wire=2"], r"^--param r_wire is given twice$"),
])
def test_bad_parameters_are_named_before_any_task(params, message):
    with pytest.raises(ConfigError, match=message):
        parse_params(params)


def test_a_bad_combination_is_named_before_any_task_starts(small_model, tmp_path):
    params = parse_params(["stuck_on=0,0.6", "stuck_off=0.5"])
    with pytest.raises(ConfigError, match=r"^grid point stuck_on=0\.6, stuck_off=0\.5: --stuck-on 0\.6 and "
                                          r"--stuck-off 0\.5 add up to 1\.1: together they must be at most 1$"):
        sweep(small_model, params, 1, tmp_path / "bad", scheduler="serial")
    assert not (tmp_path / "bad").exists()


def test_a_sweep_never_writes_into_a_folder_it_did_not_make(small_model, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(BackendError, match=r"is not a neurocc output folder"):
        sweep(small_model, parse_params(["tile=8"]), 1, tmp_path / "mine", scheduler="serial")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_an_unreachable_scheduler_is_named(small_model, tmp_path, monkeypatch):
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "2s")
    with pytest.raises(BackendError, match=r"^--scheduler tcp://127\.0\.0\.1:1: no Dask scheduler answers there"):
        sweep(small_model, parse_params(["tile=8"]), 1, tmp_path / "far", scheduler="tcp://127.0.0.1:1")
