# The staging environment: network, edge load balancers, data tier and the platform contract
# (modules/platform). Services deploy from their own roots under infra/terraform/services/.

terraform {
  required_version = ">= 1.0.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.91"
    }
  }

  # Bucket, lock table and region: `terraform init -backend-config=backend.hcl`.
  backend "s3" {
    key = "platform/terraform.tfstate"
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "highnoon:environment" = "staging"
      "highnoon:managed-by"  = "infra/terraform/envs/staging"
    }
  }
}

module "platform" {
  source = "../../modules/platform"

  environment                = "staging"
  vpc_cidr                   = var.vpc_cidr
  az_count                   = var.az_count
  single_nat_gateway         = var.single_nat_gateway
  yellow_count               = var.yellow_count
  brokerlist_certificate_arn = var.brokerlist_certificate_arn
  alb_access_logs_bucket     = var.alb_access_logs_bucket
  deletion_protection        = var.deletion_protection
  artifact_bucket            = var.artifact_bucket
  datatier_pex_version       = var.datatier_pex_version
  datatier_pex_sha256        = var.datatier_pex_sha256
  postgres_instance_type     = var.postgres_instance_type
  postgres_volume_gb         = var.postgres_volume_gb
  postgres_shared_buffers    = var.postgres_shared_buffers
  pgpool_count               = var.pgpool_count
  redis_shard_count          = var.redis_shard_count
  redis_instance_type        = var.redis_instance_type
  redis_maxmemory            = var.redis_maxmemory
  twemproxy_count            = var.twemproxy_count
}
