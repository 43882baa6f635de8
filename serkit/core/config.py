"""Typed config dataclasses: YAML-loadable, overridable with ``key.sub=value`` strings.

Every component (frontend, model, trainer, protocol) owns a small ``@dataclass`` config.
:func:`from_dict` builds one from a plain mapping, refuses unknown keys and checks every value
against its annotation once (``Literal`` enums, each member of a union, lists, numbers), so a
typo in a YAML file or on the command line is an error, not a silently ignored setting.
:class:`Component` is a registered component chosen by name with its typed config
(``model: {name: attnpool, hidden: 64}``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from serkit.core.errors import ConfigError

T = TypeVar("T")


def to_dict(cfg: Any) -> Any:
    """Recursively turn a dataclass (or containers of them) into plain YAML-safe data."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """``value`` checked against (and, for numbers written as strings, converted to) ``tp``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin is Literal:
        if not any(value == a and type(value) is type(a) for a in typing.get_args(tp)):
            raise ConfigError(f"{where}: must be one of {_type_name(tp)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where}: may not be null (expected {_type_name(tp)})")
        for a in (a for a in args if a is not type(None)):  # members in the order written
            try:
                return _coerce(a, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2:  # dict[K, V]: each value checked (and typed) as V
            return {k: _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    if tp is float and isinstance(value, int):
        return float(value)
    if tp in (int, float) and isinstance(value, str):  # YAML 1.1 reads "3e-3" as a string
        try:
            return tp(value)
        except ValueError:
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict | None, where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys raise :class:`ConfigError`."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {unknown} for {cls.__name__}{' at ' + where if where else ''}; "
            f"known: {sorted(names)}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in data.items():
        f = fields[k]
        # a partial mapping for a nested dataclass overrides *this class's* default for it
        # (e.g. a model whose default TrainConfig has epochs=100), not the nested class's defaults
        if (
            isinstance(v, dict)
            and dataclasses.is_dataclass(hints[k])
            and f.default_factory is not dataclasses.MISSING
        ):
            v = deep_merge(to_dict(f.default_factory()), v)
        kwargs[k] = _coerce(hints[k], v, f"{where}.{k}".lstrip("."))
    return cls(**kwargs)


def parse_overrides(overrides: list[str] | None) -> dict:
    """``["train.lr=1e-3", "model.hidden=64"]`` -> nested dict, values parsed as YAML scalars."""
    out: dict = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def deep_merge(base: dict, extra: dict) -> dict:
    """Return ``base`` updated recursively with ``extra`` (neither is modified)."""
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def load_yaml(path: str | Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def dump_yaml(data: Any, path: str | Path) -> None:
    from serkit.core.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(data), sort_keys=False))


@dataclasses.dataclass
class Component:
    """A registered component by ``name`` with its typed ``config`` (a dataclass instance).

    Written and read as one flat mapping, ``{name: attnpool, hidden: 64, train: {...}}``, so a
    setting has one spelling everywhere (``--set model.hidden=64``)."""

    name: str
    config: Any

    def to_dict(self) -> dict:
        return {"name": self.name, **to_dict(self.config)}


def build_component(
    data: dict | str | Component,
    configs: dict[str, type],
    kind: str,
    presets: dict[str, dict] | None = None,
) -> Component:
    """``{name: ..., **fields}`` -> :class:`Component` with ``configs[name]`` built from the fields.

    ``presets[name]`` are fields the named variant fixes (e.g. ``snn-vanilla`` is ``pts-snn``
    without TSSE and CAMPC): they are applied first, and a user value that contradicts one is a
    :class:`ConfigError` rather than a silently dropped setting."""
    if isinstance(data, Component):
        return data
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict) or not data.get("name"):
        raise ConfigError(f"{kind}: expected a mapping with a 'name', got {data!r}")
    fields = dict(data)
    name = fields.pop("name")
    if name not in configs:
        raise ConfigError(f"unknown {kind} {name!r}; known: {sorted(configs)}")
    preset = (presets or {}).get(name, {})
    for k, v in preset.items():
        if k in fields and fields[k] != v:
            raise ConfigError(
                f"{kind} {name!r} fixes {k}={v!r}; {kind}.{k}={fields[k]!r} contradicts it "
                f"(choose the base {kind} and set {k} there)"
            )
    return Component(name, from_dict(configs[name], {**fields, **preset}, kind))
