# The autoscaler: `python -m hn_autoscale` (the libs/hn-autoscale:autoscaler PEX) under systemd on
# hosts of its own, the same way a service runs (modules/hn-service). Two hosts: the holder of a
# lease in the data tier's Redis acts, the other stands by and takes over when the lease lapses.
# It sizes the groups of the services named in var.services, whose own roots set their bounds
# (min_size, max_size) and their termination hook; Terraform leaves their desired capacity to it.
# Apply it after the platform and after those services (infra/terraform/README.md).

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
    key = "autoscaler/terraform.tfstate"
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "highnoon:environment" = var.environment
      "highnoon:service"     = "autoscaler"
      "highnoon:managed-by"  = "infra/terraform/autoscaler"
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

module "platform" {
  source      = "../modules/platform-contract"
  environment = var.environment
}

# The groups it sizes, as the services' roots made them: their bounds hold the autoscaler's.
data "aws_autoscaling_group" "sized" {
  for_each = var.services
  name     = "hn-${var.environment}-${each.key}"
}

locals {
  groups = { for service in keys(var.services) : service => "hn-${var.environment}-${service}" }
  # Only these groups, by name (any group id: a group made again keeps its grant).
  group_arns = [
    for name in values(local.groups) :
    "arn:${data.aws_partition.current.partition}:autoscaling:${var.region}:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/${name}"
  ]

  # Terraform 1.0 validations cannot compare a variable with a data source: a failing tobool()
  # stops the plan.
  bounds_within_groups = alltrue([
    for service, spec in var.services :
    spec.min_instances >= data.aws_autoscaling_group.sized[service].min_size && spec.max_instances <= data.aws_autoscaling_group.sized[service].max_size
  ]) ? true : tobool("each service's min_instances..max_instances must lie within its group's min_size..max_size (set in infra/terraform/services/<service>)")

  # The autoscaler's configuration (libs/hn-autoscale README), passed whole in HN_AUTOSCALE_CONFIG:
  # a change rolls the autoscaler's hosts like a new release.
  config = {
    interval_s = var.interval_seconds
    services = {
      for service, spec in var.services : service => {
        rule    = merge(spec.rule, { min_instances = spec.min_instances, max_instances = spec.max_instances })
        signals = jsondecode(lookup(var.signals_json, service, "[{\"kind\": \"yellow_load\"}]"))
      }
    }
    aws = {
      region          = var.region
      groups          = local.groups
      drain_hook      = "hn-draining"
      drained_grace_s = var.drained_grace_seconds
    }
    lease = {
      key   = "hn:autoscale:lease"
      ttl_s = var.lease_ttl_seconds
    }
  }
}

module "service" {
  source = "../modules/hn-service"

  service            = "autoscaler"
  environment        = var.environment
  artifact_bucket    = module.platform.artifact_bucket
  pex_version        = var.pex_version
  pex_sha256         = var.pex_sha256
  instance_type      = var.instance_type
  instance_count     = var.instance_count
  subnet_ids         = module.platform.app_subnet_ids
  security_group_ids = [module.platform.service_security_group_id]
  yellow             = module.platform.hn_yellow
  # CURVE: the autoscaler's key pair (SSM) and the authority, for yellow (it registers there as
  # "autoscaler" and reads the view); yellow's key to check yellow by.
  curve_authority_parameter = module.platform.curve_authority_parameter
  yellow_curve_key          = module.platform.hn_yellow_curve_key
  environment_variables = {
    HN_AUTOSCALE_CONFIG = local.bounds_within_groups ? jsonencode(local.config) : ""
    # The lease lives in the data tier's Redis, through Twemproxy.
    HN_REDIS_URL = module.platform.hn_redis_url
  }
  # HN_REDIS_PASSWORD: Twemproxy answers no one without it.
  extra_ssm_env_paths = [module.platform.redis_client_env_path]
}

# -- what the autoscaler may do: exactly the calls of hn_autoscale.AwsAsgDriver -------------------

data "aws_iam_policy_document" "autoscale" {
  statement {
    sid = "SeeGroups"
    # Describe calls take no resource-level permission: "*" is the only resource AWS accepts.
    actions   = ["autoscaling:DescribeAutoScalingGroups"]
    resources = ["*"]
  }

  statement {
    sid = "SizeTheServicesGroups"
    actions = [
      "autoscaling:CompleteLifecycleAction",
      "autoscaling:SetDesiredCapacity",
      "autoscaling:SetInstanceProtection",
    ]
    resources = local.group_arns
  }
}

resource "aws_iam_role_policy" "autoscale" {
  name   = "hn-${var.environment}-autoscaler-autoscale"
  role   = module.service.role_name
  policy = data.aws_iam_policy_document.autoscale.json
}
