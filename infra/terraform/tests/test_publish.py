"""bin/publish-pex.sh run for real in a scratch repository, with stand-ins for what it calls
outside (./pants, npm, aws): brokerlist's release carries its browser page, uploaded once beside
the PEX and named with its sha256 in the release tfvars the deploy root reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2

from conftest import REPO, TF_ROOT, dir_blocks, unquote
from test_render import BUILT_PAGE

BIN = TF_ROOT / "bin"
PAGE_PY = "services/brokerlist/src/hn_brokerlist/_page.py"


def _scratch_repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A git repository with the scripts, brokerlist's page check and BUILD files, a `./pants`
    that writes the PEX, an `npm` that builds clients/web/dist, and an `aws` keeping S3 in a folder."""
    repo = tmp_path / "repo"
    for path in ("infra/terraform/bin/publish-pex.sh", "infra/terraform/bin/pack-page.sh", PAGE_PY):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / path, repo / path)
    for service in ("brokerlist", "sso"):
        (repo / f"services/{service}").mkdir(parents=True, exist_ok=True)
        build = f'hn_service(\n    name="{service}",\n    version="0.3.1",\n)\n'
        (repo / f"services/{service}/BUILD").write_text(build)
        (repo / f"infra/terraform/services/{service}").mkdir(parents=True)
    (repo / "clients/web/src").mkdir(parents=True)
    (repo / "clients/web/src/play.ts").write_text("// the page\n")
    (repo / ".gitignore").write_text("/dist/\nclients/web/dist/\n")
    pants = repo / "pants"
    pants.write_text(
        "#!/bin/sh\n"
        '[ "$1" = package ] || exit 2\n'
        'svc=${2%%:*}; svc=${svc#services/}\n'
        'mkdir -p "dist/services.$svc" && echo "pex of $svc" >"dist/services.$svc/$svc.pex"\n'
    )
    pants.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    # `npm ci` then `npm run build` in clients/web: the build leaves dist/ as scripts/build.mjs does.
    npm.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"page = json.loads({json.dumps(json.dumps(BUILT_PAGE))})\n"
        "if sys.argv[1:3] == ['run', 'build']:\n"
        "    os.makedirs('dist', exist_ok=True)\n"
        "    for name, text in page.items():\n"
        "        open(os.path.join('dist', name), 'w').write(text)\n"
    )
    s3 = tmp_path / "s3"
    s3.mkdir()
    aws = bin_dir / "aws"
    aws.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, shutil, sys\n"
        f"s3 = {str(s3)!r}\n"
        "args = sys.argv[1:]\n"
        "opt = lambda name: args[args.index(name) + 1]\n"
        "if args[:2] == ['s3api', 'head-object']:\n"
        "    meta = os.path.join(s3, opt('--bucket'), opt('--key') + '.meta')\n"
        "    if not os.path.exists(meta):\n"
        "        sys.exit(255)\n"
        "    print(json.load(open(meta))['sha256'])\n"
        "elif args[:2] == ['s3api', 'put-object']:\n"
        "    target = os.path.join(s3, opt('--bucket'), opt('--key'))\n"
        "    os.makedirs(os.path.dirname(target), exist_ok=True)\n"
        "    shutil.copyfile(opt('--body'), target)\n"
        "    key, _, value = opt('--metadata').partition('=')\n"
        "    json.dump({key: value}, open(target + '.meta', 'w'))\n"
        "else:\n"
        "    sys.exit(255)  # SSM: not reachable here, the default bucket name is used\n"
    )
    for tool in (npm, aws):
        tool.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "release"]):
        subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)
    return repo, env


def _publish(repo: Path, env: dict[str, str], service: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(repo / "infra/terraform/bin/publish-pex.sh"), "staging", service],
        cwd=repo,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _object(tmp_path: Path, key: str) -> tuple[bytes, str]:
    path = tmp_path / "s3" / "highnoon-staging-artifacts" / key
    return path.read_bytes(), json.loads(Path(f"{path}.meta").read_text())["sha256"]


