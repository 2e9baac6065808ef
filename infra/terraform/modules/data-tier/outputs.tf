output "pg_dsn" {
  description = "HN_PG_DSN: Pgpool through its internal NLB, without a password (libpq reads PGPASSWORD from the service's SSM environment). TCP keepalives keep pooled connections alive across the NLB's idle timeout."
  value       = "postgresql://highnoon@${aws_lb.door["pgpool"].dns_name}:${var.ports.pgpool}/highnoon?keepalives=1&keepalives_idle=60&keepalives_interval=10&keepalives_count=3"
}

output "redis_url" {
  description = "HN_REDIS_URL: Twemproxy through its internal NLB, without a password (hn_datatier.redis_from_url reads HN_REDIS_PASSWORD from the service's SSM environment)."
  value       = "redis://${aws_lb.door["twemproxy"].dns_name}:${var.ports.twemproxy}/0"
}

output "client_env_path" {
  description = "SSM path holding PGPASSWORD for the services that use PostgreSQL (add it to their ssm_env_paths)."
  value       = local.client_env_path
}

output "redis_client_env_path" {
  description = "SSM path holding HN_REDIS_PASSWORD for the services that use Redis (add it to their ssm_env_paths)."
  value       = local.redis_client_env_path
}

output "secret_parameters" {
  description = "Every SecureString the data tier reads (names only): create them before the first apply (bin/create-datatier-secrets.sh)."
  value       = module.config.secret_parameters
}

output "ssm_prefix" {
  description = "SSM path of the data tier's own secrets."
  value       = local.ssm_prefix
}

output "hosts" {
  description = "Every data host: role and fixed address."
  value       = { for name, host in local.hosts : name => { role = host.role, ip = host.ip, instance_id = aws_instance.host[name].id } }
}

output "pg_max_connections" {
  description = "max_connections of the PostgreSQL nodes (sized for every Pgpool child)."
  value       = module.config.pg_max_connections
}

output "monitoring_targets" {
  description = "What Prometheus scrapes on the data tier: file_sd groups per exporter job (postgres, pgpool, redis; labels node and shard, as hn_datatier.local writes them) and the Twemproxy agents' metrics addresses."
  value = {
    postgres = [for name in ["pg0", "pg1"] : { targets = ["${local.hosts[name].ip}:${var.monitoring_ports.postgres_exporter}"], labels = { node = name } }]
    pgpool   = [for k in range(var.pgpool_count) : { targets = ["${local.hosts["pgpool${k}"].ip}:${var.monitoring_ports.postgres_exporter}"], labels = { node = "pgpool${k}" } }]
    redis = flatten([
      for shard in local.shards : [
        for suffix in ["a", "b"] : {
          targets = ["${local.hosts["${shard.name}-${suffix}"].ip}:${var.monitoring_ports.redis_exporter}"]
          labels  = { node = "${shard.name}-${suffix}", shard = shard.name }
        }
      ]
    ])
    twemproxy_agents = [for k in range(var.twemproxy_count) : "${local.hosts["twemproxy${k}"].ip}:${var.ports.agent_metrics}"]
  }
}

output "pg_backup_bucket" {
  description = "S3 bucket of the pgBackRest repository (stanza highnoon, path /pgbackrest): see the restore runbook in infra/terraform/README.md."
  value       = aws_s3_bucket.pg_backups.id
}

# What yellow's status page probes (hn_datatier.ProbeConfig): the Sentinels themselves (each one's
# own view of its shards) and Pgpool's SHOW POOL_NODES through the NLB (any Pgpool answers), with
# the names of the SecureStrings holding their passwords.
output "sentinel_addresses" {
  description = "HN_SENTINELS for the status probe: every Sentinel as host:port, comma-separated."
  value       = join(",", [for ip in local.sentinel_ips : "${ip}:${var.ports.sentinel}"])
}

output "pgpool_address" {
  description = "HN_PGPOOL for the status probe: Pgpool through its internal NLB, host:port."
  value       = "${aws_lb.door["pgpool"].dns_name}:${var.ports.pgpool}"
}

output "sentinel_password_parameter" {
  description = "SecureString holding the Sentinels' requirepass (HN_SENTINEL_PASSWORD): the name only."
  value       = module.config.secret_parameters["sentinel"]
}

output "pgpool_monitor_password_parameter" {
  description = "SecureString holding the password of hn_pgpool (Pgpool's checks, pg_monitor), the role the status probe logs in to Pgpool as: the name only."
  value       = module.config.secret_parameters["pgpool"]
}
