# Renders the cloud-init document of a host that runs one PEX under systemd. No provider and no
# resource: the output is plain text, so the CI renders it offline with `terraform apply` on a
# fixture (infra/terraform/tests) and checks the unit it produces.

locals {
  unit_name  = "hn-${var.service}.service"
  state_dir  = "/var/lib/highnoon/${var.service}"
  run_dir    = "/run/highnoon/${var.service}"
  pex_path   = "${local.state_dir}/${var.service}-${var.pex_version}.pex"
  prepare    = "/usr/local/lib/highnoon/prepare-${var.service}"
  ready_file = "${local.run_dir}/ready.json"
  seed_dir   = "/etc/highnoon/${var.service}/seed"
  with_hook  = var.autoscaling_group_name != ""
  with_drain = local.with_hook && var.drain_on_termination
  drain      = "/usr/local/lib/highnoon/drain-${var.service}"

  # The optional web page (brokerlist's /play/): its checked archive and the folder unpacked from
  # it, outside the state directory and owned by root, so the service user reads it but cannot
  # change what it serves (ProtectSystem=strict makes /usr read-only to the process as well).
  with_page    = var.page != null
  page_root    = "/usr/local/share/highnoon/${var.service}"
  page_archive = local.with_page ? "${local.page_root}/page-${var.page.version}.tar.gz" : ""
  page_dir     = local.with_page ? "${local.page_root}/page-${var.page.version}" : ""

  # Set by this module whatever the caller passes: where the PEX unpacks, and the file the
  # runtime writes once it serves (the lifecycle hook waits for it).
  env = merge(
    var.env,
    var.pex_module == "" ? {} : { PEX_MODULE = var.pex_module },
    local.with_page ? { (var.page.env) = local.page_dir } : {},
    {
      PEX_ROOT      = "${local.state_dir}/pex_root"
      HN_READY_FILE = local.ready_file
    },
  )

  # systemd reads Environment="K=V" with C-style escapes and expands %-specifiers.
  env_lines = [
    for k in sort(keys(local.env)) :
    format("Environment=\"%s=%s\"", k, replace(replace(replace(local.env[k], "\\", "\\\\"), "\"", "\\\""), "%", "%%"))
  ]

  exec_start = join(" ", concat([var.python, local.pex_path], [for a in var.args : format("%q", a)]))

  unit = templatefile("${path.module}/templates/service.unit.tftpl", {
    service          = var.service
    environment      = var.environment
    version          = var.pex_version
    user             = var.user
    prepare          = local.prepare
    env_lines        = local.env_lines
    exec_start       = replace(local.exec_start, "%", "%%")
    stop_timeout     = ceil(var.drain_seconds) + 20
    extra_unit_lines = var.extra_unit_lines
  })

  prepare_script = templatefile("${path.module}/templates/prepare.sh.tftpl", {
    service       = var.service
    user          = var.user
    state_dir     = local.state_dir
    pex_path      = local.pex_path
    pex_s3_uri    = var.pex_s3_uri
    pex_sha256    = var.pex_sha256
    ssm_env_paths = var.ssm_env_paths
    ssm_files     = var.ssm_files
    public_ip_env = var.public_ip_env
    seed_dir      = local.seed_dir
    seed_files    = sort(keys(var.seed_files))
    ssm_files     = var.ssm_files
    page_s3_uri   = local.with_page ? var.page.s3_uri : ""
    page_sha256   = local.with_page ? var.page.sha256 : ""
    page_root     = local.page_root
    page_archive  = local.page_archive
    page_dir      = local.page_dir
  })

  ready_script = templatefile("${path.module}/templates/ready.sh.tftpl", {
    service                = var.service
    ready_file             = local.ready_file
    ready_timeout_seconds  = var.ready_timeout_seconds
    autoscaling_group_name = var.autoscaling_group_name
    lifecycle_hook_name    = var.lifecycle_hook_name
  })

  ready_unit = templatefile("${path.module}/templates/ready.unit.tftpl", {
    service = var.service
    script  = "/usr/local/lib/highnoon/ready-${var.service}"
  })

  drain_script = templatefile("${path.module}/templates/drain.sh.tftpl", {
    service   = var.service
    unit_name = local.unit_name
  })

  drain_unit = templatefile("${path.module}/templates/drain.unit.tftpl", {
    service = var.service
    script  = local.drain
  })

  write_files = concat(
    [
      {
        path        = local.prepare
        owner       = "root:root"
        permissions = "0755"
        content     = local.prepare_script
      },
      {
        path        = "/etc/systemd/system/${local.unit_name}"
        owner       = "root:root"
        permissions = "0644"
        content     = local.unit
      },
    ],
    local.with_hook ? [
      {
        path        = "/usr/local/lib/highnoon/ready-${var.service}"
        owner       = "root:root"
        permissions = "0755"
        content     = local.ready_script
      },
      {
        path        = "/etc/systemd/system/hn-${var.service}-ready.service"
        owner       = "root:root"
        permissions = "0644"
        content     = local.ready_unit
      },
    ] : [],
    local.with_drain ? [
      {
        path        = local.drain
        owner       = "root:root"
        permissions = "0755"
        content     = local.drain_script
      },
      {
        path        = "/etc/systemd/system/hn-${var.service}-drain.service"
        owner       = "root:root"
        permissions = "0644"
        content     = local.drain_unit
      },
    ] : [],
    [
      for name in sort(keys(var.seed_files)) : {
        path        = "${local.seed_dir}/${name}"
        owner       = "root:root"
        permissions = "0644"
        content     = var.seed_files[name]
      }
    ],
    [
      for path in sort(keys(module.logs.sender.files)) : {
        path        = path
        owner       = "root:root"
        permissions = "0644"
        content     = module.logs.sender.files[path]
      }
    ],
  )

  cloud_config = {
    package_update = true
    packages       = distinct(concat(["python3.11", "awscli", "curl", "ca-certificates"], var.extra_packages, module.logs.sender.packages))
    users = [
      "default",
      {
        name           = var.user
        system         = true
        shell          = "/usr/sbin/nologin"
        homedir        = "/var/lib/highnoon"
        no_create_home = true
        lock_passwd    = true
      },
    ]
    write_files = local.write_files
    runcmd = concat(
      var.extra_commands,
      module.logs.sender.commands,
      [
        "systemctl daemon-reload",
        "systemctl enable --now ${local.unit_name}",
      ],
      # Not waited for: cloud-init finishes while the host waits for its process to serve.
      local.with_hook ? ["systemctl enable --now --no-block hn-${var.service}-ready.service"] : [],
      local.with_drain ? ["systemctl enable --now --no-block hn-${var.service}-drain.service"] : [],
    )
  }
}

# The unit's journal (its JSON lines, as SyslogIdentifier=hn-<service>) to the log host.
module "logs" {
  source   = "../log-shipping"
  log_host = var.log_host
}