def _tfvars(path: Path) -> dict[str, Any]:
    with path.open() as fh:
        return {k: v for k, v in hcl2.load(fh).items() if not k.startswith("__")}


def test_brokerlists_release_carries_its_page(tmp_path: Path) -> None:
    repo, env = _scratch_repo(tmp_path)
    proc = _publish(repo, env, "brokerlist")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=repo, capture_output=True, text=True).stdout
    version = f"0.3.1+g{commit.strip()}"
    release = repo / "infra/terraform/services/brokerlist/staging.release.tfvars"
    tfvars = _tfvars(release)
    page = tfvars["page"]
    assert unquote(tfvars["pex_version"]) == version == unquote(page["version"])
    # Beside the PEX, where modules/hn-service's page key and FetchRelease grant point.
    body, sha = _object(tmp_path, f"services/brokerlist/{version}/page.tar.gz")
    assert unquote(page["sha256"]) == sha == subprocess.run(
        ["sha256sum"], input=body, capture_output=True, check=True
    ).stdout.split()[0].decode()
    listing = subprocess.run(["tar", "-tz"], input=body, capture_output=True, check=True).stdout.decode().split()
    assert sorted(listing) == sorted(["./", *(f"./{n}" for n in BUILT_PAGE)])
    _, pex_sha = _object(tmp_path, f"services/brokerlist/{version}/brokerlist.pex")
    assert unquote(tfvars["pex_sha256"]) == pex_sha
    # What the root declares is what the script writes (a rename on either side breaks the deploy).
    declared = {labels[0]: body for labels, body, _ in dir_blocks(TF_ROOT / "services" / "brokerlist", "variable")}
    assert set(tfvars) <= set(declared)
    assert "version" in declared["page"]["type"] and "sha256" in declared["page"]["type"]

    # Published again from the same commit: the same bytes, so the objects are found, not refused.
    first = release.read_text()
    proc = _publish(repo, env, "brokerlist")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert release.read_text() == first


def test_a_release_without_the_page_says_so_and_other_services_have_none(tmp_path: Path) -> None:
    repo, env = _scratch_repo(tmp_path)
    proc = _publish(repo, env, "brokerlist", HN_PUBLISH_PAGE="0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tfvars = _tfvars(repo / "infra/terraform/services/brokerlist/staging.release.tfvars")
    assert tfvars["page"] is None
    assert not list((tmp_path / "s3").rglob("page.tar.gz"))
    proc = _publish(repo, env, "sso")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "page" not in _tfvars(repo / "infra/terraform/services/sso/staging.release.tfvars")


def test_the_page_is_published_from_committed_sources_only(tmp_path: Path) -> None:
    repo, env = _scratch_repo(tmp_path)
    (repo / "clients/web/src/play.ts").write_text("// changed, not committed\n")
    proc = _publish(repo, env, "brokerlist")
    assert proc.returncode != 0 and "uncommitted changes under clients/web" in proc.stderr
    assert not list((tmp_path / "s3").rglob("*.tar.gz"))
    # Without npm the page cannot be built: a clear refusal, with the way out.
    subprocess.run(["git", "checkout", "--", "."], cwd=repo, env=env, check=True)
    os.remove(tmp_path / "bin" / "npm")
    # This machine's own tools, but for Node's.
    tools = tmp_path / "tools"
    tools.mkdir()
    for directory in ("/usr/bin", "/bin"):
        for tool in Path(directory).iterdir():
            if tool.name not in ("npm", "npx", "node") and not (tools / tool.name).exists():
                (tools / tool.name).symlink_to(tool)
    proc = _publish(repo, {**env, "PATH": f"{tmp_path / 'bin'}:{tools}"}, "brokerlist")
    assert proc.returncode != 0 and "needs npm" in proc.stderr and "HN_PUBLISH_PAGE=0" in proc.stderr
