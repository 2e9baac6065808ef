"""The IDLs say what a client in another language cannot learn from the Python code: the pushes
each service sends, with their structs, and the error codes each method can answer.

- Pushes: an IDL whose service pushes to players declares `const map<string, string> PUSHES`
  (push name "service.Struct" -> the struct it carries, declared in that IDL). Every push name
  the services' code sends (a string shaped "service.Struct" in services/*/src or libs/*/src) is
  declared, and every declared one is sent.
- Error codes: each method of a client-facing service that throws says which codes in its doc
  ("Errors: A, B."). The handler's code, read with ast, constructs none that are not listed: the
  `<Code>.<NAME>` inside a call of the exception class (or of a helper that makes it), in the
  handler and the package functions it calls by name, leaving out what it catches and drops.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _thrift import CLIENT_IDLS, REPO, parsed, relative

IDLS = {path: parsed(path) for path in CLIENT_IDLS}
#: a push's name: "<service>.<Struct>"
_PUSH_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[A-Z][A-Za-z0-9]*$")
_ERRORS = re.compile(r"\bErrors:\s*(?P<list>[^\n]*(?:\n(?!\s*\n)[^\n]*)*)")
_NAME = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b")

#: client-facing service -> (its exception, the enum of that exception's `code`)
CODES = {
    "sso": ("SsoError", "SsoErrorCode"),
    "match": ("MatchError", "MatchErrorCode"),
    "broker": ("BrokerError", "ClientError"),
}
#: methods not served by the runtime's `on_<method>` handler: the broker answers resume itself
HANDLERS = {("broker", "resume"): "_resume"}


def constant(document: dict[str, Any], name: str) -> Any:
    return next((c["value"] for c in document["constants"] if c["name"] == name), None)


def enum_names(name: str) -> set[str]:
    for document in IDLS.values():
        for enum in document["enums"]:
            if enum["name"] == name:
                return {member["name"] for member in enum["members"]}
    raise AssertionError(f"no enum {name} in the client IDLs")


# -- pushes ------------------------------------------------------------------------------------


def declared_pushes() -> dict[str, tuple[Path, str]]:
    """Push name -> (the IDL declaring it, its struct)."""
    declared: dict[str, tuple[Path, str]] = {}
    for path, document in IDLS.items():
        for name, struct in (constant(document, "PUSHES") or {}).items():
            assert name not in declared, f"{name} declared twice"
            declared[name] = (path, struct)
    return declared


def sent_pushes() -> dict[str, list[str]]:
    """Push-shaped strings in the services' and libraries' code -> where they are."""
    sent: dict[str, list[str]] = defaultdict(list)
    for path in sorted([*REPO.glob("services/*/src/**/*.py"), *REPO.glob("libs/*/src/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _PUSH_NAME.match(node.value):
                sent[node.value].append(f"{relative(path)}:{node.lineno}")
    return sent


def test_each_declared_push_carries_a_struct_of_its_idl_named_as_the_push_says() -> None:
    declared = declared_pushes()
    assert {"match.MatchFound", "match.DuelResult", "broker.SessionLost"} <= set(declared), declared
    for name, (path, struct) in declared.items():
        assert _PUSH_NAME.match(name), f"{relative(path)}: push {name!r} is not 'service.Struct'"
        structs = {s["name"] for s in IDLS[path]["structs"] if not s.get("isException")}
        assert struct in structs, f"{relative(path)}: push {name} carries {struct}, which it does not declare"
        # Clients find the struct by the push's name (the Python SDK does): they must agree.
        assert name.partition(".")[2] == struct, f"{relative(path)}: push {name} carries {struct}"


def test_every_push_the_code_sends_is_declared_and_every_declared_one_is_sent() -> None:
    sent, declared = sent_pushes(), declared_pushes()
    undeclared = {name: where for name, where in sent.items() if name not in declared}
    assert not undeclared, f"pushes sent but not in any IDL's PUSHES: {undeclared}"
    assert set(declared) <= set(sent), f"declared, never sent: {sorted(set(declared) - set(sent))}"


# -- error codes -------------------------------------------------------------------------------


def documented_codes(doc: str) -> set[str] | None:
    """The names in the doc's "Errors:" paragraph (None: it has none)."""
    found = _ERRORS.search(doc or "")
    return None if found is None else set(_NAME.findall(found.group("list")))


def throwing_methods() -> Iterator[tuple[str, dict[str, Any]]]:
    """(service, method) for every method of a client-facing IDL that declares an exception."""
    for path, document in IDLS.items():
        for service in document["services"]:
            name = path.stem
            for function in service["functions"]:
                if function["exceptions"]:
                    yield name, function


