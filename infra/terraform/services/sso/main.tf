# sso: accounts, login and session tokens (PostgreSQL through Pgpool, Redis through Twemproxy).
# The accounts team's deploy of sso, on its own: it reads the platform contract from SSM and
# owns nothing but sso's hosts (infra/terraform/README.md, "Deploying one service").

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
    key = "services/sso/terraform.tfstate"
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "highnoon:environment" = var.environment
      "highnoon:service"     = "sso"
      "highnoon:managed-by"  = "infra/terraform/services/sso"
    }
  }
}

module "platform" {
  source      = "../../modules/platform-contract"
  environment = var.environment
}

module "service" {
  source = "../../modules/hn-service"

  service            = "sso"
  environment        = var.environment
  artifact_bucket    = module.platform.artifact_bucket
  pex_version        = var.pex_version
  pex_sha256         = var.pex_sha256
  instance_type      = var.instance_type
  instance_count     = var.instance_count
  subnet_ids         = module.platform.app_subnet_ids
  security_group_ids = [module.platform.service_security_group_id]
  yellow             = module.platform.hn_yellow
  # CURVE: this service's key pair (SSM) and the authority; yellow's key to check yellow by.
  curve_authority_parameter = module.platform.curve_authority_parameter
  yellow_curve_key          = module.platform.hn_yellow_curve_key
  # PGPASSWORD and HN_REDIS_PASSWORD come from the data tier's client paths; libpq reads the one
  # next to HN_PG_DSN, hn_datatier.redis_from_url the other next to HN_REDIS_URL.
  extra_ssm_env_paths = [module.platform.pg_client_env_path, module.platform.redis_client_env_path]
  environment_variables = merge(
    {
      HN_PG_DSN    = module.platform.hn_pg_dsn
      HN_REDIS_URL = module.platform.hn_redis_url
    },
    var.environment_variables,
  )

  # The autoscaler (infra/terraform/autoscaler) sizes the group within these bounds; a host it
  # drains is held by the termination hook until it has left yellow.
  min_size              = var.min_size
  max_size              = var.max_size
  drain_timeout_seconds = var.drain_timeout_seconds
}
