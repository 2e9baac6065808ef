"""What a service's generated Thrift module declares: methods, their structs, exceptions, events.

Everything here is computed once per service and cached; the per-message paths only do dict
lookups in the resulting tables.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from thrift.Thrift import TType

from hn_codec._codec import spec_of

__all__ = ["Method", "ServiceIdl", "load_idl"]


@dataclass(frozen=True)
class Method:
    name: str
    args_cls: type
    args_spec: Sequence[Any]
    arg_names: tuple[str, ...]
    #: None for Thrift `oneway` methods, which have no result.
    result_cls: type | None
    result_spec: Sequence[Any] | None
    #: (result field name, exception class) for each declared exception, in IDL order.
    exceptions: tuple[tuple[str, type], ...]
    idempotent: bool
    #: False for void methods: their result carries only exceptions.
    returns_value: bool

    @property
    def oneway(self) -> bool:
        return self.result_cls is None


@dataclass(frozen=True)
class ServiceIdl:
    """A Thrift `service` as the runtime sees it."""

    #: The Thrift service name, e.g. "Sso".
    thrift_name: str
    module: ModuleType
    methods: Mapping[str, Method]
    #: The IDL package's `ttypes` modules along the `extends` chain, nearest first: events and
    #: exceptions are looked up there by name.
    ttypes: tuple[ModuleType, ...]
    #: The IDL's `CLIENT_ROUTES` (method -> hn-edge route kind): what game clients may send.
    client_routes: Mapping[str, str] = field(default_factory=dict)
    #: The IDL's `RENAMED` (old name -> method): callers of the old name keep working.
    renamed: Mapping[str, str] = field(default_factory=dict)

    def method(self, name: str) -> Method:
        """The method called `name`, or the one it was renamed to; KeyError if neither."""
        return self.methods[self.renamed.get(name, name)]

    def struct(self, name: str) -> type | None:
        for module in self.ttypes:
            cls = getattr(module, name, None)
            if isinstance(cls, type) and hasattr(cls, "thrift_spec"):
                return cls
        return None


def _package_of(module: ModuleType) -> ModuleType:
    return importlib.import_module(module.__name__.rpartition(".")[0])


def _service_module(package: ModuleType) -> ModuleType:
    names = [n for n in getattr(package, "__all__", ()) if n not in ("ttypes", "constants")]
    if len(names) != 1:
        raise LookupError(f"{package.__name__} should hold exactly one Thrift service, found {names}")
    return importlib.import_module(f"{package.__name__}.{names[0]}")


@functools.cache
def _load(module: ModuleType) -> ServiceIdl:
    iface = getattr(module, "Iface", None)
    if iface is None:
        raise LookupError(f"{module.__name__} is not a generated Thrift service module")
    methods: dict[str, Method] = {}
    ttypes: list[ModuleType] = []
    client_routes: dict[str, str] | None = None
    renamed: dict[str, str] = {}
    for cls in iface.__mro__:
        if cls is object:
            continue
        owner = importlib.import_module(cls.__module__)
        package = _package_of(owner)
        ttypes.append(importlib.import_module(f"{package.__name__}.ttypes"))
        constants = importlib.import_module(f"{package.__name__}.constants")
        idempotent = frozenset(getattr(constants, "IDEMPOTENT", ()))
        if client_routes is None:  # the service's own tables, not those of a service it extends
            client_routes = dict(getattr(constants, "CLIENT_ROUTES", {}))
            renamed = dict(getattr(constants, "RENAMED", {}))
        for name, fn in vars(cls).items():
            if name.startswith("_") or not inspect.isfunction(fn) or name in methods:
                continue
            args_cls = getattr(owner, f"{name}_args")
            result_cls = getattr(owner, f"{name}_result", None)
            exceptions: tuple[tuple[str, type], ...] = ()
            if result_cls is not None:
                exceptions = tuple(
                    (field[2], field[3][0])
                    for field in result_cls.thrift_spec[1:]
                    if field is not None and field[1] == TType.STRUCT
                )
            arg_names = tuple(f[2] for f in args_cls.thrift_spec if f is not None)
            methods[name] = Method(
                name=name,
                args_cls=args_cls,
                args_spec=spec_of(args_cls),
                arg_names=arg_names,
                result_cls=result_cls,
                result_spec=spec_of(result_cls) if result_cls is not None else None,
                exceptions=exceptions,
                idempotent=name in idempotent,
                returns_value=bool(result_cls is not None and result_cls.thrift_spec and result_cls.thrift_spec[0]),
            )
    return ServiceIdl(
        thrift_name=module.__name__.rpartition(".")[2],
        module=module,
        methods=methods,
        ttypes=tuple(ttypes),
        client_routes=client_routes or {},
        renamed={old: new for old, new in renamed.items() if new in methods and old not in methods},
    )


def load_idl(idl: str | ModuleType) -> ServiceIdl:
    """The IDL of a service: by service name (`"sso"` -> package `hn_idl.sso`) or by module."""
    if isinstance(idl, str):
        module = _service_module(importlib.import_module(f"hn_idl.{idl}"))
    elif hasattr(idl, "Iface"):
        module = idl
    else:
        module = _service_module(idl)
    return _load(module)
