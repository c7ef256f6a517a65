"""The shared training loop: exact resume, Ctrl-C, divergence, schedule, config validation."""

from __future__ import annotations

import json
import signal

import pytest
import torch

from evgen.errors import ConfigError, TrainingDivergedError
from evgen.training import (
    BalancedSource,
    TensorSource,
    TrainConfig,
    Trainer,
    from_mapping,
    load_checkpoint,
    load_config_file,
)


def _data(n: int = 96) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(n, generator=g)
    w = torch.rand(n, generator=g) + 0.5
    return x, y, w


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    # dropout makes the result depend on torch's global RNG, which resume must restore too
    return torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Dropout(0.2), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    )


def _loss(model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    x, y, w = batch
    return ((model(x).squeeze(-1) - y) ** 2 * w).sum() / w.sum()


CONFIG = TrainConfig(epochs=4, batch_size=16, lr_start=1e-3, lr_max=1e-2)


def _train(tmp_path, name: str, model_seed: int = 0, **kwargs) -> tuple[torch.nn.Module, list]:
    model = _model(model_seed)
    trainer = Trainer(
        model, _loss, CONFIG, seed=7, checkpoint=tmp_path / f"{name}.pt", progress=False, **kwargs
    )
    return model, trainer.fit(TensorSource(*_data()))


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(
        torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_interrupted_run_resumes_to_the_identical_result(tmp_path):
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN in a background job
    reference, ref_history = _train(tmp_path, "reference")

    def ctrl_c(info):
        if info["epoch"] == 2 and info["batch"] == 3:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt, match="epoch 2, batch 3"):
        _train(tmp_path, "resumed", on_batch_end=ctrl_c)
    state = load_checkpoint(tmp_path / "resumed.pt")
    assert (state["epoch"], state["batch"]) == (1, 3)
    # a fresh process would build the model from scratch: use a different init to prove it is restored
    resumed, history = _train(tmp_path, "resumed", model_seed=99)
    assert _same(reference, resumed)
    assert [r["loss"] for r in history] == [r["loss"] for r in ref_history]
    assert signal.getsignal(signal.SIGINT) is before  # the loop's handler is gone again


def test_crash_after_an_epoch_resumes_from_its_checkpoint(tmp_path):
    reference, _ = _train(tmp_path, "reference")

    class Crash(Exception):
        pass

    def crash(info):
        if info["epoch"] == 2:
            raise Crash

    with pytest.raises(Crash):
        _train(tmp_path, "crashed", on_epoch_end=crash)
    assert load_checkpoint(tmp_path / "crashed.pt")["epoch"] == 2
    resumed, history = _train(tmp_path, "crashed", model_seed=5)
    assert _same(reference, resumed)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]


def test_same_seed_same_result_and_seed_matters(tmp_path):
    a, _ = _train(tmp_path, "a")
    b, _ = _train(tmp_path, "b")
    assert _same(a, b)
    other = _model(0)
    Trainer(other, _loss, CONFIG, seed=8, progress=False).fit(TensorSource(*_data()))
    assert not _same(a, other)


def test_complete_checkpoint_returns_without_training(tmp_path):
    model, history = _train(tmp_path, "done")
    again, history_again = _train(tmp_path, "done", model_seed=3)
    assert _same(model, again)
    assert history_again == history


def test_nan_loss_raises_and_keeps_the_last_good_checkpoint(tmp_path):
    calls = {"n": 0}
    steps = 96 // 16

    def poisoned(model, batch):
        calls["n"] += 1
        loss = _loss(model, batch)
        return loss * float("nan") if calls["n"] == 2 * steps + 2 else loss  # epoch 3, batch 2

    model = _model()
    trainer = Trainer(model, poisoned, CONFIG, seed=7, checkpoint=tmp_path / "nan.pt", progress=False)
    with pytest.raises(TrainingDivergedError, match=r"epoch 3, batch 2.*after epoch 2"):
        trainer.fit(TensorSource(*_data()))
    state = load_checkpoint(tmp_path / "nan.pt")
    assert state["epoch"] == 2 and state["batch"] == 0
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_changed_settings_refuse_to_resume(tmp_path):
    _train(tmp_path, "run")
    trainer = Trainer(
        _model(),
        _loss,
        TrainConfig(epochs=5, batch_size=16),
        seed=7,
        checkpoint=tmp_path / "run.pt",
        progress=False,
    )
    with pytest.raises(ConfigError, match="epochs: 4 then, 5 now"):
        trainer.fit(TensorSource(*_data()))


def test_one_cycle_schedule_and_adam_betas():
    model = _model()
    cfg = TrainConfig(epochs=10, batch_size=32, lr_start=1e-4, lr_max=1e-3, betas=(0.9, 0.99))
    lrs, betas = [], []

    def record(info):
        group = info["trainer"].optimizer.param_groups[0]
        lrs.append(group["lr"])
        betas.append(group["betas"])

    trainer = Trainer(model, _loss, cfg, progress=False, on_batch_end=record)
    trainer.fit(TensorSource(*_data()))
    steps = 10 * 3
    assert len(lrs) == steps
    assert max(lrs) == pytest.approx(1e-3, rel=1e-2)
    # recorded after each scheduler step: the peak sits one step before 30 % of the steps
    assert lrs.index(max(lrs)) == round(0.3 * steps) - 2
    assert lrs[0] < max(lrs) / 5
    assert lrs[-1] < 1e-5  # annealed far below lr_start
    assert set(betas) == {(0.9, 0.99)}  # momentum cycling is off: Table 1's betas throughout


