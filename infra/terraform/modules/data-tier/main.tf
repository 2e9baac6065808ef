# The data tier on EC2, wired as hn_datatier's local launcher wires it (its templates, via
# data-tier-config): PostgreSQL primary + streaming replica behind Pgpool-II, pre-sharded Redis
# (master + replica per shard) watched by Sentinels on their own hosts, Twemproxy run by the
# Sentinel agent. Services see two names: HN_PG_DSN (Pgpool's internal NLB) and HN_REDIS_URL
# (Twemproxy's internal NLB).
#
# Every host has a fixed address in a data subnet, because the configuration names them (Pgpool
# backends, Sentinel monitors, Twemproxy servers) and a replaced host must come back where the
# others look for it. Data hosts ignore later changes to their user data: a change of
# configuration reaches a running tier by replacing hosts one at a time, on purpose (README).

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_subnet" "data" {
  count = length(var.data_subnet_ids)
  id    = var.data_subnet_ids[count.index]
}

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
  ami_id          = var.ami_id != "" ? var.ami_id : data.aws_ami.debian[0].id
  zones           = length(var.data_subnet_ids)
  ssm_prefix      = "/highnoon/${var.environment}/datatier"
  client_env_path = "${local.ssm_prefix}/client/env"
  # HN_REDIS_PASSWORD: services that use Redis, the Twemproxy agents, the Redis nodes.
  redis_client_env_path = "${local.ssm_prefix}/redis-client/env"
  # HN_SENTINEL_PASSWORD: the Sentinels and the Twemproxy agents.
  sentinel_client_env_path = "${local.ssm_prefix}/sentinel-client/env"
  agent_key                = "libs/hn-datatier/${var.datatier_pex_version}/datatier.pex"
  partition                = data.aws_partition.current.partition
  ssm_arn                  = "arn:${local.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter"

  # Fixed addresses: host numbers 10 (PostgreSQL), 20+ (Pgpool), 30+ (Redis, a shard's replica in
  # the next zone), 60+ (Sentinel), 70+ (Twemproxy) of the data subnets, zones taken in turn.
  ip = {
    pg0 = cidrhost(var.fixed_cidrs[0], 10)
    pg1 = cidrhost(var.fixed_cidrs[1 % local.zones], 11)
  }
  shards = [
    for i in range(var.redis_shard_count) : {
      name       = "shard${i}"
      master_ip  = cidrhost(var.fixed_cidrs[i % local.zones], 30 + 2 * i)
      replica_ip = cidrhost(var.fixed_cidrs[(i + 1) % local.zones], 31 + 2 * i)
    }
  ]
  sentinel_ips = [for k in range(var.sentinel_count) : cidrhost(var.fixed_cidrs[k % local.zones], 60 + k)]

  config = module.config

  hosts = merge(
    {
      pg0 = { role = "postgres_primary", zone = 0, ip = local.ip.pg0, type = var.postgres_instance_type, sg = "postgres", profile = "postgres", user_data = local.config.cloud_config["postgres_primary"] }
      pg1 = { role = "postgres_replica", zone = 1 % local.zones, ip = local.ip.pg1, type = var.postgres_instance_type, sg = "postgres", profile = "postgres", user_data = local.config.cloud_config["postgres_replica"] }
    },
    {
      for k in range(var.pgpool_count) : "pgpool${k}" => {
        role = "pgpool", zone = k % local.zones, ip = cidrhost(var.fixed_cidrs[k % local.zones], 20 + k)
        type = var.pgpool_instance_type, sg = "pgpool", profile = "pgpool", user_data = local.config.cloud_config["pgpool"]
      }
    },
    merge([
      for i, shard in local.shards : {
        "${shard.name}-a" = { role = "redis", zone = i % local.zones, ip = shard.master_ip, type = var.redis_instance_type, sg = "redis", profile = "redis", user_data = local.config.redis_cloud_config["${shard.name}-a"] }
        "${shard.name}-b" = { role = "redis", zone = (i + 1) % local.zones, ip = shard.replica_ip, type = var.redis_instance_type, sg = "redis", profile = "redis", user_data = local.config.redis_cloud_config["${shard.name}-b"] }
      }
    ]...),
    {
      for k, ip in local.sentinel_ips : "sentinel${k}" => {
        role = "sentinel", zone = k % local.zones, ip = ip
        type = var.sentinel_instance_type, sg = "sentinel", profile = "sentinel", user_data = local.config.cloud_config["sentinel"]
      }
    },
    {
      for k in range(var.twemproxy_count) : "twemproxy${k}" => {
        role = "twemproxy", zone = k % local.zones, ip = cidrhost(var.fixed_cidrs[k % local.zones], 70 + k)
        type = var.twemproxy_instance_type, sg = "twemproxy", profile = "twemproxy", user_data = local.config.cloud_config["twemproxy"]
      }
    },
  )
}

