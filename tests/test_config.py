import pytest

from serkit.config import dump_yaml, from_dict, load_yaml, parse_overrides, to_dict
from serkit.errors import ConfigError
from serkit.evaluation.bench import BenchConfig
from serkit.models.torch_models import HeadConfig


def test_overrides_parse_nested_and_typed():
    d = parse_overrides(["train.lr=3e-3", "hidden=64", "layer=null", "train.class_weighted=false"])
    cfg = from_dict(HeadConfig, d)
    assert cfg.train.lr == pytest.approx(3e-3) and cfg.hidden == 64 and cfg.layer is None
    assert cfg.train.class_weighted is False


def test_unknown_and_mistyped_keys():
    with pytest.raises(ConfigError, match="unknown config key"):
        from_dict(HeadConfig, {"hiden": 3})
    with pytest.raises(ConfigError, match="expected int"):
        from_dict(HeadConfig, {"hidden": "big"})
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_overrides(["noequals"])


def test_yaml_round_trip(tmp_path):
    cfg = BenchConfig(manifest="m.jsonl", model="mlp", labels=["a", "b"], model_cfg={"hidden": 8})
    dump_yaml(cfg, tmp_path / "c.yaml")
    back = from_dict(BenchConfig, load_yaml(tmp_path / "c.yaml"))
    assert to_dict(back) == to_dict(cfg)
    (tmp_path / "bad.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(tmp_path / "bad.yaml")


def test_partial_nested_override_keeps_the_parents_defaults():
    from serkit.models.reslstm import ResLSTMConfig
    from serkit.models.torch_models import HeadConfig

    c = from_dict(ResLSTMConfig, {"train": {"lr": 1e-3}})
    assert c.train.lr == 1e-3
    # ResLSTM's own training defaults survive a partial override (not TrainConfig's)
    assert c.train.epochs == 100 and c.train.optimizer == "adam" and c.train.scheduler == "cosine-restarts"
    h = from_dict(HeadConfig, {"train": {"epochs": 3}})
    assert h.train.epochs == 3 and h.train.refit is True