def test_balanced_source_draws_equal_numbers_per_group():
    groups = torch.tensor([1] * 50 + [2] * 20 + [3] * 7)
    source = BalancedSource(torch.arange(77), groups=groups)
    assert len(source) == 21
    g = torch.Generator().manual_seed(0)
    (first,) = source.epoch(0, g)
    (second,) = source.epoch(1, g)
    for drawn in (first, second):
        assert torch.bincount(groups[drawn]).tolist() == [0, 7, 7, 7]
        assert len(set(drawn.tolist())) == 21
    assert not torch.equal(first, second)
    with pytest.raises(ConfigError, match="per_group = 8"):
        BalancedSource(torch.arange(77), groups=groups, per_group=8)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"epochs": -1}, "training.epochs = -1"),
        ({"batch_size": "big"}, "training.batch_size = 'big': expected an integer"),
        ({"schedule": "warp"}, "training.schedule = 'warp'"),
        ({"betas": [0.9, 1.5]}, "training.betas"),
        ({"learning_rate": 1}, "unknown option training.learning_rate"),
        ({"lr_max": 1e-6}, "training.lr_max = 1e-06: must be at least lr_start"),
    ],
)
def test_nonsense_options_name_key_and_value(options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        from_mapping(TrainConfig, options, section="training")


def test_config_files_toml_and_json(tmp_path):
    (tmp_path / "a.toml").write_text("[training]\nepochs = 3\nbetas = [0.5, 0.9]\n")
    (tmp_path / "a.json").write_text(json.dumps({"training": {"epochs": 3, "betas": [0.5, 0.9]}}))
    toml = from_mapping(TrainConfig, load_config_file(tmp_path / "a.toml")["training"])
    assert toml == from_mapping(TrainConfig, load_config_file(tmp_path / "a.json")["training"])
    assert toml.betas == (0.5, 0.9)
    (tmp_path / "bad.toml").write_text("[training\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config_file(tmp_path / "bad.toml")
    (tmp_path / "a.yaml").write_text("training: {}")
    with pytest.raises(ConfigError, match="unknown config format"):
        load_config_file(tmp_path / "a.yaml")


def test_cuda_request_without_cuda_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        Trainer(_model(), _loss, TrainConfig(device="cuda"), progress=False)


@pytest.mark.gpu
def test_cuda_training_checkpoint_resumes_on_cpu(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cfg = TrainConfig(epochs=2, batch_size=16, device="cuda")
    model = _model()
    Trainer(model, _loss, cfg, seed=7, checkpoint=tmp_path / "gpu.pt", progress=False).fit(
        TensorSource(*_data())
    )
    assert next(model.parameters()).is_cuda
    state = load_checkpoint(tmp_path / "gpu.pt", "cpu")
    cpu = _model()
    cpu.load_state_dict(state["model"])
    # device is not part of the fingerprint: the finished CUDA run is accepted on the CPU
    again = Trainer(
        cpu,
        _loss,
        TrainConfig(epochs=2, batch_size=16),
        seed=7,
        checkpoint=tmp_path / "gpu.pt",
        progress=False,
    )
    assert len(again.fit(TensorSource(*_data()))) == 2


def test_keep_best_restores_the_epoch_of_lowest_validation_loss(tmp_path):
    # validation targets 0: the better the model fits the training data, the worse it does there,
    # so the validation loss rises after the first epoch and keep_best must go back to it
    x, y, w = _data()
    validation = (
        torch.randn(64, 3, generator=torch.Generator().manual_seed(5)),
        torch.zeros(64),
        torch.ones(64),
    )
    cfg = TrainConfig(epochs=6, batch_size=16, lr_start=1e-3, lr_max=1e-2, keep_best=True)

    def fit(config: TrainConfig, checkpoint=None):
        model = _model(0)
        trainer = Trainer(
            model, _loss, config, seed=7, validation=validation, checkpoint=checkpoint, progress=False
        )
        return model, trainer, trainer.fit(TensorSource(x, y, w))

    model, trainer, history = fit(cfg, tmp_path / "best.pt")
    val = [r["val_loss"] for r in history]
    best = min(range(len(val)), key=val.__getitem__)
    assert val[-1] > val[best] * 1.05  # the setting really overfits
    assert trainer.evaluate(validation) == pytest.approx(val[best], rel=1e-6)
    assert [r["kept"] for r in history] == [i == best for i in range(len(val))]
    plain, plain_trainer, _ = fit(TrainConfig(**{**cfg.__dict__, "keep_best": False}))
    assert plain_trainer.evaluate(validation) == pytest.approx(val[-1], rel=1e-6)
    # a finished run rerun from its checkpoint comes back with the kept weights
    again, _, _ = fit(cfg, tmp_path / "best.pt")
    assert _same(again, model)
