"""One registry mechanism: a name -> factory table for backbones, losses, scoring backends and commands.

A :class:`Registry` maps a name (what a user types: ``--loss adacos``) to a factory
(a class or a function), or to the text ``"package.module:attr"`` (``"package.module"``
for a whole module) that is imported the first time the name is looked up, so that
listing the names (``asd-tf train --help``) never imports TensorFlow. Unknown names and
unknown constructor arguments raise :class:`~asd_tf.errors.ConfigError` naming the
offending key and the known ones.

Entries are added in the registry's own module, one line each, or with the decorator::

    LOSSES = Registry("loss", {"adacos": "asd_tf.losses.adacos:AdaCosLoss"})

    @LOSSES.register("my_loss")
    class MyLoss(AngularLoss): ...

:meth:`Registry.temporarily` registers a factory for the length of a ``with`` block
(tests, plug-ins).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Callable

from .errors import ConfigError

_NOT_SET = object()


def resolve(target: Any) -> Any:
    """The object a registry entry names: ``"module:attr"`` -> that attribute, ``"module"`` -> the module."""
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


class Registry(MutableMapping):
    """Names -> factories of one ``kind`` (``"loss"``, ``"backbone"``, ``"scoring backend"``, ``"command"``).

    ``registry[name]`` is the factory (imported on first use); ``in``, ``len``, iteration
    (names in registration order) and ``", ".join(registry)`` work as on a dict of names.
    """

    def __init__(self, kind: str, entries: Mapping[str, Any] | None = None) -> None:
        self.kind = kind
        self._targets: dict[str, Any] = dict(entries or {})

    # -- the mapping -------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        return resolve(self.target(name))

    def __setitem__(self, name: str, target: Any) -> None:
        self._targets[name] = target

    def __delitem__(self, name: str) -> None:
        del self._targets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def get(self, name: str, default: Any = None) -> Any:
        """``registry[name]`` if ``name`` is registered, else ``default`` (never an error)."""
        return self[name] if name in self._targets else default

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._targets)})"

    def target(self, name: str) -> Any:
        """The entry as registered (a factory or its ``"module:attr"`` text); unknown name -> ConfigError."""
        if name not in self._targets:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self._targets)}")
        return self._targets[name]

    def module_names(self) -> list[str]:
        """The module of every entry (imported or not), in registration order, without repeats."""
        out: list[str] = []
        for target in self._targets.values():
            module = target.partition(":")[0] if isinstance(target, str) else target.__module__
            if module not in out:
                out.append(module)
        return out

    # -- adding entries ----------------------------------------------------------------------

    def register(self, name: str, target: Any = _NOT_SET) -> Any:
        """Add ``name`` -> ``target``; without ``target``, a decorator that registers what it decorates.

        A name registered twice is a programming error (``ValueError``), never a silent override.
        """
        if target is _NOT_SET:
            def decorate(obj: Any) -> Any:
                self.register(name, obj)
                return obj

            return decorate
        if name in self._targets and self._targets[name] is not target:
            raise ValueError(f"{self.kind} {name!r} is already registered ({self._targets[name]!r})")
        self._targets[name] = target
        return target

    @contextlib.contextmanager
    def temporarily(self, name: str, target: Any) -> Iterator[Any]:
        """Register ``name`` -> ``target`` inside the ``with`` block only (what was there before comes back)."""
        previous = self._targets.get(name, _NOT_SET)
        self._targets[name] = target
        try:
            yield target
        finally:
            if previous is _NOT_SET:
                self._targets.pop(name, None)
            else:
                self._targets[name] = previous

    # -- signatures --------------------------------------------------------------------------

    def parameters(self, name: str) -> set[str]:
        """Named parameters of the factory (a class's ``__init__`` or the function), not self, *args, **kwargs."""
        return {p.name for p in self._signature(name).parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def accepts(self, name: str, parameter: str) -> bool:
        """Whether the factory takes ``parameter`` (by name, or through ``**kwargs``)."""
        params = self._signature(name).parameters
        return parameter in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def check_options(
        self,
        name: str,
        options: Iterable[str],
        *,
        exclude: Iterable[str] = (),
        extra: Iterable[str] = (),
        what: str = "parameters",
    ) -> None:
        """ConfigError naming the unknown ones when ``options`` are not all parameters of ``name``'s factory.

        ``exclude``: parameters the caller fills itself (not the user's to give);
        ``extra``: accepted although not in the signature (e.g. Keras layer arguments).
        """
        allowed = (self.parameters(name) - set(exclude)) | set(extra)
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ConfigError(f"{self.kind} {name!r}: unknown {what} {unknown}; accepted: {sorted(allowed)}")

    def build(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """``registry[name](*args, **kwargs)``."""
        factory: Callable[..., Any] = self[name]
        return factory(*args, **kwargs)

    def _signature(self, name: str) -> inspect.Signature:
        factory = self[name]
        return inspect.signature(factory.__init__ if inspect.isclass(factory) else factory)
