"""Structure of infra/terraform, read with python-hcl2: deploy roots, variables, security groups,
secrets, state, and the references `terraform validate` would check if a provider could be
downloaded here (module inputs and outputs, var./local./module. names)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from conftest import (
    DATATIER_TEMPLATES,
    REPO,
    TF_ROOT,
    dir_blocks,
    dir_text,
    load,
    locals_of,
    strip_comments,
    tf_dirs,
    unquote,
)

ENVIRONMENTS = ("staging", "prod")
PUBLIC_CIDRS = {"0.0.0.0/0", "::/0"}


def repo_services() -> list[str]:
    """Services of the monorepo: services/<name>/BUILD declaring hn_service(name=...)."""
    found = []
    for build in sorted((REPO / "services").glob("*/BUILD")):
        if "hn_service(" in build.read_text():
            found.append(build.parent.name)
    assert found, "no service found under services/"
    return found


def module_source_dir(caller: Path, source: str) -> Path:
    return (caller / source).resolve()


# -- deploy roots ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", repo_services())
def test_every_service_has_its_own_deploy_root(service: str) -> None:
    root = TF_ROOT / "services" / service
    assert (root / "main.tf").is_file(), f"services/{service} has no deploy root under infra/terraform/services/"
    modules = {labels[0]: body for labels, body, _ in dir_blocks(root, "module")}
    assert unquote(modules["service"]["source"]) == "../../modules/hn-service"
    assert unquote(modules["service"]["service"]) == service
    assert unquote(modules["platform"]["source"]) == "../../modules/platform-contract"
    # A small root: no resources of its own, everything through the shared module.
    assert not dir_blocks(root, "resource"), f"{service}'s root declares resources itself"
    backends = [b for entry in load(root / "main.tf")["terraform"] for b in entry.get("backend", [])]
    assert len(backends) == 1 and list(backends[0]) == ['"s3"']
    assert unquote(backends[0]['"s3"']["key"]) == f"services/{service}/terraform.tfstate"
    for env in ENVIRONMENTS:
        tfvars = root / f"{env}.tfvars"
        assert tfvars.is_file(), f"{service} has no {env}.tfvars"
        assert unquote(load(tfvars)["environment"]) == env


@pytest.mark.parametrize("service", [*repo_services(), "autoscaler"])
def test_every_service_root_runs_with_curve(service: str) -> None:
    """Service identity (docs/security.md): each root hands its hosts the CURVE authority of the
    platform contract, and every service but yellow yellow's key; none turns CURVE off."""
    root = TF_ROOT / ("autoscaler" if service == "autoscaler" else f"services/{service}")
    body = {labels[0]: b for labels, b, _ in dir_blocks(root, "module")}["service"]
    assert "curve" not in body, f"{service} sets curve: CURVE is on for every service"
    assert unquote(body["curve_authority_parameter"]) == "${module.platform.curve_authority_parameter}"
    if service != "yellow":
        assert unquote(body["yellow_curve_key"]) == "${module.platform.hn_yellow_curve_key}"


def test_the_platform_publishes_the_curve_authority() -> None:
    platform = TF_ROOT / "modules" / "platform"
    contract = locals_of(platform)["contract"]
    assert unquote(contract["curve_authority"]) == "${local.curve_authority}"
    assert unquote(contract["hn_yellow_curve_key"]) == '${local.curve_keys["yellow"][0]}'
    grants = {labels[0]: b for labels, b, _ in dir_blocks(platform, "variable")}["curve_grants"]["default"]
    assert {k: [unquote(s) for s in v] for k, v in grants.items()} == {
        "session": ["broker"],
        "push": ["broker", "match", "sso"],
        "kick": ["broker", "sso"],
        "host": ["match"],
    }


