import pytest

from serkit.core.config import dump_yaml, from_dict, load_yaml, parse_overrides
from serkit.core.errors import ConfigError
from serkit.estimators import model_component
from serkit.estimators.torch_head import AttnPoolConfig
from serkit.experiment.config import experiment_from_dict, load_experiment


def test_overrides_parse_nested_and_typed():
    d = parse_overrides(
        ["train.lr=3e-3", "hidden=64", "layer=learned", "train.class_weighted=false"]
    )
    cfg = from_dict(AttnPoolConfig, d)
    assert cfg.train.lr == pytest.approx(3e-3) and cfg.hidden == 64 and cfg.layer == "learned"
    assert cfg.train.class_weighted is False
    assert from_dict(AttnPoolConfig, {"layer": 2}).layer == 2


def test_unknown_mistyped_and_out_of_enum_values_are_refused_once_by_the_loader():
    with pytest.raises(ConfigError, match="unknown config key"):
        from_dict(AttnPoolConfig, {"hiden": 3})
    with pytest.raises(ConfigError, match="expected int"):
        from_dict(AttnPoolConfig, {"hidden": "big"})
    with pytest.raises(ConfigError, match="expected int"):
        from_dict(AttnPoolConfig, {"hidden": True})  # a bool is no int here
    with pytest.raises(ConfigError, match="train.scheduler: must be one of"):
        from_dict(AttnPoolConfig, {"train": {"scheduler": "cosine"}})
    with pytest.raises(
        ConfigError, match="layer: expected int | 'learned'"
    ):  # each union member checked
        from_dict(AttnPoolConfig, {"layer": "best"})
    with pytest.raises(ConfigError, match="may not be null"):
        from_dict(AttnPoolConfig, {"layer": None})
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_overrides(["noequals"])


def test_every_model_setting_is_read_no_kwargs_swallowed():
    """``--model linear --set model.hidden=999`` used to be accepted and ignored."""
    with pytest.raises(ConfigError, match="unknown config key.*'hidden'"):
        model_component({"name": "linear", "hidden": 999})
    assert model_component({"name": "mlp", "hidden": 999}).config.hidden == 999


def test_presets_come_first_and_contradictions_are_errors():
    c = model_component("snn-vanilla").config
    assert c.use_tsse is False and c.use_campc is False
    assert (
        model_component({"name": "snn-vanilla", "use_tsse": False, "hidden": 8}).config.hidden == 8
    )
    with pytest.raises(ConfigError, match="snn-vanilla' fixes use_tsse=False"):
        model_component({"name": "snn-vanilla", "use_tsse": True})
    with pytest.raises(ConfigError, match="ann-twin' fixes neuron='relu'"):
        model_component({"name": "ann-twin", "neuron": "plif"})


def test_experiment_config_one_spelling_from_yaml_flags_and_overrides(tmp_path):
    (tmp_path / "e.yaml").write_text(
        "manifest: m.jsonl\nmodel: {name: mlp, hidden: 8}\nfrontend: logmel\n"
    )
    cfg = load_experiment(tmp_path / "e.yaml", ["model.dropout=0.1", "frontend.pool=2"], seeds=3)
    assert (
        cfg.model.name == "mlp" and cfg.model.config.hidden == 8 and cfg.model.config.dropout == 0.1
    )
    assert cfg.frontend.name == "logmel" and cfg.frontend.config.pool == 2 and cfg.seeds == 3
    # a new model on the command line does not inherit the old one's settings
    assert load_experiment(tmp_path / "e.yaml", [], model="attnpool").model.config.hidden == 128
    with pytest.raises(ConfigError, match="unknown config key"):
        load_experiment(None, ["model_cfg.hidden=3"])  # the old spelling is gone
    with pytest.raises(ConfigError, match="does not train on augmented variants"):
        experiment_from_dict({"model": "logreg", "augment": {"name": "eam"}})
    assert experiment_from_dict({"model": "mll"}).augment.name == "eam"  # the model's default


def test_yaml_round_trip(tmp_path):
    cfg = experiment_from_dict(
        {"manifest": "m.jsonl", "model": {"name": "mlp", "hidden": 8}, "labels": ["a", "b"]}
    )
    dump_yaml(cfg.to_dict(), tmp_path / "c.yaml")
    back = experiment_from_dict(load_yaml(tmp_path / "c.yaml"))
    assert back.to_dict() == cfg.to_dict() and back.fingerprint({}) == cfg.fingerprint({})
    (tmp_path / "bad.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(tmp_path / "bad.yaml")


def test_defaults_are_the_best_measured_settings():
    cfg = experiment_from_dict({})
    assert cfg.model.name == "attnpool" and cfg.model.config.layer == "auto"
    assert cfg.frontend.name == "whisper-tiny-layers" and cfg.frontend.config.layers == [0, 1, 2]


def test_partial_nested_override_keeps_the_parents_defaults():
    from serkit.estimators.reslstm import ResLSTMConfig

    c = from_dict(ResLSTMConfig, {"train": {"lr": 1e-3}})
    assert c.train.lr == 1e-3
    # ResLSTM's own training defaults survive a partial override (not TrainConfig's)
    assert (
        c.train.epochs == 100
        and c.train.optimizer == "adam"
        and c.train.scheduler == "cosine-restarts"
    )
    h = from_dict(AttnPoolConfig, {"train": {"epochs": 3}})
    assert h.train.epochs == 3 and h.train.refit is True


def test_unknown_protocol_is_refused_before_any_data_is_read():
    from serkit.core.errors import ProtocolError

    with pytest.raises(ProtocolError, match="unknown protocol 'random-split'"):
        experiment_from_dict({"manifest": "does-not-exist.jsonl", "protocol": "random-split"})
    with pytest.raises(ProtocolError, match="K an integer"):
        experiment_from_dict({"protocol": "kfold-speaker:five"})
    assert experiment_from_dict({"protocol": "kfold-speaker:5"}).protocol == "kfold-speaker:5"
