# Monitoring: one host running Prometheus (every instance found through yellow's /sd, the data
# tier's exporters through file_sd), Alertmanager (every alert to the receiver var.alert_receiver
# names), Grafana (ops/grafana's provisioning and dashboards), and, as the log host, the journals
# every host ships (modules/log-shipping: `hn logs --from http://LOG_HOST:19531`). Its address is
# the platform's `log_host` (fixed: hosts ship there before this root first runs).
# Apply it after the platform (infra/terraform/README.md).

terraform {
  required_version = ">= 1.0.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.91"
    }
  }

  # Bucket, lock table and region: `terraform init -backend-config=../envs/<env>/backend.hcl`.
  backend "s3" {
    key = "monitoring/terraform.tfstate"
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "highnoon:environment" = var.environment
      "highnoon:service"     = "monitoring"
      "highnoon:managed-by"  = "infra/terraform/monitoring"
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

module "platform" {
  source      = "../modules/platform-contract"
  environment = var.environment
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
  name          = "hn-${var.environment}-monitoring"
  partition     = data.aws_partition.current.partition
  ssm_arn       = "arn:${local.partition}:ssm:${var.region}:${data.aws_caller_identity.current.account_id}:parameter"
  bundle_prefix = "monitoring/${var.environment}/${module.config.bundle_hash}"
}

module "config" {
  source = "../modules/monitoring-config"

  environment             = var.environment
  yellow_ips              = module.platform.yellow_private_ips
  targets                 = module.platform.monitoring_targets
  alert_receiver_name     = var.alert_receiver_name
  alert_receiver          = var.alert_receiver
  alert_credential_files  = var.alert_credential_files
  grafana_admin_parameter = var.grafana_admin_parameter
  retention               = var.retention
  bundle_s3_uri           = "s3://${module.platform.artifact_bucket}/${local.bundle_prefix}/"
}

# The configuration, keyed by its digest: a change uploads a new set and (through the user data
# naming it) replaces the host.
resource "aws_s3_object" "bundle" {
  for_each     = module.config.files
  bucket       = module.platform.artifact_bucket
  key          = "${local.bundle_prefix}/${each.key}"
  content      = each.value
  content_type = "text/plain"
}

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
    sid       = "ReadConfiguration"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${module.platform.artifact_bucket}/monitoring/${var.environment}/*"]
  }

  statement {
    sid       = "ListConfiguration"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${module.platform.artifact_bucket}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["monitoring/${var.environment}/*"]
    }
  }

  # Only the receiver's credentials and Grafana's admin password.
  statement {
    sid       = "ReadSecrets"
    actions   = ["ssm:GetParameter"]
    resources = [for name in concat(values(var.alert_credential_files), [var.grafana_admin_parameter]) : "${local.ssm_arn}${name}"]
  }
}

resource "aws_iam_role" "host" {
  name               = local.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "host" {
  name   = local.name
  role   = aws_iam_role.host.id
  policy = data.aws_iam_policy_document.host.json
}

resource "aws_iam_instance_profile" "host" {
  name = local.name
  role = aws_iam_role.host.name
}

resource "aws_instance" "monitoring" {
  ami                    = var.ami_id != "" ? var.ami_id : data.aws_ami.debian[0].id
  instance_type          = var.instance_type
  subnet_id              = module.platform.app_subnet_ids[0]
  private_ip             = module.platform.log_host
  vpc_security_group_ids = [module.platform.monitoring_security_group_id]
  iam_instance_profile   = aws_iam_instance_profile.host.name
  user_data              = module.config.cloud_config
  # A new configuration is a new host (the bundle's digest is in the user data): metrics history
  # and received journals start over (README, "Left out").
  user_data_replace_on_change = true
  ebs_optimized               = true
  monitoring                  = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_size = var.volume_gb
    volume_type = "gp3"
    encrypted   = true
  }

  tags       = { Name = local.name, "highnoon:role" = "monitoring" }
  depends_on = [aws_s3_object.bundle]
}