def test_yellow_gets_the_data_tier_probe_from_the_contract() -> None:
    """Issue 19: the deployed status page said "not configured". The platform publishes the
    Sentinels, Pgpool and the names of their passwords from the data tier; yellow's root hands them
    through modules/status-probe to its hosts (tests/test_render.py checks the rendered unit), and
    is the one logic host in the group the Sentinels let in."""
    contract = locals_of(TF_ROOT / "modules" / "platform")["contract"]
    published = {
        "hn_sentinels": "${module.data_tier.sentinel_addresses}",
        "hn_pgpool": "${module.data_tier.pgpool_address}",
        "sentinel_password_parameter": "${module.data_tier.sentinel_password_parameter}",
        "pgpool_monitor_password_parameter": "${module.data_tier.pgpool_monitor_password_parameter}",
        "yellow_security_group_id": '${module.network.security_group_ids["yellow"]}',
    }
    for name, value in published.items():
        assert unquote(contract[name]) == value, name
    read = [unquote(n) for n in locals_of(TF_ROOT / "modules" / "platform-contract")["names"]]
    assert set(published) <= set(read)
    # The parameters are the very ones the Sentinels and Pgpool hosts are given.
    outputs = {labels[0]: b for labels, b, _ in dir_blocks(TF_ROOT / "modules" / "data-tier", "output")}
    assert unquote(outputs["sentinel_password_parameter"]["value"]) == '${module.config.secret_parameters["sentinel"]}'
    assert unquote(outputs["pgpool_monitor_password_parameter"]["value"]) == '${module.config.secret_parameters["pgpool"]}'

    root = TF_ROOT / "services" / "yellow"
    modules = {labels[0]: body for labels, body, _ in dir_blocks(root, "module")}
    probe = modules["status_probe"]
    assert unquote(probe["source"]) == "../../modules/status-probe"
    assert {k: unquote(v) for k, v in probe.items() if k != "source" and not k.startswith("__")} == {
        "sentinels": "${module.platform.hn_sentinels}",
        "pgpool": "${module.platform.hn_pgpool}",
        "sentinel_credential_parameter": "${module.platform.sentinel_password_parameter}",
        "pgpool_credential_parameter": "${module.platform.pgpool_monitor_password_parameter}",
    }
    service = modules["service"]
    assert unquote(service["extra_ssm_files"]) == "${module.status_probe.ssm_files}"
    assert unquote(service["environment_variables"]) == "${merge(module.status_probe.env, var.environment_variables)}"
    assert [unquote(g) for g in service["security_group_ids"]] == [
        "${module.platform.service_security_group_id}",
        "${module.platform.yellow_security_group_id}",
    ]
    for other in repo_services():
        if other != "yellow":
            text = dir_text(TF_ROOT / "services" / other)
            assert "yellow_security_group_id" not in text and "status_probe" not in text, other

    rules = {n: r for n, r in _network_rules().items() if r["sg"] == "sentinel"}
    assert {r["source"] for r in rules.values()} == {"sentinel", "twemproxy", "yellow"}
    assert all(r["cidr"] is None for r in rules.values())
    assert not [n for n, r in _network_rules().items() if r["sg"] == "yellow"], "yellow's group is a source only"


def test_no_deploy_root_without_a_service() -> None:
    roots = sorted(p.name for p in (TF_ROOT / "services").iterdir() if p.is_dir())
    assert roots == sorted(repo_services())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_roots(env: str) -> None:
    root = TF_ROOT / "envs" / env
    modules = {labels[0]: body for labels, body, _ in dir_blocks(root, "module")}
    assert unquote(modules["platform"]["source"]) == "../../modules/platform"
    assert unquote(modules["platform"]["environment"]) == env
    backends = [b for entry in load(root / "main.tf")["terraform"] for b in entry.get("backend", [])]
    assert unquote(backends[0]['"s3"']["key"]) == "platform/terraform.tfstate"
    backend = load(root / "backend.hcl")
    assert unquote(backend["bucket"]) == f"highnoon-{env}-tfstate"
    assert unquote(backend["dynamodb_table"]) == f"highnoon-{env}-tflock"
    assert backend["encrypt"] is True and unquote(backend["region"])
    # One state per root, in the environment's own bucket: no key in backend.hcl.
    assert "key" not in backend


def test_bootstrap_makes_the_buckets_and_lock_table_the_backends_name() -> None:
    text = dir_text(TF_ROOT / "bootstrap")
    assert '"${var.name_prefix}-${var.environment}-tfstate"' in text
    assert '"${var.name_prefix}-${var.environment}-tflock"' in text
    assert 'hash_key     = "LockID"' in text  # what the S3 backend's locking expects


# -- every module and root ---------------------------------------------------------------------


