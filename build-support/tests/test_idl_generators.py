"""Every IDL a game client uses generates, without an error or a warning, for the languages game
clients are written in: Python, JavaScript for Node with TypeScript declarations, Java (Android),
Go, C++ (native and Unreal) and C# (.NET Standard: Unity).

What this caught: `register`, a reserved word in C++, Java, Go, C# and JavaScript, stopped every
generator but Python's; `optional` in an argument list, ignored with a warning, left Go and C++
clients always sending the argument.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _thrift import CLIENT_IDLS, generate, relative

GENERATORS = ["py", "js:node,ts", "java", "go", "cpp", "netstd"]


def test_the_client_idls_are_all_there() -> None:
    names = {path.name for path in CLIENT_IDLS}
    assert {"hn_runtime.thrift", "client.thrift", "broker.thrift", "sso.thrift", "match.thrift"} <= names


@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("idl", CLIENT_IDLS, ids=relative)
def test_each_generator_compiles_each_idl_cleanly(idl: Path, generator: str, tmp_path: Path) -> None:
    done = generate(idl, generator, tmp_path)
    said = (done.stdout + done.stderr).strip()
    assert done.returncode == 0 and not said, f"thrift --gen {generator} {relative(idl)}:\n{said}"
    assert any(path.is_file() for path in tmp_path.rglob("*")), "it generated nothing"
