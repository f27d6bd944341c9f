"""Plugin registries for methods, encoders, protocols and datasets.

Built-ins register themselves with a decorator next to their definition::

    @METHODS.register("mamp", default=True)
    class MAMP(MaskedPrediction): ...

A registered class gets its name as ``cls.name``; the entry registered with ``default=True`` is what
the command line uses when no name is given. The registries are the only lists of methods, encoders,
protocols and datasets: the reproduction matrix, the tables and the tests iterate them.

Everything reaches a registry through one door, ``importlib.metadata`` entry points in the groups
``mamp_bench.methods``, ``mamp_bench.encoders``, ``mamp_bench.protocols`` and ``mamp_bench.datasets``: the suite
declares its
own built-ins there (``pyproject.toml``) exactly as a third-party package declares its plugins, so this
module names no module of the suite and sits in the base layer. An entry point may name a module
(importing it runs its ``register`` decorators) or an object (registered under the entry point's name).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

from mamp_bench.errors import UserError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    source: str  # "built-in" or the distribution/entry point that provided it


class Registry(Generic[T]):
    """A name -> object table filled by decorators and entry points."""

    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = False
        self._loading = False
        self._current_source = "built-in"
        self._default: str | None = None
        self.load_errors: list[str] = []

    def register(self, name: str | None = None, *, default: bool = False) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name`` (a class also gets ``cls.name = name``)."""

        def decorator(obj: T) -> T:
            key = name or obj.__name__.lower()  # type: ignore[attr-defined]
            if isinstance(obj, type):
                obj.name = key  # type: ignore[attr-defined]
            self.add(key, obj)
            if default:
                self._default = key
            return obj

        return decorator

    def default(self) -> str:
        """The name registered with ``default=True`` (what the command line uses unless told)."""
        self._load()
        if self._default is None:
            raise UserError(f"no default {self.kind} is registered; name one")
        return self._default

    def add(self, name: str, obj: T) -> None:
        previous = self._entries.get(name)
        if previous is not None and previous.obj is not obj:
            raise ValueError(f"{self.kind} {name!r} is registered twice ({previous.source} and {self._current_source})")
        self._entries[name] = Entry(name, obj, self._current_source)

    def _load(self) -> None:
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            for ep in metadata.entry_points(group=self.group):
                source = _source(ep)
                self._current_source = source
                try:
                    obj = ep.load()
                except Exception as exc:  # a broken plugin must not break the suite
                    msg = f"{self.kind} plugin {ep.name!r} from {source} failed to load: {exc}"
                    log.warning(msg)
                    self.load_errors.append(msg)
                    continue
                finally:
                    self._current_source = "built-in"
                if not _is_module(obj):
                    self._current_source = source
                    try:
                        self.add(ep.name, obj)
                    finally:
                        self._current_source = "built-in"
            self._loaded = True
        finally:
            self._loading = False

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._entries[name].obj
        except KeyError:
            raise UserError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        names = self.names()
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Valid {self.kind}s: {', '.join(names) or '(none)'}"

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        self._load()
        for name in sorted(self._entries):
            yield self._entries[name]

    def items(self) -> list[tuple[str, T]]:
        """``(name, object)`` pairs, sorted by name."""
        return [(entry.name, entry.obj) for entry in self.entries()]

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries


#: the distribution whose entry points are the suite's own built-ins
SUITE_DISTRIBUTION = "mamp-bench"


def _source(ep: metadata.EntryPoint) -> str:
    """Where an entry comes from: "built-in" for the suite's own, else the distribution and the entry point."""
    dist = ep.dist.name if ep.dist else "?"
    return "built-in" if dist == SUITE_DISTRIBUTION else f"{dist} ({ep.value})"


def _is_module(obj: Any) -> bool:
    import types

    return isinstance(obj, types.ModuleType)


METHODS: Registry[Any] = Registry("method", "mamp_bench.methods")
ENCODERS: Registry[Any] = Registry("encoder", "mamp_bench.encoders")
PROTOCOLS: Registry[Any] = Registry("protocol", "mamp_bench.protocols")
DATASETS: Registry[Any] = Registry("dataset", "mamp_bench.datasets")
