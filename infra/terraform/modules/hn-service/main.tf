# One HighNoon service on EC2: hosts that each run the service's PEX under systemd (pex-unit), an
# instance role that reads only this service's PEX and SSM parameters, and either an autoscaling
# group rolled by instance refresh (every service) or one instance per fixed address (yellow,
# whose addresses are the one piece of network configuration every other process has).
# With curve (the default), the hosts fetch the service's CURVE secret key and the platform's
# CURVE authority from SSM into files at every start (docs/security.md, "Service identity").

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_ami" "debian" {
  count       = var.ami_id == "" ? 1 : 0
  most_recent = true
  owners      = ["136693071363"] # Debian's official cloud images

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

locals {
  name          = "hn-${var.environment}-${var.service}"
  fixed         = length(var.fixed_private_ips) > 0
  ami_id        = var.ami_id != "" ? var.ami_id : data.aws_ami.debian[0].id
  artifact_key  = "services/${var.service}/${var.pex_version}/${var.service}.pex"
  ssm_env_path  = "/highnoon/${var.environment}/${var.service}/env"
  hook_name     = "hn-serving"
  account       = data.aws_caller_identity.current.account_id
  region        = data.aws_region.current.name
  partition     = data.aws_partition.current.partition
  asg_arn_glob  = "arn:${local.partition}:autoscaling:${local.region}:${local.account}:autoScalingGroup:*:autoScalingGroupName/${local.name}"
  ssm_arn       = "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter"
  ssm_env_paths = concat(var.extra_ssm_env_paths, [local.ssm_env_path])

  # The web page's archive, published beside the PEX (bin/publish-pex.sh): under the same prefix,
  # so the FetchRelease grant below covers it.
  page_key = var.page == null ? "" : "services/${var.service}/${var.page.version}/page.tar.gz"

  # CURVE: the key pair of this service (a SecureString operators create) and the authority (the
  # platform's contract), as files in the process's state directory (pex-unit's, same path).
  curve_secret_parameter = "/highnoon/${var.environment}/${var.service}/curve/secret_key"
  curve_state_dir        = "/var/lib/highnoon/${var.service}"
  curve_files = var.curve ? {
    "curve.key"            = local.curve_secret_parameter
    "curve-authority.json" = var.curve_authority_parameter
  } : {}
  curve_env = var.curve ? merge(
    {
      HN_CURVE_KEY_FILE  = "${local.curve_state_dir}/curve.key"
      HN_CURVE_AUTHORITY = "${local.curve_state_dir}/curve-authority.json"
    },
    var.yellow == "" ? {} : { HN_YELLOW_CURVE_KEY = var.yellow_curve_key },
  ) : {}
  # Parameters the host keeps as files in the state directory: CURVE's and the caller's own.
  ssm_files     = merge(local.curve_configured ? local.curve_files : {}, var.extra_ssm_files)
  instance_tags = merge(var.tags, { Name = local.name, "highnoon:service" = var.service, "highnoon:version" = var.pex_version })

  # The runtime's settings every host shares (libs/hn-runtime RuntimeConfig.from_env): one process
  # per host, so fixed ports the security groups can name; bound on every interface, advertised
  # at the private address the prepare step finds (HN_ADVERTISE_HOST).
  runtime_env = merge(
    {
      HN_BIND_HOST     = "0.0.0.0"
      HN_REP_PORT      = tostring(var.ports.rep)
      HN_PULL_PORT     = tostring(var.ports.pull)
      HN_PUB_PORT      = tostring(var.ports.pub)
      HN_METRICS_PORT  = tostring(var.ports.metrics)
      HN_HTTP_PORT     = tostring(var.ports.http)
      HN_DRAIN_SECONDS = tostring(var.drain_seconds)
      HN_LOG_LEVEL     = var.log_level
    },
    var.yellow == "" ? {} : { HN_YELLOW = var.yellow },
  )
  env = merge(local.runtime_env, local.curve_env, var.environment_variables)

  # Terraform 1.0 validations cannot compare two variables: a failing tobool() stops the plan.
  fixed_subnets_match = !local.fixed || length(var.subnet_ids) == length(var.fixed_private_ips) ? true : tobool(
    "fixed_private_ips and subnet_ids must have the same length: subnet_ids[i] holds fixed_private_ips[i]"
  )
  curve_configured = !var.curve || (var.curve_authority_parameter != "" && (var.yellow == "" || var.yellow_curve_key != "")) ? true : tobool(
    "curve needs curve_authority_parameter, and yellow_curve_key for every service but yellow (both from the platform contract)"
  )

  # The group's bounds. Without min_size/max_size the group stays at instance_count, with room for a
  # deploy's second set of hosts; with them, the autoscaler (infra/terraform/autoscaler) sizes it
  # between the two, and instance_count is only the size the group starts at.
  min_size = var.min_size == null ? var.instance_count : var.min_size
  max_size = var.max_size == null ? var.instance_count * 2 : var.max_size
  bounds_hold_size = local.min_size <= var.instance_count && var.instance_count <= local.max_size ? true : tobool(
    "need min_size <= instance_count <= max_size"
  )
  drain_hook_name = "hn-draining"
  drain_hook      = !local.fixed && var.drain_timeout_seconds > 0
}

