# brokerlist: the one address a game client knows, behind the HTTPS load balancer.
# The edge team's deploy of brokerlist, on its own: it reads the platform contract from SSM and
# owns nothing but brokerlist's hosts (infra/terraform/README.md, "Deploying one service").

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
    key = "services/brokerlist/terraform.tfstate"
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "highnoon:environment" = var.environment
      "highnoon:service"     = "brokerlist"
      "highnoon:managed-by"  = "infra/terraform/services/brokerlist"
    }
  }
}

module "platform" {
  source      = "../../modules/platform-contract"
  environment = var.environment
}

module "service" {
  source = "../../modules/hn-service"

  service            = "brokerlist"
  environment        = var.environment
  artifact_bucket    = module.platform.artifact_bucket
  pex_version        = var.pex_version
  pex_sha256         = var.pex_sha256
  instance_type      = var.instance_type
  instance_count     = var.instance_count
  subnet_ids         = module.platform.app_subnet_ids
  security_group_ids = [module.platform.service_security_group_id]
  # The HTTPS load balancer forwards to HN_HTTP_PORT (the module's ports.http).
  target_group_arns = [module.platform.brokerlist_target_group_arn]
  yellow            = module.platform.hn_yellow
  log_host          = module.platform.log_host
  # CURVE: this service's key pair (SSM) and the authority; yellow's key to check yellow by.
  curve_authority_parameter = module.platform.curve_authority_parameter
  yellow_curve_key          = module.platform.hn_yellow_curve_key
  environment_variables     = var.environment_variables
  # The browser page (clients/web) under /play/, published with the release: hn_brokerlist reads
  # the folder the hosts unpack it into from HN_BROKERLIST_PAGE_DIR.
  page = var.page == null ? null : {
    version = var.page.version
    sha256  = var.page.sha256
    env     = "HN_BROKERLIST_PAGE_DIR"
  }
}
