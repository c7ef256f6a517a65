"""Sharded generation: disjoint event numbers covering 1…N, own seed streams, same files for any --jobs."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import uproot

from evgen.cli import main
from evgen.errors import ConfigError
from evgen.generation.shards import (
    COFFEA_FILESET,
    FILESET,
    PRODUCTION,
    Shard,
    plan_shards,
    read_fileset,
    shard_file_name,
)
from evgen.io import read_metadata

N = 1000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    import torch
    from evgen_zjets_inn.generator import ZJetsINN
    from evgen_zjets_inn.synthetic import toy_zjets_events

    torch.set_num_threads(1)
    tiny = {
        "base": {"blocks": 2, "bins": 4, "hidden": 16},
        "jets": {"blocks": 1, "bins": 4, "hidden": 8},
        "training": {"epochs": 1, "batch_size": 256, "threads": 1},
        "data": {"validation_fraction": 0.0},
    }
    gen = ZJetsINN(tiny)
    gen.fit(toy_zjets_events(1500, seed=0), progress=False)
    path = tmp_path_factory.mktemp("shards") / "run"
    gen.save(path)
    return path


def _branches(path) -> dict[str, np.ndarray]:
    tree = uproot.open(path)["Events"]
    return {k: ak.to_numpy(ak.flatten(tree[k].array(), axis=None)) for k in tree.keys()}


def _generate(run_dir, out, *extra) -> int:
    return main(
        [
            "generate",
            str(run_dir),
            "-n",
            str(N),
            "-o",
            str(out),
            "--chunk-size",
            "150",
            "--no-progress",
            *extra,
        ]
    )


def test_plan_gives_disjoint_event_numbers_covering_1_to_n():
    plan = plan_shards(10, 3, seed=5)
    assert [(s.first_event, s.last_event, s.n, s.luminosity_block) for s in plan] == [
        (1, 4, 4, 1),
        (5, 8, 4, 2),
        (9, 10, 2, 3),
    ]
    numbers = np.concatenate(
        [np.arange(s.first_event, s.last_event + 1) for s in plan_shards(10**6 + 7, 13, 1)]
    )
    assert np.array_equal(numbers, np.arange(1, 10**6 + 8))
    with pytest.raises(ConfigError, match="fill only 5 shards"):
        plan_shards(10, 6, seed=1)  # ⌈10/6⌉ = 2 events per shard leaves shard 5 empty
    with pytest.raises(ConfigError, match="--shard-index 3"):
        Shard(3, 3, 10, 1)


def test_every_chunk_of_every_shard_has_its_own_seed():
    seeds = [s.chunk_seeds(10) for s in plan_shards(200, 4, seed=9)]
    flat = [x for shard in seeds for x in shard]
    assert len(flat) == 20 and len(set(flat)) == 20
    assert all(0 <= x < 2**63 for x in flat)
    assert seeds[2] == Shard(2, 4, 200, 9).chunk_seeds(10)  # depends only on (seed, shard, chunk)
    assert seeds[2] != Shard(2, 4, 200, 10).chunk_seeds(10)


def test_shards_cover_the_production_and_do_not_depend_on_jobs(run_dir, tmp_path):
    assert _generate(run_dir, tmp_path / "serial", "--shards", "3", "--seed", "5") == 0
    assert _generate(run_dir, tmp_path / "parallel", "--shards", "3", "--seed", "5", "--jobs", "2") == 0
    names = [shard_file_name(i, 3) for i in range(3)]
    assert names == ["events_000.root", "events_001.root", "events_002.root"]
    events, lumis = [], []
    for i, name in enumerate(names):
        serial, parallel = _branches(tmp_path / "serial" / name), _branches(tmp_path / "parallel" / name)
        assert serial.keys() == parallel.keys()
        for key in serial:
            np.testing.assert_array_equal(serial[key], parallel[key], err_msg=f"{name}: {key}")
        events.append(serial["event"])
        lumis.append(np.unique(serial["luminosityBlock"]).tolist())
        meta = read_metadata(tmp_path / "serial" / name)["generation"]
        assert meta["seed"] == 5 and meta["shard"]["index"] == i and meta["n"] == len(serial["event"])
    assert lumis == [[1], [2], [3]]
    assert np.array_equal(np.concatenate(events), np.arange(1, N + 1))  # disjoint, in order, covering 1…N
    # shards differ from each other: own seed streams, not copies
    first = [_branches(tmp_path / "serial" / n)["Muon_pt"][:50] for n in names]
    assert not np.allclose(first[0], first[1]) and not np.allclose(first[1], first[2])


def test_a_single_shard_equals_the_same_shard_of_the_whole_production(run_dir, tmp_path):
    assert _generate(run_dir, tmp_path / "all", "--shards", "3", "--seed", "7") == 0
    assert (
        _generate(run_dir, tmp_path / "one.root", "--shards", "3", "--shard-index", "1", "--seed", "7") == 0
    )
    one, same = _branches(tmp_path / "one.root"), _branches(tmp_path / "all" / shard_file_name(1, 3))
    for key in same:
        np.testing.assert_array_equal(one[key], same[key])
    assert (one["event"].min(), one["event"].max()) == (335, 668)  # 1 + ⌈1000/3⌉ …


def test_fileset_loads_with_uproot_dask_and_reruns_resume(run_dir, tmp_path):
    out = tmp_path / "prod"
    assert _generate(run_dir, out, "--shards", "3") == 0  # random production seed, recorded
    seed = json.loads((out / PRODUCTION).read_text())["seed"]
    fileset = json.loads((out / FILESET).read_text())
    assert list(fileset.values()) == ["Events"] * 3
    coffea = json.loads((out / COFFEA_FILESET).read_text())
    ((dataset, spec),) = coffea.items()
    assert dataset == "prod" and spec["files"] == fileset
    assert spec["metadata"]["n_events"] == N and spec["metadata"]["seed"] == seed
    assert read_fileset(out / COFFEA_FILESET) == read_fileset(out / FILESET) == fileset

    # a rerun finds the production complete and rewrites nothing; another seed is refused
    times = {p: (out / shard_file_name(i, 3)).stat().st_mtime_ns for i, p in enumerate(fileset)}
    (out / shard_file_name(2, 3)).unlink()  # as if interrupted before the last shard
    assert _generate(run_dir, out, "--shards", "3") == 0
    assert read_metadata(out / shard_file_name(2, 3))["generation"]["seed"] == seed
    assert [(out / shard_file_name(i, 3)).stat().st_mtime_ns for i in range(2)] == list(times.values())[:2]
    assert _generate(run_dir, out, "--shards", "3", "--seed", str(seed + 1)) == 2

    pytest.importorskip("dask_awkward")
    dak = uproot.dask(fileset, step_size=400)
    assert dak.npartitions >= 3
    assert len(dak["event"].compute()) == N
    assert sorted(dak["event"].compute().tolist()) == list(range(1, N + 1))


def test_bad_shard_options_are_one_line_errors(run_dir, tmp_path, capsys):
    assert _generate(run_dir, tmp_path / "a.root", "--shards", "3", "--shard-index", "0") == 2
    assert "--shard-index needs --seed" in capsys.readouterr().err
    assert _generate(run_dir, tmp_path / "a.root", "--shard-index", "0", "--seed", "1") == 2
    assert "--shard-index needs --shards" in capsys.readouterr().err
    assert _generate(run_dir, tmp_path / "a.root", "--jobs", "2") == 2
    assert "--jobs runs several shards" in capsys.readouterr().err
    assert _generate(run_dir, tmp_path / "d", "--shards", "999") == 2
    assert "fill only" in capsys.readouterr().err


def test_validate_reads_a_fileset(tmp_path):
    """`evgen validate REF fileset.json` validates every file a sharded production lists."""
    import json

    from evgen.cli import main
    from evgen.generation.shards import write_fileset
    from evgen.io import write_events
    from tests.conftest import make_collider_events

    parts = [
        write_events(tmp_path / f"part{i}.root", make_collider_events(300, seed=60 + i)) for i in range(3)
    ]
    plain, _ = write_fileset(tmp_path, parts, dataset="test")
    ref = write_events(tmp_path / "ref.root", make_collider_events(500, seed=70))
    out = tmp_path / "val"
    assert main(["validate", str(ref), str(plain), "-o", str(out), "--no-plots", "--bins", "8"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["observables"]
    assert main(["data", "info", str(plain), "--json"]) == 0