class Package:
    """A service's package read with ast: its functions by name, and what `self.<attr>` is set to."""

    def __init__(self, folder: Path, exception: str, enum: str) -> None:
        self.exception = exception
        self.enum = enum
        self.defs: dict[str, list[ast.AST]] = defaultdict(list)
        self.attrs: dict[str, list[ast.expr]] = defaultdict(list)
        for path in sorted(folder.glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.defs[node.name].append(node)
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Attribute) and _is_self(target.value):
                            self.attrs[target.attr].append(node.value)
        #: what makes the exception: its class, and helpers whose body calls it (`_error(code, ...)`)
        self.makers = {exception} | {
            name for name, defs in self.defs.items() if any(self._calls(d, {exception}) for d in defs)
        }

    @staticmethod
    def _calls(node: ast.AST, names: set[str]) -> bool:
        return any(isinstance(n, ast.Call) and _callee(n) in names for n in ast.walk(node))

    def codes(self, handler: str) -> set[str]:
        assert self.defs.get(handler), f"no handler {handler}"
        found: set[str] = set()
        seen: set[int] = set()
        for node in self.defs[handler]:
            self._walk(node, found, seen, inside=False)
        return found

    def _walk(self, node: ast.AST, found: set[str], seen: set[int], inside: bool) -> None:
        if (
            inside
            and isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == self.enum
        ):
            found.add(node.attr)
        if isinstance(node, ast.Call):
            inside = inside or _callee(node) in self.makers
            self._follow(node, found, seen)
        for child in self._children(node):
            self._walk(child, found, seen, inside)

    def _follow(self, call: ast.Call, found: set[str], seen: set[int]) -> None:
        """Into what a call runs: package functions of that name, or what `self.<attr>` holds."""
        targets: list[ast.AST] = list(self.defs.get(_callee(call) or "", ()))
        if isinstance(call.func, ast.Attribute) and _is_self(call.func.value):
            targets += self.attrs.get(call.func.attr, [])
        for target in targets:
            if id(target) not in seen:
                seen.add(id(target))
                self._walk(target, found, seen, inside=False)

    def _children(self, node: ast.AST) -> list[ast.AST]:
        """The node's children, less the code whose exception is caught and dropped."""
        if isinstance(node, ast.Try) and any(self._drops(h) for h in node.handlers):
            return [*node.handlers, *node.orelse, *node.finalbody]
        if isinstance(node, ast.With) and any(self._suppresses(item.context_expr) for item in node.items):
            return [item.context_expr for item in node.items]
        return list(ast.iter_child_nodes(node))

    def _drops(self, handler: ast.ExceptHandler) -> bool:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        catches = any(isinstance(n, ast.Name) and n.id == self.exception for n in names)
        return catches and not any(isinstance(n, ast.Raise) for n in ast.walk(handler))

    def _suppresses(self, expr: ast.expr) -> bool:
        return (
            isinstance(expr, ast.Call)
            and _callee(expr) == "suppress"
            and any(isinstance(a, ast.Name) and a.id == self.exception for a in expr.args)
        )


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _callee(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def package(service: str) -> Package:
    exception, enum = CODES[service]
    return Package(REPO / "services" / service / "src" / f"hn_{service}", exception, enum)


def test_every_client_facing_idl_is_checked() -> None:
    facing = {path.stem for path, document in IDLS.items() if constant(document, "CLIENT_ROUTES")}
    assert facing <= set(CODES), f"client-facing IDLs without their error codes here: {facing - set(CODES)}"


METHODS = [(service, function) for service, function in throwing_methods() if service in CODES]


def test_the_methods_are_found() -> None:
    names = {f"{service}.{function['name']}" for service, function in METHODS}
    assert {"sso.login", "match.enqueue", "match.duel_shoot", "match.last_result", "broker.resume"} <= names


@pytest.mark.parametrize(("service", "function"), METHODS, ids=[f"{s}.{f['name']}" for s, f in METHODS])
def test_each_method_documents_every_code_its_handler_makes(service: str, function: dict[str, Any]) -> None:
    documented = documented_codes(function.get("doc", ""))
    method = f"{service}.{function['name']}"
    assert documented is not None, f"{method}: its doc has no 'Errors: ...' line"
    _, enum = CODES[service]
    assert documented <= enum_names(enum), f"{method}: not {enum} names: {documented - enum_names(enum)}"
    made = package(service).codes(HANDLERS.get((service, function["name"]), f"on_{function['name']}"))
    assert made <= documented, f"{method} can answer {sorted(made - documented)}, its doc says {sorted(documented)}"


def test_the_reader_finds_codes_through_helpers_and_guards() -> None:
    """The ast reading itself: codes made in called helpers and in the dependency guard count;
    codes the package catches and drops, and codes told elsewhere (not in the exception), do not."""
    assert package("match").codes("on_duel_shoot") == {"INVALID_INPUT", "NOT_IN_MATCH"}
    assert package("match").codes("on_enqueue") == {"INVALID_INPUT", "IN_DUEL", "INTERNAL"}
    assert "RATE_LIMITED" in package("sso").codes("on_login")
    assert package("broker").codes("_resume") == {"UNAUTHENTICATED", "UNAVAILABLE"}
    assert "INTERNAL" not in package("match").codes("on_duel_leave"), "the room's end swallows it"
