# Pants BUILD-file prelude: the one pattern every library and service directory follows.
# (Loaded through [GLOBAL].build_file_prelude_globs; BUILD files call these by name.)


def _package(dist_name, version, description, idl, idl_dependencies, entry_point):
    if idl:
        thrift_sources(name="idl", sources=["idl/*.thrift"], dependencies=list(idl_dependencies))
    python_distribution(
        name="dist",
        dependencies=["./src:src"] + ([":idl"] if idl else []),
        provides=python_artifact(name=dist_name, version=version, description=description),
        generate_setup=True,
        entry_points={"console_scripts": {dist_name: entry_point}} if entry_point else {},
    )


def hn_sources(*, idl=True, data=(), dependencies=()):
    """<package>/src/BUILD: the importable code (source roots are found from BUILD locations).

    data: globs of package data beyond the typing marker (SQL migrations, config templates).
    """
    resources(name="data", sources=["**/py.typed"] + list(data))
    python_sources(
        name="src",
        sources=["**/*.py"],
        # The runtime imports a service's generated modules by name, which inference cannot see.
        dependencies=[":data"] + ([f"//{build_file_dir().parent}:idl"] if idl else []) + list(dependencies),
    )


# Pytest plugins holding fixtures, by the name a tests/BUILD asks for them with (pairs: the
# prelude's values must be hashable). The root conftest.py registers each plugin module that is in
# a test's sandbox: a test target that asks for "datatier" gets the `data_tier` fixtures with no
# import; one that does not, never loads them.
_FIXTURE_PLUGINS = (("datatier", "//libs/hn-datatier/src/hn_datatier/testing/__init__.py:../../src"),)


def fixture_plugins(*names):
    """The targets of the named pytest plugins, for the dependencies of a tests target."""
    known = dict(_FIXTURE_PLUGINS)
    return [known[name] for name in names]


def platform_test_dependencies():
    """What tests of the whole platform run in one process (e2e/, security/) need: every
    service's code, yellow's client, the game-client SDK, hn, and the data tier's fixtures."""
    return [
        *[f"//services/{name}/src:src" for name in ("yellow", "brokerlist", "broker", "sso", "match")],
        "//libs/hn-yellow-client/src:src",
        "//clients/python/src:src",
        "//tools/hn/src:src",
        *fixture_plugins("datatier"),
    ]


def hn_tests(*, test_utils=False, fixtures=(), dependencies=(), **kwargs):
    """<package>/tests/BUILD. test_utils: the folder has conftest.py and _helper.py modules (True),
    or the globs of those it has (a glob matching nothing makes Pants warn on every run).
    fixtures: names of the pytest plugins (see fixture_plugins) whose fixtures the tests use."""
    if test_utils:
        # Helpers may be started by module name in a child process, which inference cannot see.
        globs = ["**/conftest.py", "**/_*.py"] if test_utils is True else list(test_utils)
        python_test_utils(name="test_utils", sources=globs)
    python_tests(
        name="tests",
        sources=["**/test_*.py"],
        dependencies=[f"//{build_file_dir().parent}/src:src"]
        + ([":test_utils"] if test_utils else [])
        + fixture_plugins(*fixtures)
        + list(dependencies),
        **kwargs,
    )


def hn_library(*, name, version, description, idl=True, idl_dependencies=()):
    """libs/<name>/BUILD: IDL (optional) and a versioned distribution; code in src/, tests in tests/."""
    _package(name, version, description, idl, idl_dependencies, None)


def hn_service(*, name, version, description, idl_dependencies=()):
    """A service under services/<name>/: its IDL, package hn_<name>, tests, distribution and PEX.

    `./pants package services/<name>` writes dist/services.<name>/<name>.pex, runnable with
    only CPython 3.11 on the host.
    """
    module = "hn_" + name.replace("-", "_")
    _package("hn-" + name, version, description, True, idl_dependencies, module + ".__main__:main")
    pex_binary(
        name=name,
        entry_point=module + ".__main__:main",
        dependencies=["./src:src"],
        # One PEX per service: unzipped once into a venv, then starts fast on every restart.
        execution_mode="venv",
    )


# Visibility rules (pants.backend.experimental.visibility). What every kind of package may use:
# libs/, the third-party requirements, any service's IDL and the root conftest; each kind adds
# its own folder. Never another service's Python.
# (A default argument, not a module constant: the prelude's functions do not see its globals.)
def dependency_rules(*own, shared=("//libs/**", "//3rdparty/**", "//services/*/idl/**", "//services/*:idl", "//conftest.py")):
    return ("*", *own, *shared, "!*")


# services/<name>/BUILD: its own files ("/" is the declaring BUILD's folder) and the shared ones.
SERVICE_DEPENDENCY_RULES = dependency_rules("/**")

# libs/: libs and the shared ones, never service code.
LIB_DEPENDENCY_RULES = dependency_rules()

# Client SDKs (clients/): their own code and the shared ones.
CLIENT_DEPENDENCY_RULES = dependency_rules("//clients/**")


def service_test_dependency_rules():
    """For services/<name>/tests/BUILD: the service's rules, plus the game-client SDK (clients/python
    and its wire-level `hn_client.testing.RawClient`): the edge's tests are clients of it."""
    return dependency_rules(f"//{build_file_dir().parent}/**", "//clients/python/**")