@pytest.mark.parametrize("directory", tf_dirs(), ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_variables_have_a_description_and_a_type(directory: Path) -> None:
    for labels, body, path in dir_blocks(directory, "variable"):
        where = f"{path.relative_to(TF_ROOT)}: variable {labels[0]}"
        assert unquote(body.get("description", "")).strip(), f"{where} has no description"
        assert "type" in body, f"{where} has no type"


@pytest.mark.parametrize(
    "directory", [d for d in tf_dirs() if "modules" in d.parts], ids=lambda p: str(p.relative_to(TF_ROOT))
)
def test_module_outputs_have_a_description(directory: Path) -> None:
    for labels, body, path in dir_blocks(directory, "output"):
        assert unquote(body.get("description", "")).strip(), f"{path.relative_to(TF_ROOT)}: output {labels[0]}"


@pytest.mark.parametrize("directory", tf_dirs(), ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_terraform_and_provider_versions_are_pinned(directory: Path) -> None:
    settings = [block for path in sorted(directory.glob("*.tf")) for block in load(path).get("terraform", [])]
    assert settings, f"{directory.relative_to(TF_ROOT)} has no terraform block"
    assert any(unquote(s.get("required_version", "")) == ">= 1.0.3" for s in settings)
    uses_aws = any(
        labels[0].startswith("aws_")
        for labels, _, _ in dir_blocks(directory, "resource") + dir_blocks(directory, "data")
    )
    if uses_aws:
        providers = [p for s in settings for p in s.get("required_providers", [])]
        aws = [p["aws"] for p in providers if "aws" in p]
        assert aws and unquote(aws[0]["source"]) == "hashicorp/aws" and unquote(aws[0]["version"]) == "~> 5.91"


def _module_calls() -> list[tuple[Path, str, dict, Path]]:
    calls = []
    for directory in tf_dirs():
        for labels, body, _ in dir_blocks(directory, "module"):
            source = unquote(body["source"])
            assert source.startswith("../"), f"{directory}: module {labels[0]} is not a local module"
            calls.append((directory, labels[0], body, module_source_dir(directory, source)))
    return calls


@pytest.mark.parametrize("call", _module_calls(), ids=lambda c: f"{c[0].relative_to(TF_ROOT)}:{c[1]}")
def test_module_calls_match_the_modules_variables(call: tuple[Path, str, dict, Path]) -> None:
    """What `terraform validate` would say about a module call: unknown arguments, missing ones."""
    caller, name, body, target = call
    assert target.is_dir(), f"{caller}: module {name} points at a missing {target}"
    declared = {labels[0]: vbody for labels, vbody, _ in dir_blocks(target, "variable")}
    passed = {
        k
        for k in body
        if not k.startswith("__") and k not in ("source", "providers", "depends_on", "count", "for_each")
    }
    assert not passed - set(
        declared
    ), f"{caller.name}: module {name} passes undeclared {sorted(passed - set(declared))}"
    required = {k for k, v in declared.items() if "default" not in v}
    assert not required - passed, f"{caller.name}: module {name} misses {sorted(required - passed)}"


@pytest.mark.parametrize("directory", tf_dirs(), ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_references_resolve(directory: Path) -> None:
    """var.X, local.X and module.M.O name something that exists (no provider needed to know)."""
    text = strip_comments(dir_text(directory))
    declared_vars = {labels[0] for labels, _, _ in dir_blocks(directory, "variable")}
    used_vars = set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)", text))
    assert not used_vars - declared_vars, f"undeclared variables: {sorted(used_vars - declared_vars)}"
    used_locals = set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)", text))
    defined_locals = set(locals_of(directory))
    assert not used_locals - defined_locals, f"undefined locals: {sorted(used_locals - defined_locals)}"
    calls = {
        labels[0]: module_source_dir(directory, unquote(body["source"]))
        for labels, body, _ in dir_blocks(directory, "module")
    }
    for module, output in set(re.findall(r"\bmodule\.([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)", text)):
        assert module in calls, f"module.{module} is not called here"
        outputs = {labels[0] for labels, _, _ in dir_blocks(calls[module], "output")}
        assert output in outputs, f"module.{module} has no output {output}"


def test_service_ports_agree_everywhere() -> None:
    """The hosts' fixed ports (hn-service) are the ones the security groups open (network,
    platform): a drift would cut services off from each other."""
    defaults = []
    for module in ("hn-service", "network", "platform"):
        for labels, body, _ in dir_blocks(TF_ROOT / "modules" / module, "variable"):
            if labels[0] in ("ports", "service_ports"):
                defaults.append(body["default"])
    assert len(defaults) == 3 and defaults[0] == defaults[1] == defaults[2]


# -- security groups ---------------------------------------------------------------------------


def _network_rules() -> dict[str, dict]:
    rules = locals_of(TF_ROOT / "modules" / "network")["ingress"]
    return {name: {k: unquote(v) for k, v in rule.items()} for name, rule in rules.items()}


def test_only_the_broker_ports_and_https_face_the_internet() -> None:
    network = locals_of(TF_ROOT / "modules" / "network")
    assert unquote(network["anywhere"]) == "0.0.0.0/0"
    public = {
        name: rule for name, rule in _network_rules().items() if rule["cidr"] in ("${local.anywhere}", *PUBLIC_CIDRS)
    }
    assert {(r["sg"], r["from"], r["to"]) for r in public.values()} == {
        ("alb", 443, 443),
        ("broker", "${var.broker_port}", "${var.broker_port}"),
        ("broker", "${var.broker_ws_port}", "${var.broker_ws_port}"),
    }


def test_data_and_service_ports_open_only_inside() -> None:
    """ZeroMQ, metrics, Postgres, Pgpool, Redis, Sentinel, Twemproxy: from the VPC or from a
    security group, never from a public range."""
    for name, rule in _network_rules().items():
        if rule["sg"] in ("alb",) or name in ("broker_clients_public", "broker_websocket_public"):
            continue
        assert rule["cidr"] in (None, "${var.vpc_cidr}"), f"{name} opens to {rule['cidr']}"
        assert rule["cidr"] is not None or rule["source"], name
    # PostgreSQL and the Redis nodes are reached only from named groups, not the whole VPC.
    for name, rule in _network_rules().items():
        if rule["sg"] in ("postgres", "redis", "sentinel"):
            assert rule["cidr"] is None and rule["source"], name


def test_no_other_security_group_rule_anywhere() -> None:
    """Every rule goes through the network module's table (which the tests above read); a rule or
    inline ingress elsewhere must not open anything to a public range."""
    for directory in tf_dirs():
        for labels, body, path in dir_blocks(directory, "resource"):
            kind = labels[0]
            if kind == "aws_security_group":
                assert "ingress" not in body and "egress" not in body, f"{path}: inline rules"
            if kind in ("aws_security_group_rule", "aws_vpc_security_group_ingress_rule"):
                assert path.parent.name == "network", f"{path}: security group rule outside modules/network"
                assert unquote(body.get("cidr_ipv4", "")) not in PUBLIC_CIDRS
                assert unquote(body.get("cidr_ipv6", "")) not in PUBLIC_CIDRS


# -- secrets -----------------------------------------------------------------------------------

SECRET_PATTERNS = [
    (re.compile(r"AKIA[0-9A-Z]{16}"), "an AWS access key id"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    # A literal given to a secret-looking name; paths (a file, an SSM parameter name) are not secrets.
    (
        re.compile(r"(?i)\b\w*(password|passwd|secret|token|api_key|private_key)\s*=\s*\"[^\"$/][^\"$]*\""),
        "a secret-looking value",
    ),
    (re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@\"']+:[^/\s@\"']+@"), "a URL with a password"),
]


def _config_files() -> list[Path]:
    files = []
    for pattern in ("*.tf", "*.tfvars", "*.hcl", "*.tftpl", "*.sh"):
        files.extend(p for p in TF_ROOT.rglob(pattern) if ".terraform" not in p.parts)
    return sorted(files)


@pytest.mark.parametrize("path", _config_files(), ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_no_secret_literal(path: Path) -> None:
    text = path.read_text()
    for pattern, what in SECRET_PATTERNS:
        match = pattern.search(text)
        assert not match, f"{path.relative_to(TF_ROOT)} holds {what}: {match.group(0)!r}"


def test_secrets_never_enter_state() -> None:
    """No variable carries a secret and no SSM parameter is written by Terraform as SecureString
    (its value would sit in the state): operators create secrets, hosts read them."""
    for directory in tf_dirs():
        for labels, _, path in dir_blocks(directory, "variable"):
            assert not re.search(r"(?i)password|secret|token", labels[0]), f"{path}: variable {labels[0]}"
        for labels, body, path in dir_blocks(directory, "resource"):
            if labels[0] == "aws_ssm_parameter":
                assert unquote(body.get("type")) == "String", f"{path}: {labels}"
        for labels, body, path in dir_blocks(directory, "data"):
            if labels[0] == "aws_ssm_parameter":
                assert "with_decryption" not in body, f"{path}: Terraform must not read secrets"


def test_checkov_skips_give_a_reason() -> None:
    for path in TF_ROOT.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"checkov:skip=CKV2?_AWS_\d+:\s*\S.{20,}", line), f"{path}: {line.strip()}"


# -- the data tier uses hn-datatier's templates ---------------------------------------------------


def test_data_tier_renders_every_hn_datatier_template() -> None:
    source = (REPO / "libs/hn-datatier/src/hn_datatier/local/_templates.py").read_text()
    tree = ast.parse(source)
    templates = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "TEMPLATES" for t in node.targets)
    )
    config = TF_ROOT / "modules" / "data-tier-config"
    text = dir_text(config)
    assert '"${path.module}/../../../../libs/hn-datatier/src/hn_datatier/templates"' in text
    assert (config / "../../../../libs/hn-datatier/src/hn_datatier/templates").resolve() == DATATIER_TEMPLATES
    for name in templates:
        assert f'templatefile("${{local.templates}}/{name}"' in text, f"{name} is not rendered by data-tier-config"