# -- PostgreSQL data volumes: they outlive the hosts ----------------------------------------------

resource "aws_ebs_volume" "postgres" {
  #checkov:skip=CKV_AWS_189:Encrypted with the account's AWS-managed EBS key; a customer-managed key (and its rotation and grants) is left out of this first cut (README).
  for_each          = toset(["pg0", "pg1"])
  availability_zone = data.aws_subnet.data[each.key == "pg0" ? 0 : 1 % local.zones].availability_zone
  size              = var.postgres_volume_gb
  type              = "gp3"
  encrypted         = true
  tags              = merge(var.tags, { Name = "${var.name}-${each.key}-data", "highnoon:role" = "postgres" })

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_volume_attachment" "postgres" {
  for_each    = aws_ebs_volume.postgres
  device_name = "/dev/sdf"
  volume_id   = each.value.id
  instance_id = aws_instance.host[each.key].id
}

# -- the pgBackRest repository: base backups and archived WAL ------------------------------------

resource "aws_s3_bucket" "pg_backups" {
  #checkov:skip=CKV_AWS_144:One region's repository; a second one (pgBackRest repo2, or bucket replication) is left out of this first cut (README, restore runbook).
  #checkov:skip=CKV_AWS_18:Access logging is left out of this first cut, as for the artifact bucket.
  #checkov:skip=CKV2_AWS_62:No event notifications: pgBackRest's own logs and the backup timers report.
  #checkov:skip=CKV_AWS_145:Encrypted with S3's managed keys (SSE-S3); a customer-managed KMS key is left out of this first cut, as for the EBS volumes.
  bucket = "${var.name}-pg-backups-${data.aws_caller_identity.current.account_id}"
  tags   = merge(var.tags, { "highnoon:role" = "pg-backups" })

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_public_access_block" "pg_backups" {
  bucket                  = aws_s3_bucket.pg_backups.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "pg_backups" {
  bucket = aws_s3_bucket.pg_backups.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# Versioning keeps what pgBackRest expires (or someone deletes) for a while: the lifecycle rule
# drops those old versions after pg_backup_noncurrent_days.
resource "aws_s3_bucket_versioning" "pg_backups" {
  bucket = aws_s3_bucket.pg_backups.id
  versioning_configuration {
    status = "Enabled"
  }
}

# pgBackRest expires backups and their WAL itself (repo1-retention-full); the bucket's lifecycle
# only moves what has aged to cheaper storage, drops expired versions and abandoned uploads. It
# never expires a current object: that would break the chain of a backup pgBackRest still lists.
resource "aws_s3_bucket_lifecycle_configuration" "pg_backups" {
  bucket = aws_s3_bucket.pg_backups.id

  rule {
    id     = "pgbackrest-repository"
    status = "Enabled"
    filter {}

    transition {
      days          = var.pg_backup_infrequent_access_days
      storage_class = "STANDARD_IA"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.pg_backup_noncurrent_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.pg_backups]
}

module "config" {
  source = "../data-tier-config"

  environment              = var.environment
  vpc_cidr                 = var.vpc_cidr
  ssm_prefix               = local.ssm_prefix
  client_env_path          = local.client_env_path
  redis_client_env_path    = local.redis_client_env_path
  sentinel_client_env_path = local.sentinel_client_env_path
  ports                    = var.ports
  pg_primary_ip            = local.ip.pg0
  pg_replica_ip            = local.ip.pg1
  region                   = data.aws_region.current.name
  backup_bucket            = aws_s3_bucket.pg_backups.id
  backup_retention_full    = var.pg_backup_retention_full
  pg_synchronous           = var.pg_synchronous
  pg_primary_volume_id     = aws_ebs_volume.postgres["pg0"].id
  pg_replica_volume_id     = aws_ebs_volume.postgres["pg1"].id
  pg_shared_buffers        = var.postgres_shared_buffers
  pgpool_count             = var.pgpool_count
  pgpool_children          = var.pgpool_children
  redis_shards             = local.shards
  redis_maxmemory          = var.redis_maxmemory
  sentinel_ips             = local.sentinel_ips
  agent_pex_version        = var.datatier_pex_version
  agent_pex_s3_uri         = "s3://${var.artifact_bucket}/${local.agent_key}"
  agent_pex_sha256         = var.datatier_pex_sha256
  exporter_ports           = { postgres_exporter = var.monitoring_ports.postgres_exporter, redis_exporter = var.monitoring_ports.redis_exporter }
  log_host                 = var.log_host
}

# -- instance roles: every data host reads its own passwords (SSM, at boot or at every start); ----
# -- Twemproxy hosts also fetch the agent ---------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

locals {
  # The PostgreSQL hosts' and the Pgpool hosts' passwords (the roles', pool_passwd's).
  postgres_password_arns = [
    "${local.ssm_arn}${local.ssm_prefix}/postgres/*",
    "${local.ssm_arn}${local.client_env_path}/PGPASSWORD",
  ]
}

data "aws_iam_policy_document" "postgres" {
  statement {
    sid       = "ReadPasswords"
    actions   = ["ssm:GetParameter"]
    resources = local.postgres_password_arns
  }

  # pgBackRest: WAL archiving and base backups into the repository, restores from it.
  statement {
    sid       = "BackupRepositoryList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.pg_backups.arn]
  }

  statement {
    sid       = "BackupRepositoryObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.pg_backups.arn}/*"]
  }
}

# Pgpool hosts read the same passwords (pool_passwd, the failover script's) and fence a lost
# primary: a forced stop and a start of a PostgreSQL instance, nothing else (pg-fence.sh).
data "aws_iam_policy_document" "pgpool" {
  statement {
    sid       = "ReadPasswords"
    actions   = ["ssm:GetParameter"]
    resources = local.postgres_password_arns
  }

  statement {
    sid       = "FindPostgresHosts"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"] # DescribeInstances takes no resource
  }

  statement {
    sid       = "FencePostgresHosts"
    actions   = ["ec2:StopInstances", "ec2:StartInstances"]
    resources = ["arn:${local.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/highnoon:role"
      values   = ["postgres_primary", "postgres_replica"]
    }
  }
}

data "aws_iam_policy_document" "redis" {
  statement {
    sid     = "ReadPasswords"
    actions = ["ssm:GetParameter"]
    resources = [
      "${local.ssm_arn}${local.ssm_prefix}/redis/*",
      "${local.ssm_arn}${local.redis_client_env_path}/HN_REDIS_PASSWORD",
    ]
  }
}

data "aws_iam_policy_document" "sentinel" {
  statement {
    sid     = "ReadPasswords"
    actions = ["ssm:GetParameter"]
    resources = [
      "${local.ssm_arn}${local.ssm_prefix}/redis/sentinel_user_password",
      "${local.ssm_arn}${local.sentinel_client_env_path}/HN_SENTINEL_PASSWORD",
    ]
  }
}

data "aws_iam_policy_document" "twemproxy" {
  statement {
    sid       = "FetchAgent"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${var.artifact_bucket}/libs/hn-datatier/*"]
  }

  # The agent's unit turns these paths into its environment at every start (modules/pex-unit).
  statement {
    sid       = "ReadPasswords"
    actions   = ["ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"]
    resources = flatten([for p in [local.redis_client_env_path, local.sentinel_client_env_path] : ["${local.ssm_arn}${p}", "${local.ssm_arn}${p}/*"]])
  }
}

locals {
  policies = {
    postgres  = data.aws_iam_policy_document.postgres.json
    pgpool    = data.aws_iam_policy_document.pgpool.json
    redis     = data.aws_iam_policy_document.redis.json
    sentinel  = data.aws_iam_policy_document.sentinel.json
    twemproxy = data.aws_iam_policy_document.twemproxy.json
  }
}

resource "aws_iam_role" "host" {
  for_each           = local.policies
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "host" {
  for_each = local.policies
  name     = "${var.name}-${each.key}"
  role     = aws_iam_role.host[each.key].id
  policy   = each.value
}

resource "aws_iam_instance_profile" "host" {
  for_each = local.policies
  name     = "${var.name}-${each.key}"
  role     = aws_iam_role.host[each.key].name
}

# -- hosts -----------------------------------------------------------------------------------------

resource "aws_instance" "host" {
  for_each               = local.hosts
  ami                    = local.ami_id
  instance_type          = each.value.type
  subnet_id              = var.data_subnet_ids[each.value.zone]
  private_ip             = each.value.ip
  vpc_security_group_ids = [var.security_group_ids[each.value.sg]]
  iam_instance_profile   = aws_iam_instance_profile.host[each.value.profile].name
  # Gzipped whole (cloud-init reads gzip user data): EC2 takes 16 KiB, and a PostgreSQL host's
  # files (keeper, backups, failover, exporter, log shipping) pass that even compressed one by one.
  user_data_base64 = base64gzip(each.value.user_data)
  ebs_optimized    = true
  monitoring       = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_size = each.value.role == "redis" ? 64 : 20
    volume_type = "gp3"
    encrypted   = true
  }

  tags        = merge(var.tags, { Name = "${var.name}-${each.key}", "highnoon:role" = each.value.role })
  volume_tags = merge(var.tags, { Name = "${var.name}-${each.key}", "highnoon:role" = each.value.role })

  lifecycle {
    # Stateful hosts: a new AMI or a new rendering never replaces one behind the operator's back.
    ignore_changes = [ami, user_data_base64]
  }
}

# -- the two front doors: internal NLBs over the Pgpool and the Twemproxy hosts --------------------

locals {
  front_doors = {
    pgpool    = { port = var.ports.pgpool, hosts = [for k in range(var.pgpool_count) : "pgpool${k}"] }
    twemproxy = { port = var.ports.twemproxy, hosts = [for k in range(var.twemproxy_count) : "twemproxy${k}"] }
  }
  door_targets = merge([
    for door, spec in local.front_doors : { for host in spec.hosts : "${door}/${host}" => { door = door, host = host, port = spec.port } }
  ]...)
}

resource "aws_lb" "door" {
  #checkov:skip=CKV_AWS_91:Internal TCP load balancers in front of Pgpool and Twemproxy; both log connections themselves, and NLB access logs only exist for TLS listeners.
  for_each                         = local.front_doors
  name                             = "${var.name}-${each.key}"
  load_balancer_type               = "network"
  internal                         = true
  subnets                          = var.data_subnet_ids
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = true
  tags                             = var.tags
}

resource "aws_lb_target_group" "door" {
  for_each             = local.front_doors
  name                 = "${var.name}-${each.key}"
  vpc_id               = var.vpc_id
  target_type          = "instance"
  protocol             = "TCP"
  port                 = each.value.port
  deregistration_delay = 30
  preserve_client_ip   = true

  health_check {
    protocol            = "TCP"
    port                = "traffic-port"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "door" {
  for_each          = local.front_doors
  load_balancer_arn = aws_lb.door[each.key].arn
  protocol          = "TCP"
  port              = each.value.port
  # Pooled connections sit idle between bursts: the longest idle time an NLB allows (PostgreSQL
  # clients also send keepalives, see HN_PG_DSN; redis-py reconnects on the next command).
  tcp_idle_timeout_seconds = 6000

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.door[each.key].arn
  }

  tags = var.tags
}

resource "aws_lb_target_group_attachment" "door" {
  for_each         = local.door_targets
  target_group_arn = aws_lb_target_group.door[each.value.door].arn
  target_id        = aws_instance.host[each.value.host].id
  port             = each.value.port
}
