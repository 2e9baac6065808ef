# Everything of one environment that is not a service: network, edge load balancers, data tier,
# and the contract the service roots read from SSM Parameter Store (/highnoon/<env>/platform/*):
# where to put hosts, which security groups and target groups, and the environment every service
# shares (HN_YELLOW, HN_PG_DSN, HN_REDIS_URL), and the CURVE authority (which key acts as which
# service). A team's deploy reads the contract and never this root's state.

locals {
  name = "hn-${var.environment}"
}

module "network" {
  source = "../network"

  name               = local.name
  vpc_cidr           = var.vpc_cidr
  az_count           = var.az_count
  single_nat_gateway = var.single_nat_gateway
  broker_port        = var.broker_port
  broker_ws_port     = var.broker_ws_port
  service_ports      = var.service_ports
  tags               = var.tags
}

module "edge" {
  source = "../edge"

  name                  = local.name
  vpc_id                = module.network.vpc_id
  public_subnet_ids     = module.network.public_subnet_ids
  alb_security_group_id = module.network.security_group_ids["alb"]
  broker_port           = var.broker_port
  broker_ws_port        = var.broker_ws_port
  brokerlist_http_port  = var.service_ports.http
  certificate_arn       = var.brokerlist_certificate_arn
  drain_seconds         = var.drain_seconds
  deletion_protection   = var.deletion_protection
  access_logs_bucket    = var.alb_access_logs_bucket
  tags                  = var.tags
}

module "data_tier" {
  source = "../data-tier"

  name                    = local.name
  environment             = var.environment
  vpc_id                  = module.network.vpc_id
  vpc_cidr                = module.network.vpc_cidr
  data_subnet_ids         = module.network.data_subnet_ids
  fixed_cidrs             = module.network.data_fixed_cidrs
  security_group_ids      = module.network.security_group_ids
  ports                   = module.network.data_ports
  monitoring_ports        = module.network.monitoring_ports
  log_host                = local.log_host
  artifact_bucket         = var.artifact_bucket
  datatier_pex_version    = var.datatier_pex_version
  datatier_pex_sha256     = var.datatier_pex_sha256
  postgres_instance_type  = var.postgres_instance_type
  postgres_volume_gb      = var.postgres_volume_gb
  postgres_shared_buffers = var.postgres_shared_buffers
  pgpool_count            = var.pgpool_count
  pgpool_instance_type    = var.pgpool_instance_type
  redis_shard_count       = var.redis_shard_count
  redis_instance_type     = var.redis_instance_type
  redis_maxmemory         = var.redis_maxmemory
  sentinel_instance_type  = var.sentinel_instance_type
  twemproxy_count         = var.twemproxy_count
  twemproxy_instance_type = var.twemproxy_instance_type
  tags                    = var.tags
}

# The public halves of the services' CURVE key pairs, created by operators beside the secret
# halves (docs/security.md): public, so Terraform may read them; the secret halves it never reads.
data "aws_ssm_parameter" "curve_public_keys" {
  for_each = toset(var.curve_services)
  name     = "/highnoon/${var.environment}/${each.key}/curve/public_keys"
}

locals {
  curve_keys = {
    for service in var.curve_services :
    service => [for key in split(",", data.aws_ssm_parameter.curve_public_keys[service].insecure_value) : trimspace(key)]
  }
  # The CURVE authority every process reads (hn_runtime's HN_CURVE_AUTHORITY format).
  curve_authority = jsonencode({ services = local.curve_keys, grants = var.curve_grants })

  # Yellow's fixed addresses, one per zone in turn, inside the app subnets' reserved ranges.
  yellow_zones      = [for k in range(var.yellow_count) : k % var.az_count]
  yellow_ips        = [for k, zone in local.yellow_zones : cidrhost(module.network.app_fixed_cidrs[zone], 10 + k)]
  yellow_subnet_ids = [for zone in local.yellow_zones : module.network.app_subnet_ids[zone]]
  # The monitoring host (infra/terraform/monitoring), also the log host: a fixed address in the
  # first app subnet's reserved range, known before that root runs so every host can ship to it.
  log_host = cidrhost(module.network.app_fixed_cidrs[0], 50)

  contract = {
    vpc_id                       = module.network.vpc_id
    public_subnet_ids            = join(",", module.network.public_subnet_ids)
    app_subnet_ids               = join(",", module.network.app_subnet_ids)
    service_security_group_id    = module.network.security_group_ids["service"]
    broker_security_group_id     = module.network.security_group_ids["broker"]
    broker_port                  = tostring(var.broker_port)
    broker_target_group_arn      = module.edge.broker_target_group_arn
    broker_ws_port               = tostring(var.broker_ws_port)
    broker_ws_target_group_arn   = module.edge.broker_ws_target_group_arn
    brokerlist_target_group_arn  = module.edge.brokerlist_target_group_arn
    yellow_private_ips           = join(",", local.yellow_ips)
    yellow_subnet_ids            = join(",", local.yellow_subnet_ids)
    hn_yellow                    = join(",", [for ip in local.yellow_ips : "tcp://${ip}:${var.service_ports.rep}"])
    hn_yellow_curve_key          = local.curve_keys["yellow"][0]
    curve_authority              = local.curve_authority
    hn_pg_dsn                    = module.data_tier.pg_dsn
    hn_redis_url                 = module.data_tier.redis_url
    pg_client_env_path           = module.data_tier.client_env_path
    redis_client_env_path        = module.data_tier.redis_client_env_path
    artifact_bucket              = var.artifact_bucket
    log_host                     = local.log_host
    monitoring_security_group_id = module.network.security_group_ids["monitoring"]
    monitoring_targets           = jsonencode(module.data_tier.monitoring_targets)
    # yellow's status page (hn_datatier.ProbeConfig): what it probes, the group that lets it reach
    # the Sentinels, and the names (never the values) of the SecureStrings it reads at each start.
    yellow_security_group_id          = module.network.security_group_ids["yellow"]
    hn_sentinels                      = module.data_tier.sentinel_addresses
    hn_pgpool                         = module.data_tier.pgpool_address
    sentinel_password_parameter       = module.data_tier.sentinel_password_parameter
    pgpool_monitor_password_parameter = module.data_tier.pgpool_monitor_password_parameter
  }
}

resource "aws_ssm_parameter" "contract" {
  #checkov:skip=CKV2_AWS_34:The contract holds addresses and ids that every plan shows anyway; secrets never go here (they live under /highnoon/<env>/<service>/env as SecureString).
  for_each    = local.contract
  name        = "/highnoon/${var.environment}/platform/${each.key}"
  description = "HighNoon ${var.environment} platform contract (written by infra/terraform/envs/${var.environment})"
  type        = "String"
  value       = each.value
  tags        = var.tags
}
