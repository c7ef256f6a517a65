"""evgen generate on RNTuple training data: --format, --device, the overlapped writer, report.html.

One tiny zjets-inn run is trained (from an RNTuple file) for the whole module.
"""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import torch
import uproot
from evgen_zjets_inn.synthetic import toy_zjets_events

from evgen.cli import main
from evgen.errors import InputError
from evgen.events import n_jets
from evgen.generation.produce import generate_from_run
from evgen.generation.run_dir import load_generator
from evgen.generation.write import prefetched, write_generated
from evgen.io import read_events, read_metadata, write_events
from tests.conftest import rntuple_copy

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = (
    "seed = 4\n[base]\nblocks = 2\nbins = 6\nhidden = 16\n[jets]\nblocks = 2\nbins = 6\nhidden = 16\n"
    "[training]\nepochs = 2\nbatch_size = 256\n"
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The training sample as an RNTuple, written the way uproot documents it."""
    tmp = tmp_path_factory.mktemp("data")
    ttree = write_events(tmp / "zjets_ttree.root", toy_zjets_events(3000, seed=5))
    return rntuple_copy(ttree, tmp / "zjets.root")


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    (tmp / "tiny.toml").write_text(TINY)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        args = [
            "train",
            "zjets-inn",
            "--data",
            str(data),
            "-o",
            str(tmp / "run"),
            "--config",
            str(tmp / "tiny.toml"),
        ]
        assert main([*args, "--no-progress"]) == 0
    finally:
        torch.set_num_threads(threads)
    return tmp / "run"


def _generate(run, out, *extra: str) -> int:
    return main(
        ["generate", str(run), "-n", "1500", "-o", str(out), "--chunk-size", "600", "--no-progress", *extra]
    )


def test_training_from_an_rntuple_draws_its_curves(run):
    curves = (run / "training_curves.png").read_bytes()
    assert curves.startswith(b"\x89PNG\r\n\x1a\n") and len(curves) > 5_000
    history = json.loads((run / "history.json").read_text())
    assert [len(history[s]) for s in ("base", "j2", "j3")] == [2, 2, 2]


def test_same_seed_same_events_on_the_cpu(run, tmp_path):
    assert _generate(run, tmp_path / "a.root", "--seed", "3", "--device", "cpu") == 0
    assert _generate(run, tmp_path / "b.root", "--seed", "3", "--device", "cpu") == 0
    a, b = read_events(tmp_path / "a.root"), read_events(tmp_path / "b.root")
    assert len(a) == 1500 and ak.array_equal(a, b)
    assert ak.all(ak.num(a.Muon) == 2) and set(np.unique(n_jets(a))) <= {1, 2, 3}
    assert _generate(run, tmp_path / "c.root", "--seed", "4") == 0
    assert not ak.array_equal(a.Jet.pt, read_events(tmp_path / "c.root").Jet.pt)
    generation = read_metadata(tmp_path / "a.root")["generation"]
    assert (generation["device"], generation["format"], generation["seed"]) == ("cpu", "ttree", 3)


def test_overlap_changes_nothing(run, tmp_path):
    generator = load_generator(run)
    for overlap in (True, False):
        generate_from_run(
            run,
            1500,
            tmp_path / f"{overlap}.root",
            chunk_size=400,
            seed=9,
            progress=False,
            generator=generator,
            overlap=overlap,
        )
    assert ak.array_equal(read_events(tmp_path / "True.root"), read_events(tmp_path / "False.root"))


def test_rntuple_output_holds_the_same_events_and_metadata(run, tmp_path):
    assert _generate(run, tmp_path / "t.root", "--seed", "5") == 0
    assert _generate(run, tmp_path / "r.root", "--seed", "5", "--format", "rntuple") == 0
    assert uproot.open(tmp_path / "r.root").classnames()["Events;1"] == "ROOT::RNTuple"
    assert uproot.open(tmp_path / "t.root").classnames()["Events;1"] == "TTree"
    assert ak.array_equal(read_events(tmp_path / "t.root"), read_events(tmp_path / "r.root"))
    meta_t, meta_r = read_metadata(tmp_path / "t.root"), read_metadata(tmp_path / "r.root")
    assert meta_r["generation"]["format"] == "rntuple" and meta_r["provenance"] == meta_t["provenance"]
    assert meta_r["run_dir"] == str(run.resolve())


def test_sharded_rntuple_production(run, tmp_path):
    out = tmp_path / "prod"
    assert (
        main(
            [
                "generate",
                str(run),
                "-n",
                "900",
                "-o",
                str(out),
                "--shards",
                "3",
                "--seed",
                "2",
                "--format",
                "rntuple",
                "--no-progress",
            ]
        )
        == 0
    )
    files = json.loads((out / "fileset.json").read_text())
    assert len(files) == 3
    for path in files:
        assert (
            uproot.open(out / path if not path.startswith("/") else path).classnames()["Events;1"]
            == "ROOT::RNTuple"
        )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_without_cuda_is_a_clear_error(run, tmp_path, capsys):
    assert _generate(run, tmp_path / "x.root", "--device", "cuda") == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert _generate(run, tmp_path / "auto.root", "--device", "auto", "--seed", "1") == 0
    assert read_metadata(tmp_path / "auto.root")["generation"]["device"] == "cpu"
    assert _generate(run, tmp_path / "y.root", "--device", "tpu") == 2
    assert "expected cpu, cuda, cuda:N or auto" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_same_seed_same_events_on_the_gpu(run, tmp_path):
    for name in ("a", "b"):
        assert _generate(run, tmp_path / f"{name}.root", "--seed", "3", "--device", "cuda") == 0
    a, b = read_events(tmp_path / "a.root"), read_events(tmp_path / "b.root")
    assert ak.array_equal(a, b)
    assert read_metadata(tmp_path / "a.root")["generation"]["device"] == "cuda"
    # the same model on the CPU: other random numbers, the same distribution
    assert _generate(run, tmp_path / "cpu.root", "--seed", "3", "--device", "cpu") == 0
    cpu = read_events(tmp_path / "cpu.root")
    for k in (1, 2, 3):
        assert abs(np.mean(n_jets(a) == k) - np.mean(n_jets(cpu) == k)) < 0.06


def test_validate_an_rntuple_writes_a_report_naming_the_run(run, data, tmp_path):
    assert _generate(run, tmp_path / "gen.root", "--seed", "1", "--format", "rntuple") == 0
    out = tmp_path / "val"
    assert (
        main(
            [
                "validate",
                str(data),
                str(tmp_path / "gen.root"),
                "-o",
                str(out),
                "--bins",
                "8",
                "--formats",
                "png",
            ]
        )
        == 0
    )
    page = (out / "report.html").read_text()
    from tests.validation.test_report import parse_report

    parsed = parse_report(page)
    assert {
        "overview",
        "fractions",
        "comparison-1j",
        "comparison-3j",
        "provenance",
        "training",
    } <= parsed.tables
    assert {"figure-1j", "figure-2j", "figure-3j", "figure-training"} <= set(parsed.figures)
    assert str(run.resolve()) in page and "zjets-inn" in page


def test_prefetched_keeps_order_and_raises():
    assert list(prefetched(lambda x: x * x, list(range(7)))) == [x * x for x in range(7)]

    def fail_at_three(x: int) -> int:
        if x == 3:
            raise InputError("chunk 3 broke")
        return x

    with pytest.raises(InputError, match="chunk 3 broke"):
        list(prefetched(fail_at_three, list(range(6))))


def test_a_failing_chunk_leaves_no_file(run, tmp_path):
    generator = load_generator(run)
    calls = []

    class Failing:
        name = "failing"

        def sample(self, n, seed=None):
            calls.append(seed)
            if len(calls) == 3:
                raise InputError("the model is broken")
            return generator.sample(n, seed=seed)

    with pytest.raises(InputError, match="broken"):
        write_generated(Failing(), 1000, tmp_path / "x.root", [1, 2, 3, 4], 250, progress=False)
    assert list(tmp_path.iterdir()) == []
