output "files" {
  description = "The rendered configuration files by name (for review and for the offline tests)."
  value = merge(
    {
      "postgresql.conf" = local.postgresql_conf
      "pg_hba.conf"     = local.pg_hba_conf
      "pgpool.conf"     = local.pgpool_conf
      "pool_hba.conf"   = local.pool_hba_conf
      "pgbackrest.conf" = local.pgbackrest_conf
      "pg-failover.env" = local.failover_settings
      "sentinel.conf"   = local.sentinel_conf
      "nutcracker.yml"  = local.nutcracker_yml
    },
    { for name, conf in local.redis_conf : "redis-${name}.conf" => conf },
  )
}

output "secret_parameters" {
  description = "Every SSM SecureString this tier's hosts and agents read, by role (names only: the values never pass through Terraform)."
  value       = local.secrets
}

output "scripts" {
  description = "The rendered boot scripts by name (also inside the cloud-init documents)."
  value = {
    "postgres-primary-init.sh"  = local.postgres_init["primary"]
    "postgres-replica-init.sh"  = local.postgres_init["replica"]
    "pgpool-init.sh"            = local.pgpool_init
    "redis-init.sh"             = local.redis_init
    "sentinel-init.sh"          = local.sentinel_init
    "twemproxy-agent-prepare"   = module.agent.prepare_script
    "postgres-exporter-init.sh" = local.exporter_init["prometheus-postgres-exporter"]
    "redis-exporter-init.sh"    = local.exporter_init["prometheus-redis-exporter"]
    "postgres-primary-init.sh"  = local.postgres_init["primary"]
    "postgres-replica-init.sh"  = local.postgres_init["replica"]
    "pgpool-init.sh"            = local.pgpool_init
    "pg-fence.sh"               = local.fence
    "pg-keeper-primary.sh"      = local.pg_keeper["primary"]
    "pg-keeper-replica.sh"      = local.pg_keeper["replica"]
    "pg-backup.sh"              = local.pg_backup
    "redis-init.sh"             = local.redis_init
    "sentinel-init.sh"          = local.sentinel_init
    "twemproxy-agent-prepare"   = module.agent.prepare_script
  }
}

output "cloud_config" {
  description = "User data by host role: postgres_primary, postgres_replica, pgpool, sentinel, twemproxy."
  value       = merge({ for k, v in local.cloud_config : k => v if length(regexall("^redis/", k)) == 0 }, { twemproxy = module.agent.cloud_config })
}

output "redis_cloud_config" {
  description = "User data of each Redis node, by node name (<shard>-a is the first master, <shard>-b its replica)."
  value       = { for k, v in local.cloud_config : trimprefix(k, "redis/") => v if length(regexall("^redis/", k)) > 0 }
}

output "twemproxy_unit" {
  description = "The agent's systemd unit on the Twemproxy hosts."
  value       = module.agent.unit
}

output "pg_max_connections" {
  description = "max_connections of both PostgreSQL nodes, sized for every Pgpool child."
  value       = local.pg_max_connections
}

output "exporter_defaults" {
  description = "The exporters' settings before boot (a marker where the password goes), by kind: postgres, pgpool, redis."
  value = {
    postgres = local.pg_exporter_defaults["node"]
    pgpool   = local.pg_exporter_defaults["pgpool"]
    redis    = local.redis_exporter_defaults
  }
}
