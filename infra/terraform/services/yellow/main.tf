# yellow: discovery and presence: the fixed addresses every process has in HN_YELLOW.
# The platform team's deploy of yellow, on its own: it reads the platform contract from SSM and
# owns nothing but yellow's hosts (infra/terraform/README.md, "Deploying one service").

terraform {
  required_version = ">= 1.0.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.91"
    }
  }

  # Bucket, lock table and region: `terraform init -backend-config=../../envs/<env>/backend.hcl`.
  backend "s3" {
    key = "services/yellow/terraform.tfstate"
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "highnoon:environment" = var.environment
      "highnoon:service"     = "yellow"
      "highnoon:managed-by"  = "infra/terraform/services/yellow"
    }
  }
}

module "platform" {
  source      = "../../modules/platform-contract"
  environment = var.environment
}

module "service" {
  source = "../../modules/hn-service"

  service         = "yellow"
  environment     = var.environment
  artifact_bucket = module.platform.artifact_bucket
  pex_version     = var.pex_version
  pex_sha256      = var.pex_sha256
  instance_type   = var.instance_type
  # The addresses are the platform's (HN_YELLOW in every other process): one host per address.
  fixed_private_ips = module.platform.yellow_private_ips
  subnet_ids        = module.platform.yellow_subnet_ids
  # service: what every logic host has; yellow: what lets the status page reach the Sentinels.
  security_group_ids = [module.platform.service_security_group_id, module.platform.yellow_security_group_id]
  yellow             = ""
  log_host           = module.platform.log_host
  # Yellow's own key pair and the authority, like every service (its clients check its key).
  curve_authority_parameter = module.platform.curve_authority_parameter
  # The status page's view of the data tier (/status, /status.json): addresses in the unit, the
  # passwords fetched from SSM into files at each start.
  extra_ssm_files       = module.status_probe.ssm_files
  environment_variables = merge(module.status_probe.env, var.environment_variables)
}

module "status_probe" {
  source = "../../modules/status-probe"

  sentinels                     = module.platform.hn_sentinels
  pgpool                        = module.platform.hn_pgpool
  sentinel_credential_parameter = module.platform.sentinel_password_parameter
  pgpool_credential_parameter   = module.platform.pgpool_monitor_password_parameter
}
