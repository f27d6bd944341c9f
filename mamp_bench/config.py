"""Dataclass configurations: dicts in and out, ``key=value`` overrides with types checked, hashes.

Every run's configuration is a dataclass (nested dataclasses allowed). Overrides name a field by
its dotted path (``encoder.depth=4``); an unknown key, a value of the wrong type or an invalid
value fails before any work starts, with the valid keys in the message. Whatever the source (``--set``
text, a TOML recipe, the Python API, a checkpoint), a number must be finite: NaN and infinities are
refused here, at the root, and ``require`` writes range checks as conditions that must hold, so that
NaN, which fails every comparison, fails them too.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import difflib
import hashlib
import json
import math
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from mamp_bench.errors import UserError

C = TypeVar("C")


#: a field's metadata key: the field is listed by ``to_dict`` only when it differs from its default
HASHED_WHEN_SET = "hashed_when_set"


def hashed_when_set(default: Any) -> Any:
    """A dataclass field added after records were written: ``to_dict`` (what records carry and hashes cover)
    lists it only when its value differs from ``default``, so every configuration that leaves it at its default
    keeps the hash it had before the field existed (``from_dict`` gives the default back for it)."""
    return dataclasses.field(default=default, metadata={HASHED_WHEN_SET: True})


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass configuration as a plain dict (nested ones too), without the ``hashed_when_set`` fields that
    are at their defaults."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.metadata.get(HASHED_WHEN_SET) and value == f.default:
            continue
        out[f.name] = to_dict(value) if dataclasses.is_dataclass(value) else _plain(value)
    return out


def _plain(value: Any) -> Any:
    """As ``dataclasses.asdict`` copies a field's value (lists, tuples and dicts of values)."""
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build ``cls`` from a (possibly partial) dict; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise UserError(f"unknown {cls.__name__} keys: {', '.join(sorted(unknown))}")
    values = {}
    for name, value in data.items():
        kind = _dataclass_type(hints[name])
        if kind is not None and isinstance(value, dict):
            values[name] = from_dict(kind, value)
            continue
        values[name] = check_value(value, hints[name], name)
        if isinstance(values[name], list) and _origin(hints[name]) is tuple:
            values[name] = tuple(values[name])
    return cls(**values)


def _origin(hint: Any) -> Any:
    return typing.get_origin(hint)