module "unit" {
  source = "../pex-unit"

  service                = var.service
  environment            = var.environment
  pex_version            = var.pex_version
  pex_s3_uri             = "s3://${var.artifact_bucket}/${local.artifact_key}"
  pex_sha256             = var.pex_sha256
  env                    = local.env
  ssm_env_paths          = local.ssm_env_paths
  ssm_files              = local.ssm_files
  extra_packages         = var.curve ? ["libsodium23"] : [] # CURVE's crypto for libzmq (hn_runtime._sodium)
  public_ip_env          = var.public_ip_env
  drain_seconds          = var.drain_seconds
  autoscaling_group_name = local.fixed ? "" : local.name
  lifecycle_hook_name    = local.hook_name
  ready_timeout_seconds  = var.launch_timeout_seconds - 60
  drain_on_termination   = local.drain_hook
  log_host               = var.log_host
  page = var.page == null ? null : {
    s3_uri  = "s3://${var.artifact_bucket}/${local.page_key}"
    sha256  = var.page.sha256
    version = var.page.version
    env     = var.page.env
  }
}

# -- instance role: this service's PEX, this service's parameters, its own lifecycle hook -------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "host" {
  statement {
    sid       = "FetchRelease"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${var.artifact_bucket}/services/${var.service}/*"]
  }

  statement {
    sid       = "ReadEnvironment"
    actions   = ["ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"]
    resources = flatten([for p in local.ssm_env_paths : ["${local.ssm_arn}${p}", "${local.ssm_arn}${p}/*"]])
  }

  dynamic "statement" {
    for_each = length(local.ssm_files) == 0 ? [] : [values(local.ssm_files)]
    content {
      sid       = "ReadFiles"
      actions   = ["ssm:GetParameter"]
      resources = [for p in statement.value : "${local.ssm_arn}${p}"]
    }
  }

  dynamic "statement" {
    for_each = var.ssm_kms_key_arn == "" ? [] : [var.ssm_kms_key_arn]
    content {
      sid       = "DecryptEnvironment"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.fixed ? [] : [local.asg_arn_glob]
    content {
      sid       = "CompleteLaunch"
      actions   = ["autoscaling:CompleteLifecycleAction"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role" "host" {
  name               = local.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "host" {
  name   = "${local.name}-host"
  role   = aws_iam_role.host.id
  policy = data.aws_iam_policy_document.host.json
}

resource "aws_iam_instance_profile" "host" {
  name = local.name
  role = aws_iam_role.host.name
}

# -- autoscaling group: every service but the fixed-address ones -----------------------------------

resource "aws_launch_template" "host" {
  #checkov:skip=CKV_AWS_88:Only the brokers' root sets associate_public_ip: game clients connect straight to the broker brokerlist names, on the one port the broker security group opens.
  count                  = local.fixed ? 0 : 1
  name                   = local.name
  image_id               = local.ami_id
  instance_type          = var.instance_type
  user_data              = base64encode(module.unit.cloud_config)
  update_default_version = true
  ebs_optimized          = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.host.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  network_interfaces {
    associate_public_ip_address = var.associate_public_ip
    security_groups             = var.security_group_ids
    delete_on_termination       = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = local.instance_tags
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.instance_tags
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "hosts" {
  count = local.fixed ? 0 : 1
  name  = local.name

  # The bounds (see locals): max_size leaves room for a deploy's new hosts, which start and serve
  # before the old ones are stopped (max_healthy_percentage 200 below). The desired capacity is
  # instance_count when the group is made, and the autoscaler's afterwards: an apply leaves it be.
  min_size            = local.bounds_hold_size ? local.min_size : null
  desired_capacity    = var.instance_count
  max_size            = local.max_size
  vpc_zone_identifier = var.subnet_ids
  target_group_arns   = var.target_group_arns

  #checkov:skip=CKV2_AWS_15:Hosts behind a load balancer use ELB health checks (below); the others have no load balancer to ask, and their readiness gates the launch through the lifecycle hook.
  health_check_type         = length(var.target_group_arns) > 0 ? "ELB" : "EC2"
  health_check_grace_period = var.launch_timeout_seconds
  default_instance_warmup   = 30
  wait_for_capacity_timeout = "${var.launch_timeout_seconds + 300}s"

  launch_template {
    id      = aws_launch_template.host[0].id
    version = aws_launch_template.host[0].latest_version
  }

  # A new host counts as launched only once its process serves (ready-<service> completes the
  # hook); one that never does is abandoned, which fails the refresh and keeps the old hosts.
  initial_lifecycle_hook {
    name                 = local.hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    default_result       = "ABANDON"
    heartbeat_timeout    = var.launch_timeout_seconds
  }

  # A new launch template version (a new release, new environment) rolls the group: new hosts
  # first, then the old ones terminate, which stops their unit: SIGTERM, drain, exit 0. Behind a
  # load balancer the group deregisters a host and waits out the deregistration delay first.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
      skip_matching          = true
      # The autoscaler's scale-in protects every host but its victims; a deploy replaces them all.
      scale_in_protected_instances = "Refresh"
    }
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }

  dynamic "tag" {
    for_each = local.instance_tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

# A terminating host drains before EC2 stops it: the group holds it in Terminating:Wait, the host
# sees that in its instance metadata and stops its unit (pex-unit's drain watcher), and the
# autoscaler completes this hook once the instance has left yellow. If nobody does (no autoscaler
# running), the timeout lets the termination go on. A separate resource, not an
# initial_lifecycle_hook: those only apply when the group is created.
resource "aws_autoscaling_lifecycle_hook" "drain" {
  count                  = local.drain_hook ? 1 : 0
  name                   = local.drain_hook_name
  autoscaling_group_name = aws_autoscaling_group.hosts[0].name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  default_result         = "CONTINUE"
  heartbeat_timeout      = var.drain_timeout_seconds
}

# -- fixed addresses: one instance per address --------------------------------------------------

resource "aws_instance" "fixed" {
  count                       = local.fixed ? length(var.fixed_private_ips) : 0
  ami                         = local.ami_id
  instance_type               = var.instance_type
  subnet_id                   = local.fixed_subnets_match ? var.subnet_ids[count.index] : null
  private_ip                  = var.fixed_private_ips[count.index]
  vpc_security_group_ids      = var.security_group_ids
  iam_instance_profile        = aws_iam_instance_profile.host.name
  associate_public_ip_address = false
  user_data                   = module.unit.cloud_config
  # The address outlives the instance: a new release replaces the host (destroy, then create
  # with the same address). Clients keep working on their cached view meanwhile; replace one
  # address at a time (README) to keep the others answering.
  user_data_replace_on_change = true
  ebs_optimized               = true
  monitoring                  = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_size = var.root_volume_gb
    volume_type = "gp3"
    encrypted   = true
  }

  tags        = merge(local.instance_tags, { Name = "${local.name}-${count.index}" })
  volume_tags = merge(local.instance_tags, { Name = "${local.name}-${count.index}" })
}
