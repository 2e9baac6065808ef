# match: matchmaking and duel rooms (PostgreSQL through Pgpool, Redis through Twemproxy).
# The gameplay team's deploy of match, on its own: it reads the platform contract from SSM and
# owns nothing but match's hosts (infra/terraform/README.md, "Deploying one service").

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
    key = "services/match/terraform.tfstate"
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "highnoon:environment" = var.environment
      "highnoon:service"     = "match"
      "highnoon:managed-by"  = "infra/terraform/services/match"
    }
  }
}

module "platform" {
  source      = "../../modules/platform-contract"
  environment = var.environment
}

locals {
  # A draining match instance lets its rooms play to their end, so its drain window (and with
  # it systemd's TimeoutStopSec, the window + 20 s) is at least the longest duel as hn_match
  # computes it (MatchConfig.longest_duel_s): the ready timeout, the latest signal, the shot
  # window, the 0.4 s network allowance and 10 s to store the result, from the same variables.
  match_env      = var.environment_variables
  signal_delay_s = [for s in split(",", lookup(local.match_env, "HN_MATCH_SIGNAL_DELAY_S", "1.0,3.0")) : tonumber(s)]
  longest_duel_s = (
    tonumber(lookup(local.match_env, "HN_MATCH_READY_TIMEOUT_S", "15"))
    + local.signal_delay_s[length(local.signal_delay_s) - 1]
    + tonumber(lookup(local.match_env, "HN_MATCH_SHOT_WINDOW_S", "3"))
    + 0.4 + 10
  )
}

module "service" {
  source = "../../modules/hn-service"

  service            = "match"
  environment        = var.environment
  artifact_bucket    = module.platform.artifact_bucket
  pex_version        = var.pex_version
  pex_sha256         = var.pex_sha256
  instance_type      = var.instance_type
  instance_count     = var.instance_count
  drain_seconds      = max(var.drain_seconds, ceil(local.longest_duel_s))
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