@pytest.mark.parametrize("path", sorted(TF_ROOT.rglob("*.sh")), ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_shell_scripts_parse(path: Path) -> None:
    proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_backup_repository_bucket_is_private_versioned_and_ages_out_only_old_versions() -> None:
    """pgBackRest expires its own backups; the bucket's lifecycle must never expire a current
    object (a backup's chain) and must drop old versions and abandoned uploads."""
    directory = TF_ROOT / "modules" / "data-tier"
    resources = {tuple(labels): body for labels, body, _ in dir_blocks(directory, "resource")}
    assert ("aws_s3_bucket", "pg_backups") in resources
    block = resources[("aws_s3_bucket_public_access_block", "pg_backups")]
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
    assert unquote(resources[("aws_s3_bucket_versioning", "pg_backups")]["versioning_configuration"][0]["status"]) == "Enabled"
    rules = resources[("aws_s3_bucket_lifecycle_configuration", "pg_backups")]["rule"]
    assert len(rules) == 1 and unquote(rules[0]["status"]) == "Enabled"
    assert "expiration" not in rules[0]
    assert "noncurrent_version_expiration" in rules[0] and "abort_incomplete_multipart_upload" in rules[0]
    assert unquote(rules[0]["transition"][0]["storage_class"]) == "STANDARD_IA"
    text = dir_text(directory)
    assert "backup_bucket            = aws_s3_bucket.pg_backups.id" in text
    assert '"s3:GetObject", "s3:PutObject", "s3:DeleteObject"' in text
    assert 'values   = ["postgres_primary", "postgres_replica"]' in text  # the fence touches PostgreSQL hosts only


# -- brokerlist's browser page ---------------------------------------------------------------------


def test_only_brokerlist_ships_a_page_and_names_it_as_hn_brokerlist_reads_it() -> None:
    """The page is optional on modules/hn-service; brokerlist's root alone passes one, from its
    release tfvars (null: none), in the variable hn_brokerlist's config reads."""
    for service in repo_services():
        body = {labels[0]: b for labels, b, _ in dir_blocks(TF_ROOT / "services" / service, "module")}["service"]
        if service != "brokerlist":
            assert "page" not in body, f"{service} ships a page"
            continue
        page = unquote(body["page"])
        assert page.startswith("${var.page == null ? null : {") and '"HN_BROKERLIST_PAGE_DIR"' in page
    config = (REPO / "services/brokerlist/src/hn_brokerlist/_config.py").read_text()
    assert 'env.get("HN_BROKERLIST_PAGE_DIR"' in config
    declared = {labels[0]: b for labels, b, _ in dir_blocks(TF_ROOT / "services" / "brokerlist", "variable")}
    assert declared["page"]["default"] is None
    autoscaler = {labels[0]: b for labels, b, _ in dir_blocks(TF_ROOT / "autoscaler", "module")}["service"]
    assert "page" not in autoscaler
    module_vars = {labels[0]: b for labels, b, _ in dir_blocks(TF_ROOT / "modules" / "hn-service", "variable")}
    assert module_vars["page"]["default"] is None


def test_the_hosts_may_read_the_page_they_are_given() -> None:
    """The page's key sits under the release prefix the instance role's FetchRelease grant covers,
    beside the PEX (where bin/publish-pex.sh uploads it), and reaches the unit."""
    module = TF_ROOT / "modules" / "hn-service"
    local = locals_of(module)
    prefix = "services/${var.service}/"
    assert unquote(local["artifact_key"]).startswith(prefix)
    assert prefix + "${var.page.version}/page.tar.gz" in unquote(local["page_key"])
    policy = {labels[1]: b for labels, b, _ in dir_blocks(module, "data") if labels[0] == "aws_iam_policy_document"}
    fetch = [s for s in policy["host"]["statement"] if unquote(s["sid"]) == "FetchRelease"]
    assert [unquote(r) for r in fetch[0]["resources"]] == [
        "arn:${local.partition}:s3:::${var.artifact_bucket}/" + prefix + "*"
    ]
    unit = {labels[0]: b for labels, b, _ in dir_blocks(module, "module")}["unit"]
    assert "${local.page_key}" in unquote(unit["page"])
    publish = (TF_ROOT / "bin" / "publish-pex.sh").read_text()
    assert 'prefix="services/${what}"' in publish
    assert 'upload_once "${page_archive}" "${prefix}/${version}/page.tar.gz" "${page_sha256}"' in publish