def _dataclass_type(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def flat_keys(cls: type, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    keys = []
    for f in dataclasses.fields(cls):
        sub = _dataclass_type(hints[f.name])
        keys += flat_keys(sub, f"{prefix}{f.name}.") if sub else [f"{prefix}{f.name}"]
    return keys


def parse_value(text: str, hint: Any, key: str) -> Any:
    """Turn the text of ``key=text`` into the field's type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return parse_value(text, arg, key)
            except UserError:
                continue
        raise UserError(f"{key}={text!r}: expected {hint}")
    if origin is tuple:
        items = [t for t in text.strip("()[] ").split(",") if t.strip()]
        inner = args[0] if args else str
        return tuple(parse_value(t.strip(), inner, key) for t in items)
    if hint is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise UserError(f"{key}={text!r}: expected true or false")
    if hint in (int, float):
        try:
            value = hint(text) if hint is float else int(text)
        except ValueError:
            raise UserError(f"{key}={text!r}: expected {hint.__name__}") from None
        if not math.isfinite(value):  # nan, inf, 1e999: no setting of the suite takes one
            raise UserError(f"{key}={text!r}: expected a finite number")
        return value
    if hint is str or hint is Any:
        return text
    raise UserError(f"{key}: cannot be set from the command line")


def apply_overrides(config: C, overrides: dict[str, Any]) -> C:
    """A copy of ``config`` with dotted-key overrides applied (strings are parsed to the field type); an error
    names the key with the ``setting_scope``'s prefix, as the user passes it."""
    scope = _SCOPE.get()
    for key, value in overrides.items():
        config = _set(config, key.split("."), value, scope + key)
    return config


def _set(obj: Any, path: list[str], value: Any, full_key: str) -> Any:
    hints = typing.get_type_hints(type(obj))
    name = path[0]
    if name not in hints:
        valid = flat_keys(type(obj), full_key[: len(full_key) - len(".".join(path))])  # the keys beside it, in full
        close = difflib.get_close_matches(full_key, valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"unknown setting {full_key!r}.{hint} Valid: {', '.join(valid)}")
    if len(path) > 1:
        child = getattr(obj, name)
        if not dataclasses.is_dataclass(child):
            raise UserError(f"unknown setting {full_key!r}: {name} has no sub-settings")
        return dataclasses.replace(obj, **{name: _set(child, path[1:], value, full_key)})
    hint = hints[name]
    if isinstance(value, str):
        value = parse_value(value, hint, full_key)
    else:
        value = check_value(value, hint, full_key)
        if hint is float and isinstance(value, int):
            value = float(value)
    return dataclasses.replace(obj, **{name: value})


def check_value(value: Any, hint: Any, key: str) -> Any:
    """``value`` if it fits the field type ``hint`` (an int for a float field is fine, a bool for an int
    field is not) and, if a number, is finite; ``UserError`` otherwise."""
    items = value if isinstance(value, (list, tuple)) else (value,)
    if any(isinstance(item, float) and not math.isfinite(item) for item in items):
        raise UserError(f"{key}={value}: expected a finite number")
    if hint is Any or _fits(value, hint):
        return value
    raise UserError(f"{key}={value!r}: expected {getattr(hint, '__name__', hint)}, got {type(value).__name__}")


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is tuple:
        return isinstance(value, (list, tuple)) and all(_fits(item, args[0] if args else Any) for item in value)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return not isinstance(hint, type) or isinstance(value, hint)


#: Upper bounds of counts and sizes: far beyond every recipe (the paper: 400 epochs, batch 256, width 256, 8
#: blocks, 9 million parameters), they refuse before any work the values that would never finish or would
#: exhaust memory before the first step.
MAX_EPOCHS = 100_000
MAX_BATCH = 1 << 20  # more clips than any split holds (NTU-120: 114,480 in all)
MAX_WORKERS = 256
MAX_WIDTH = 8_192
MAX_DEPTH = 128
MAX_PARAMETERS = 1_000_000_000


#: the key prefix under which the user sets the configuration being resolved (``setting_scope``)
_SCOPE: contextvars.ContextVar[str] = contextvars.ContextVar("setting_scope", default="")


@contextlib.contextmanager
def setting_scope(prefix: str) -> Iterator[None]:
    """Name settings by the key the user passes to ``--set`` in the errors raised inside: ``require`` and
    ``apply_overrides`` put ``prefix`` (``pretrain.``, ``method.``) before each key they name, so a batch size
    refused in a pretraining reads ``pretrain.batch_size``, not a bare ``batch_size`` that a protocol also has."""
    token = _SCOPE.set(_SCOPE.get() + prefix)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def require(config: Any, checks: list[tuple[bool, str]], prefix: str = "") -> None:
    """``UserError`` (one line) unless every float field of ``config`` is finite and every condition holds.

    Write each condition as what must be true (``x > 0``, never ``x <= 0`` for the error): NaN, which
    compares false with everything, then fails it. Each message starts with the key it is about (after
    ``prefix`` and the ``setting_scope``'s).
    """
    prefix = _SCOPE.get() + prefix
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{prefix}{f.name} must be a finite number, got {value}")
    for ok, message in checks:
        if not ok:
            raise UserError(f"{prefix}{message}")


def choice_check(config: Any, name: str, choices: tuple[str, ...] | dict[str, Any]) -> tuple[bool, str]:
    """``require``'s check that the field ``name`` is one of ``choices``."""
    value = getattr(config, name)
    return value in choices, f"{name} must be one of {', '.join(choices)}, got {value!r}"


def schedule_checks(config: Any, schedules: tuple[str, ...]) -> list[tuple[bool, str]]:
    """``require``'s checks of a learning-rate schedule's fields: ``schedule`` one of ``schedules``, ``lr_steps``
    increasing epochs >= 1 and only with the step schedule."""
    steps = tuple(config.lr_steps)
    return [
        choice_check(config, "schedule", schedules),
        (all(s >= 1 for s in steps) and list(steps) == sorted(set(steps)),
         f"lr_steps must be increasing epochs >= 1, got {steps}"),
        (config.schedule == "step" or not steps, "lr_steps are the step schedule's: set schedule=step"),
    ]  # fmt: skip


def parse_set_args(pairs: list[str] | None) -> dict[str, str]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": "1", "c": "x"}``."""
    result = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        result[key.strip()] = value.strip()
    return result


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> ``{"a.b.c": value}`` with ``prefix`` before every key."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_hash(data: Any, length: int = 12) -> str:
    """Stable short hash of a JSON-able configuration."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]
