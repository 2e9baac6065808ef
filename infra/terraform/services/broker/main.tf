# broker: the edge: game client TCP and WebSocket connections <-> ZeroMQ, behind the network load
# balancer. With tls_certificate_parameter and tls_key_parameter set, both client ports speak TLS
# (TLS ends at the brokers: modules/edge says why).
# The edge team's deploy of broker, on its own: it reads the platform contract from SSM and
# owns nothing but broker's hosts (infra/terraform/README.md, "Deploying one service").

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
    key = "services/broker/terraform.tfstate"
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "highnoon:environment" = var.environment
      "highnoon:service"     = "broker"
      "highnoon:managed-by"  = "infra/terraform/services/broker"
    }
  }
}

module "platform" {
  source      = "../../modules/platform-contract"
  environment = var.environment
}

locals {
  # The certificate chain and key, fetched from SSM into the service's state directory at every
  # start (pex-unit's ssm_files); the broker reads them at start.
  state_dir = "/var/lib/highnoon/broker"
  tls       = var.tls_certificate_parameter != "" && var.tls_key_parameter != ""
  tls_files = local.tls ? { "tls-cert.pem" = var.tls_certificate_parameter, "tls-key.pem" = var.tls_key_parameter } : {}
  tls_env   = local.tls ? { HN_BROKER_TLS_CERT = "${local.state_dir}/tls-cert.pem", HN_BROKER_TLS_KEY = "${local.state_dir}/tls-key.pem" } : {}
}

module "service" {
  source = "../../modules/hn-service"

  service         = "broker"
  environment     = var.environment
  artifact_bucket = module.platform.artifact_bucket
  pex_version     = var.pex_version
  pex_sha256      = var.pex_sha256
  instance_type   = var.instance_type
  instance_count  = var.instance_count
  # Game clients connect to the broker brokerlist names, so each host has a public address (in
  # the public subnets, in the broker security group: only the client port is open to the world).
  subnet_ids          = module.platform.public_subnet_ids
  security_group_ids  = [module.platform.broker_security_group_id]
  associate_public_ip = true
  public_ip_env       = "HN_BROKER_PUBLIC_HOST"
  target_group_arns   = [module.platform.broker_target_group_arn, module.platform.broker_ws_target_group_arn]
  yellow              = module.platform.hn_yellow
  # CURVE: this service's key pair (SSM) and the authority; yellow's key to check yellow by.
  curve_authority_parameter = module.platform.curve_authority_parameter
  yellow_curve_key          = module.platform.hn_yellow_curve_key
  # HN_REDIS_PASSWORD, which hn_datatier.redis_from_url reads next to HN_REDIS_URL.
  extra_ssm_env_paths = [module.platform.redis_client_env_path]
  extra_ssm_files     = local.tls_files
  environment_variables = merge(
    {
      HN_BROKER_PORT    = tostring(module.platform.broker_port)
      HN_BROKER_WS_PORT = tostring(module.platform.broker_ws_port)
      HN_REDIS_URL      = module.platform.hn_redis_url
    },
    local.tls_env,
    var.environment_variables,
  )

  # The autoscaler (infra/terraform/autoscaler) sizes the group within these bounds; a host it
  # drains is held by the termination hook until it has left yellow.
  min_size              = var.min_size
  max_size              = var.max_size
  drain_timeout_seconds = var.drain_timeout_seconds
}
