"""Hostile inputs: a compiled folder is data, never code; ``-o`` never destroys a user's files; bad model files and
options are one clean line. Each hole found by hand or by fuzzing has a test here; the fuzzer is test_fuzz.py."""

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

import ir
from compiler.cli import main
from ir import ModelFormatError, NeuroccError, SimulationError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def model(small_model):
    return small_model


@pytest.fixture(scope="module")
def spice(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile-spice") / "sp"
    assert main(["compile", str(model), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def fpga(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile-fpga") / "hw"
    assert main(["compile", str(model), "--target", "fpga", "--pe", "2", "-o", str(out)]) == 0
    return out


def copy(folder, tmp_path, name="f"):
    return shutil.copytree(folder, tmp_path / name)


def forge(folder, name):
    """Rewrite the manifest's SHA-256 of ``name`` to match its (edited) content, as an attacker would."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    path.write_text(json.dumps(manifest))


def error_of(argv, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err[len("error: "):-1]


# -- a compiled folder is data ------------------------------------------------------------------------------

@pytest.mark.parametrize("card", [".control", ".CONTROL", ".Control"])
@pytest.mark.parametrize("runner", ["shared", "subprocess"])
def test_control_blocks_never_reach_ngspice(spice, tmp_path, capsys, card, runner):
    folder = copy(spice, tmp_path)
    canary = tmp_path / "canary"
    cir = folder / "circuit.cir"
    lines = cir.read_text().splitlines()
    cir.write_text("\n".join([*lines[:-1], card, f"shell touch {canary}", ".endc", ".end"]) + "\n")
    argv = ["simulate", str(folder), "--limit", "2", "--runner", runner, "--quiet"]
    assert error_of(argv, capsys) == (f"folder '{folder}': circuit.cir was changed after compile; recompile or "
                                      "pass --trust-edits")
    assert error_of([*argv, "--trust-edits"], capsys) == (
        f"folder '{folder}': circuit.cir line {len(lines)}: {card!r} is not a card neurocc writes (r, v, e, d and b "
        "elements, .model d, .end; lower case)")
    forge(folder, "circuit.cir")  # a forged hash: the netlist that runs is still the one model.ncm derives
    assert main(argv) == 0
    capsys.readouterr()
    assert not canary.exists()


@pytest.mark.parametrize("line", ["*# shell touch {canary}", ".include /etc/passwd", ".lib /etc/passwd x",
                                  "rx a b 1 ; shell touch {canary}", "+ shell touch {canary}", ".param x=1",
                                  "ax a b model", "xsub a b sub"])
def test_only_neurocc_cards_reach_ngspice_even_with_trust_edits(spice, tmp_path, capsys, line):
    folder = copy(spice, tmp_path)
    canary = tmp_path / "canary"
    cir = folder / "circuit.cir"
    lines = cir.read_text().splitlines()
    cir.write_text("\n".join([lines[0], line.format(canary=canary), *lines[1:]]) + "\n")
    message = error_of(["simulate", str(folder), "--limit", "1", "--trust-edits", "--quiet"], capsys)
    assert re.fullmatch(rf"folder '{re.escape(str(folder))}': circuit\.cir line 2: '.{{1,40}}' is not a card "
                        r"neurocc writes \(r, v, e, d and b elements, \.model d, \.end; lower case\)", message)
    assert "root:" not in message and not canary.exists()


def test_a_hand_edited_netlist_runs_with_trust_edits(spice, tmp_path, capsys, caplog):
    folder = copy(spice, tmp_path)
    cir = folder / "circuit.cir"
    text = cir.read_text()
    first = next(line for line in text.splitlines() if line.startswith("rxb"))
    cir.write_text(text.replace(first, " ".join(first.split()[:3]) + " 1k"))  # a hand edit with an SI suffix
    assert main(["simulate", str(folder), "--limit", "3", "--trust-edits", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 3 and "edited by hand" in caplog.text


@pytest.mark.slow  # a fresh interpreter
def test_a_folder_spiceinit_is_never_read(spice, tmp_path, capsys, monkeypatch):
    folder = copy(spice, tmp_path)
    canary = tmp_path / "canary"
    (folder / ".spiceinit").write_text(f"* init\nshell touch {canary}\n")
    # A fresh process, started inside the folder, as a user who cd-ed into what someone sent would run it.
    proc = subprocess.run([sys.executable, "-m", "compiler.cli", "simulate", ".", "--limit", "1", "--quiet"],
                          cwd=folder, env={**os.environ, "PYTHONPATH": REPO}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert not canary.exists()


@pytest.mark.slow  # a Verilator build
def test_a_binary_planted_in_the_folder_is_never_run(fpga, tmp_path, capsys):
    folder = copy(fpga, tmp_path)
    canary = tmp_path / "canary"
    planted = folder / "verilator" / "Vneurocc_network"
    planted.parent.mkdir()
    planted.write_text(f"#!/bin/sh\ntouch {canary}\n")
    planted.chmod(0o755)
    os.utime(planted, (2**31, 2**31))  # newer than network.v
    assert main(["verify", str(folder), "--limit", "3", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] and not canary.exists()


@pytest.mark.parametrize("forged", [False, True])
def test_system_tasks_in_network_v_never_run(fpga, tmp_path, capsys, forged):
    folder = copy(fpga, tmp_path)
    canary = tmp_path / "canary"
    verilog = folder / "network.v"
    text = verilog.read_text()
    at = text.index("endmodule")
    verilog.write_text(text[:at] + f'initial $system("touch {canary}");\n' + text[at:])
    if forged:
        forge(folder, "network.v")
        expected = f"folder '{folder}': network.v does not match the Verilog of its model.ncm; recompile"
    else:
        expected = f"folder '{folder}': network.v was changed after compile; recompile"
    assert error_of(["verify", str(folder), "--limit", "2", "--quiet"], capsys) == expected
    assert not canary.exists()


def test_fpga_folders_take_no_trust_edits(fpga, capsys):
    assert error_of(["verify", str(fpga), "--trust-edits"], capsys) == (
        "--trust-edits accepts a hand-edited circuit.cir of a spice folder; an fpga folder's network.v is always "
        "checked against model.ncm: recompile instead")


@pytest.mark.parametrize("edit,message", [
    (lambda m: [], r"folder '{folder}' is not a compiled neurocc folder: it has no readable manifest\.json naming "
                   r"its target"),
    (lambda m: {k: v for k, v in m.items() if k != "files"},
     r"'{folder}/manifest\.json', field 'files' must be an object, not None"),
    (lambda m: {**m, "version": "2"}, r"folder '{folder}' holds a version '2' spice manifest; this neurocc reads "
                                      r"version 2: compile it again"),
    (lambda m: {**m, "files": {**m["files"], "../../etc/passwd": "0" * 64}},
     r"'{folder}/manifest\.json' lists '\.\./\.\./etc/passwd', which is not a file neurocc writes"),
    (lambda m: {**m, "inputs": {**m["inputs"], "scale": "big"}},
     r"folder '{folder}': manifest\.json does not match model\.ncm \(at 'inputs'\); recompile"),
    (lambda m: {k: v for k, v in m.items() if k != "outputs"},
     r"folder '{folder}': manifest\.json does not match model\.ncm \(at 'outputs'\); recompile"),
])
def test_tampered_manifests_are_one_line(spice, tmp_path, capsys, edit, message):
    folder = copy(spice, tmp_path)
    path = folder / "manifest.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    for command in ("simulate", "verify"):
        got = error_of([command, str(folder), "--limit", "1", "--quiet"], capsys)
        assert re.fullmatch(message.replace("{folder}", re.escape(str(folder))), got), got


def test_an_empty_netlist_and_a_linked_file_are_refused(spice, tmp_path, capsys):
    folder = copy(spice, tmp_path)
    (folder / "circuit.cir").write_text("")
    forge(folder, "circuit.cir")
    assert main(["simulate", str(folder), "--limit", "1", "--quiet"]) == 0  # what runs is derived from model.ncm
    assert error_of(["simulate", str(folder), "--limit", "1", "--quiet", "--trust-edits"], capsys) == (
        f"folder '{folder}': circuit.cir line 1 must be a title '* <words>' as neurocc writes it, not ''")
    (folder / "circuit.cir").unlink()
    (folder / "circuit.cir").symlink_to("/etc/passwd")
    assert error_of(["simulate", str(folder), "--quiet"], capsys) == (
        f"folder '{folder}': circuit.cir is a symbolic link; a compiled folder holds its own files")


def test_a_folder_that_is_not_neurocc_is_named(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text('{"format": "something-else"}')
    assert error_of(["verify", str(tmp_path)], capsys) == (
        f"folder '{tmp_path}' is not a compiled neurocc folder: it has no readable manifest.json naming its target")


# -- -o never destroys what neurocc did not write ---------------------------------------------------------

def test_output_into_a_folder_with_foreign_files_is_refused(model, tmp_path, capsys):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "ideas.txt").write_text("mine")
    assert error_of(["compile", str(model), "-o", str(notes)], capsys) == (
        f"-o '{notes}' is not a neurocc output folder; choose another -o or remove it yourself")
    assert (notes / "ideas.txt").read_text() == "mine" and sorted(os.listdir(notes)) == ["ideas.txt"]


def test_a_neurocc_folder_with_a_foreign_file_is_not_replaced(spice, model, tmp_path, capsys):
    folder = copy(spice, tmp_path)
    (folder / "my-notes.txt").write_text("mine")
    assert error_of(["compile", str(model), "-o", str(folder)], capsys) == (
        f"-o '{folder}' holds 'my-notes.txt', which neurocc did not write; choose another -o or remove it yourself")
    assert (folder / "my-notes.txt").read_text() == "mine"


def test_a_folder_of_the_other_target_is_not_replaced(spice, model, tmp_path, capsys):
    folder = copy(spice, tmp_path)
    assert error_of(["compile", str(model), "--target", "fpga", "-o", str(folder)], capsys) == (
        f"-o '{folder}' is a neurocc 'spice' folder, not 'fpga'; choose another -o or remove it yourself")


def test_a_neurocc_folder_of_the_same_target_is_replaced_whole(spice, model, tmp_path, capsys):
    folder = copy(spice, tmp_path)
    (folder / "verify.png").write_bytes(b"\x89PNG\r\n\x1a\nold")
    before = (folder / "circuit.cir").read_bytes()
    assert main(["compile", str(model), "-o", str(folder), "--r-wire", "1"]) == 0
    assert (folder / "circuit.cir").read_bytes() != before and not (folder / "verify.png").exists()
    assert sorted(os.listdir(folder)) == ["circuit.cir", "conductances.png", "manifest.json", "model.ncm",
                                          "source.ncm"]
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []  # no temporary folder left behind
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["circuit.cir", "conductances.png", "model.ncm", "source.ncm"]


def test_the_current_directory_the_input_and_links_are_refused(model, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine")
    inner = work / "m.ncm"
    shutil.copy(model, inner)
    monkeypatch.chdir(work)
    cases = [
        (".", "-o '.' is the current directory; choose a new folder"),
        ("..", "-o '..' is a folder above the current directory; choose a new folder"),
        (str(work), f"-o '{work}' is the current directory; choose a new folder"),
        ("m.ncm", "-o 'm.ncm' is the input; choose another -o"),
    ]
    for out, message in cases:
        assert error_of(["compile", "m.ncm", "-o", out], capsys) == message
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert error_of(["compile", "m.ncm", "-o", str(link)], capsys) == (
        f"-o '{link}' is a symbolic link: give the folder itself")
    assert error_of(["compile", "m.ncm", "-o", "keep.txt/sub"], capsys) == (
        f"-o 'keep.txt/sub' lies under '{work}/keep.txt', which is a file, not a folder")
    box = tmp_path / "box"
    box.mkdir()
    shutil.copy(model, box / "m.ncm")
    assert error_of(["compile", str(box / "m.ncm"), "-o", str(box)], capsys) == (
        f"-o '{box}' is a folder holding the input '{box}/m.ncm'; choose another -o")
    assert os.listdir(box) == ["m.ncm"]
    assert sorted(os.listdir(work)) == ["keep.txt", "m.ncm"] and (work / "keep.txt").read_text() == "mine"


def test_file_outputs_replace_only_their_own_kind(model, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert error_of(["train", "--epochs", "0", "-o", str(notes)], capsys) == (
        f"-o must be a new file or a neurocc model to replace, not {notes}, which neurocc did not write")
    assert error_of(["train", "--epochs", "0", "-o", str(tmp_path / "m.ncm"), "--plot", str(notes)], capsys) == (
        f"--plot must be a new file or a PNG image to replace, not {notes}, which neurocc did not write")
    assert error_of(["train", "--epochs", "0", "-o", str(notes / "m.ncm")], capsys) == (
        f"-o must be a path in a folder, not {notes}/m.ncm (under the file '{notes}')")
    assert error_of(["verify", str(tmp_path), "--plot", str(tmp_path)], capsys) == (
        f"--plot must name a file, not the folder {tmp_path}")
    assert notes.read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_exchange_swaps_two_folders_atomically(tmp_path):
    from backends.folder import exchange

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("b")
    assert exchange(tmp_path / "a", tmp_path / "b")  # Linux has renameat2
    assert (tmp_path / "a" / "x").read_text() == "b" and (tmp_path / "b" / "x").read_text() == "a"


# -- model files: limits before work ------------------------------------------------------------------------

def _npy_header(shape, dtype="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _bomb(path, model, entry_data, zeros=0):
    """``model``'s archive with its first array's entry replaced by ``entry_data`` (and ``zeros`` zero bytes after
    it, written in chunks)."""
    with zipfile.ZipFile(model) as zf:
        entries = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    first = sorted(e for e in entries if e.startswith("arrays/"))[0]
    entries[first] = entry_data
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in entries.items():
            with zf.open(name, "w", force_zip64=True) as f:
                f.write(data)
                for _ in range(zeros // (1 << 24) if name == first else 0):
                    f.write(bytes(1 << 24))
    return first


@pytest.mark.parametrize("kind", ["declared", "zeros"])
def test_a_2mb_zip_bomb_is_refused_before_it_is_read(model, tmp_path, kind):
    path = tmp_path / "bomb.ncm"
    if kind == "declared":  # a header declaring 10^12 elements, and 2 MB of noise behind it
        data = _npy_header((10**6, 10**6)) + np.random.default_rng(0).bytes(2 << 20)
        first = _bomb(path, model, data)
        assert 2e6 < path.stat().st_size < 3e6
    else:  # 128 MiB of real zeros behind an honest header, deflated to an eighth of a megabyte
        first = _bomb(path, model, _npy_header((1 << 24,)), zeros=1 << 27)
        assert path.stat().st_size < 0.5e6
    tracemalloc.start()
    with pytest.raises(ModelFormatError) as caught:
        ir.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 << 20  # nothing near the declared size was allocated
    name = re.escape(f"model file '{path}'")
    if kind == "declared":
        assert re.fullmatch(rf"array '.+' of {name} declares shape \(1000000, 1000000\): 1000000000000 elements, "
                            r"more than the 268435456 allowed", str(caught.value))
    else:
        assert re.fullmatch(rf"array '.+' of {name} declares 134217728 bytes, more than a \d+-byte model file may "
                            r"hold \(\d+ left\)", str(caught.value))
    assert first.startswith("arrays/")


def test_deep_json_is_refused_without_recursion(model, tmp_path):
    path = tmp_path / "deep.ncm"
    with zipfile.ZipFile(model) as zf:
        entries = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    doc = json.loads(entries["neurocc.json"])
    doc["meta"]["x"] = "DEEP"
    entries["neurocc.json"] = json.dumps(doc).replace('"DEEP"', "[" * 100_000 + "]" * 100_000).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    with pytest.raises(ModelFormatError, match=r"^model file '.+', entry 'neurocc\.json', nests 100002 levels deep, "
                                               r"more than the 32 allowed$"):
        ir.load(path)


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["nodes"][0].update(name=None), r"'nodes'\[0\], field 'name' must be a string, not None"),
    (lambda d: d["nodes"][0].update(name=7), r"'nodes'\[0\], field 'name' must be a string, not 7"),
    (lambda d: d["nodes"][1]["fields"].update(in_features="64"),
     r"node 'fc1', field 'in_features' must be an integer, not '64'"),
    (lambda d: d["nodes"][0]["fields"].update(shape=[64.5]), r"node 'x', field 'shape'\[0\] must be an integer, "
                                                             r"not 64\.5"),
    (lambda d: next(n for n in d["nodes"] if n["kind"] == "learn.rule")["fields"].update(hyper=[["lr", [1]]]),
     r"node 'rule', field 'hyper'\[0\]\[1\] must be int or float or str or bool, not \[1\]"),
    (lambda d: d["edges"][0].update(src_port=3), r"'edges'\[0\], field 'src_port' must be a string, not 3"),
    (lambda d: d["meta"].update(dataset=["digits"]), r"metadata 'dataset' must be a string, not \['digits'\]"),
    (lambda d: d["meta"].update(seed=2**64), r"'meta'\['seed'\] must be an integer that fits 64 bits, not "
                                             r"18446744073709551616"),
    (lambda d: d["meta"].update(seed="0"), r"metadata 'seed' must be an integer, not '0'"),
    (lambda d: d.update(params=d["params"] + d["params"][:1]), r"parameter '.+' is listed twice"),
    (lambda d: d.update(nodes=d["nodes"][1:]), r"node 'x' does not exist"),
])
def test_mistyped_fields_are_one_line(model, tmp_path, edit, message):
    path = tmp_path / "bad.ncm"
    with zipfile.ZipFile(model) as zf:
        entries = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    doc = json.loads(entries["neurocc.json"])
    edit(doc)
    entries["neurocc.json"] = json.dumps(doc).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    with pytest.raises(ModelFormatError) as caught:
        ir.load(path)
    assert re.search(message, str(caught.value)) and "\n" not in str(caught.value), str(caught.value)


def test_an_out_of_range_bias_is_named_by_quantize(small_graph):
    from compiler.passes import PassManager
    from compiler.pipelines import quantize_pipeline

    small_graph.params["fc1.bias"][1] = 1e300
    with pytest.raises(NeuroccError, match=r"^layer 'fc1': biases up to 1e\+300 do not fit a 62-bit accumulator "
                                           r"at \d+ fractional bits$"):
        PassManager(quantize_pipeline(np.ones((4, 3)))).run(small_graph)


@pytest.mark.parametrize("header", [b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,", b"{'descr': 1}",
                                    b"__import__('os').system('true')", b"(" * 5000, b"{'descr': '<f8'}"])
def test_garbage_npy_headers_are_one_line(model, tmp_path, header):
    raw = header.ljust(118) + b"\n"
    path = tmp_path / "h.ncm"
    _bomb(path, model, b"\x93NUMPY\x01\x00" + len(raw).to_bytes(2, "little") + raw + bytes(24))
    with pytest.raises(ModelFormatError, match=r"^model file '.+' is corrupted: array '.+' has no readable \.npy "
                                               r"header \(.+\)$"):
        ir.load(path)


def test_a_zip_version_python_cannot_read_is_one_line(model, tmp_path):
    data = bytearray(model.read_bytes())
    at = data.index(b"PK\x01\x02")  # the first central directory entry: "version needed to extract" is at +6
    data[at + 6: at + 8] = (84).to_bytes(2, "little")
    path = tmp_path / "v84.ncm"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=r"^model file '.+' is truncated or corrupted: it is not a readable zip "
                                               r"archive$"):
        ir.load(path)


def test_tiny_and_huge_weights_quantize_or_are_named(small_graph):
    from compiler.passes import PassManager
    from compiler.pipelines import quantize_pipeline

    tiny = small_graph
    tiny.params["fc1.weight"][:] = 1e-320  # denormal: every weight rounds to zero, as it must
    PassManager(quantize_pipeline(np.ones((4, 3)))).run(tiny)
    assert (tiny.params["fc1.weight_q"] == 0).all()


# -- names ----------------------------------------------------------------------------------------------------

def _renamed(model, path, names):
    graph = ir.load(model)
    doc_nodes = [(names.get(n, n), op) for n, op in graph.nodes()]
    fields = {}
    for new, op in doc_nodes:
        values = op.fields()
        for key in ("target", "source"):
            if key in values:
                values[key] = names.get(values[key], values[key])
        fields[new] = type(op)(**values)
    edges = [(names.get(s, s), sp, names.get(d, d), dp) for s, sp, d, dp in graph.edges()]
    renamed = ir.Graph.from_parts(graph.name, list(fields.items()), edges)
    renamed.params, renamed.meta = graph.params, graph.meta
    ir.save(renamed, path)
    return path


@pytest.mark.slow  # wired crossbars in ngspice
@pytest.mark.parametrize("names", [{"x": "fc1_t0_rp0"}, {"x": "0x", "fc1": "1 layer", "act1": "Act\nOne"}])
def test_node_names_cannot_collide_or_break_the_netlist(model, tmp_path, capsys, names):
    path = _renamed(model, tmp_path / "renamed.ncm", names)
    out = tmp_path / "sp"
    assert main(["compile", str(path), "-o", str(out), "--r-wire", "1", "--tile", "16"]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--limit", "3", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(names.values()) <= set(manifest["names"])


def test_inspect_escapes_names(model, tmp_path, capsys):
    path = _renamed(model, tmp_path / "renamed.ncm", {"fc1": "\x1b[31mred\x1b[0m\nline"})
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "\x1b" not in text and '%"\\u001b[31mred\\u001b[0m\\nline" = nn.dense' in text


# -- every option is checked where it is parsed ---------------------------------------------------------------

@pytest.mark.parametrize("argv,message", [
    (["compile", "m.ncm", "-o", "o", "--opamp-gain", "0"], "--opamp-gain must be positive, not 0"),
    (["compile", "m.ncm", "-o", "o", "--opamp-gain", "nan"], "--opamp-gain must be positive, not nan"),
    (["compile", "m.ncm", "-o", "o", "--tile", "1000000000"], r"--tile must be an integer in \[2, 1024\], not "
                                                              "1000000000"),
    (["compile", "m.ncm", "-o", "o", "--tile", "1e9"], r"--tile must be an integer in \[2, 1024\], not 1e9"),
    (["compile", "m.ncm", "-o", "o", "--variation", "50"], r"--variation must be a number in \[0, 2\], not 50"),
    (["compile", "m.ncm", "-o", "o", "--stuck-on", "0.6", "--stuck-off", "0.6"],
     "--stuck-on 0.6 and --stuck-off 0.6 add up to 1.2: together they must be at most 1"),
    (["compile", "m.ncm", "-o", "o", "--stuck-on", "-0.1"], r"--stuck-on must be a number in \[0, 1\], not -0.1"),
    (["compile", "m.ncm", "-o", "o", "--g-min", "1e-4", "--g-max", "1e-4"], "--g-min 0.0001 must be below --g-max "
                                                                            "0.0001"),
    (["compile", "m.ncm", "-o", "o", "--levels", "1"], r"--levels must be 0 \(continuous\) or an integer in "
                                                       r"\[2, 65536\], not 1"),
    (["compile", "m.ncm", "-o", "o", "--r-wire", "-1"], "--r-wire must be zero or positive, not -1"),
    (["compile", "m.ncm", "-o", "o", "--seed", "-1"], r"--seed must be an integer in \[0, 4294967295\], not -1"),
    (["compile", "m.ncm", "-o", "o", "--seed", str(2**64)], r"--seed must be an integer in \[0, 4294967295\], not "
                                                            "18446744073709551616"),
    (["compile", "m.ncm", "-o", "o", "--pe", "0"], r"--pe must be an integer in \[1, 1024\] or auto, not 0"),
    (["compile", "m.ncm", "-o", "o", "--lr-shift", "31"], r"--lr-shift must be an integer in \[0, 30\], not 31"),
    (["train", "-o", "m.ncm", "--hidden", "200000000"], r"--hidden must be an integer in \[1, 65536\], not "
                                                        "200000000"),
    (["train", "-o", "m.ncm", "--seed", "-1"], r"--seed must be an integer in \[0, 4294967295\], not -1"),
    (["train", "-o", "m.ncm", "--epochs", "-1"], r"--epochs must be an integer in \[0, 100000\], not -1"),
    (["train", "-o", "m.ncm", "--batch-size", "0"], r"--batch-size must be an integer in \[1, 1048576\], not 0"),
    (["simulate", "f", "--limit", "0"], "--limit must be a positive integer, not 0"),
    (["simulate", "f", "--limit", "-1"], "--limit must be a positive integer, not -1"),
    (["simulate", "f", "--runner", "bash"], "--runner must be one of shared, subprocess, not bash"),
    (["simulate", "f", "--epochs", "0"], r"--epochs must be an integer in \[1, 10000\], not 0"),
    (["verify", "f", "--learn-steps", "0"], r"--learn-steps must be an integer in \[1, 10000000\], not 0"),
    (["eval", "m.ncm", "--weight-bits", "0"], r"--weight-bits must be an integer in \[2, 32\], not 0"),
    (["train"], "the following arguments are required: -o/--output"),
    (["compile", "m.ncm", "-o", "o", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_options_are_checked_where_they_are_parsed(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert re.fullmatch(message, error_of(argv, capsys))
    assert os.listdir(tmp_path) == []


@pytest.mark.slow  # two training processes
def test_training_is_the_same_with_any_thread_count(tmp_path):
    digests = set()
    for threads in ("1", "3"):
        path = tmp_path / f"t{threads}.ncm"
        env = {**os.environ, "OMP_NUM_THREADS": threads, "PYTHONPATH": REPO}
        subprocess.run([sys.executable, "-m", "compiler.cli", "train", "--rule", "bp", "--epochs", "2", "--hidden",
                        "32", "-o", str(path), "--quiet"], env=env, check=True, capture_output=True)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_errors_name_the_place_not_a_traceback(tmp_path):
    with pytest.raises(SimulationError, match=r"^the netlist line 2: 'shell' is not a card neurocc writes"):
        from circuits.analog.ngspice import run_batch

        run_batch("* t\nshell touch x\n.end\n", [])
