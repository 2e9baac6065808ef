variable "environment" {
  description = "Environment name (staging, prod)."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's range: the clients PostgreSQL and Pgpool accept password logins from (security groups narrow it further)."
  type        = string
}

variable "ssm_prefix" {
  description = "SSM path of the data tier's own secrets: <prefix>/postgres/{replication,pgpool}_password and <prefix>/redis/{sentinel,replica,admin}_user_password (SecureString, created by an operator)."
  type        = string
}

variable "client_env_path" {
  description = "SSM path whose PGPASSWORD parameter is the application role's password: the services that use PostgreSQL read the same path into their environment."
  type        = string
}

variable "redis_client_env_path" {
  description = "SSM path whose HN_REDIS_PASSWORD parameter is Twemproxy's redis_auth and Redis' default user's password: the services that use Redis, the Twemproxy hosts' agent and the Redis hosts read it."
  type        = string
}

variable "sentinel_client_env_path" {
  description = "SSM path whose HN_SENTINEL_PASSWORD parameter is the Sentinels' requirepass: the Sentinel hosts and the Twemproxy hosts' agent read it."
  type        = string
}

variable "ports" {
  description = "Ports of the data tier (network module's data_ports)."
  type = object({
    postgres      = number
    pgpool        = number
    redis         = number
    sentinel      = number
    twemproxy     = number
    agent_metrics = number
  })
}

variable "pg_major" {
  description = "PostgreSQL major version (Debian 12 ships 15, the version the local tier and the tests use)."
  type        = number
  default     = 15
}

variable "pg_database" {
  description = "The services' database."
  type        = string
  default     = "highnoon"
}

variable "pg_app_user" {
  description = "The services' PostgreSQL role (password: PGPASSWORD under client_env_path)."
  type        = string
  default     = "highnoon"
}

variable "pg_primary_ip" {
  description = "Fixed private address of the PostgreSQL primary."
  type        = string
}

variable "pg_replica_ip" {
  description = "Fixed private address of the PostgreSQL streaming replica."
  type        = string
}

variable "pg_primary_volume_id" {
  description = "EBS volume holding the primary's data (the host formats it if blank and mounts it)."
  type        = string
}

variable "pg_replica_volume_id" {
  description = "EBS volume holding the replica's data."
  type        = string
}

variable "pg_shared_buffers" {
  description = "shared_buffers of both nodes (about a quarter of the instance's memory)."
  type        = string
  default     = "1GB"
}

variable "pg_wal_keep_size" {
  description = "WAL kept for a replica that falls behind."
  type        = string
  default     = "2GB"
}

variable "pgpool_count" {
  description = "Pgpool hosts; PostgreSQL's max_connections is sized for all of them."
  type        = number
  default     = 2
}

variable "pgpool_children" {
  description = "num_init_children of each Pgpool: client connections it serves at once. The services' pool sizes together must stay under pgpool_count x this."
  type        = number
  default     = 64
}

variable "pgpool_max_pool" {
  description = "max_pool of each Pgpool child (cached backend connections per child)."
  type        = number
  default     = 1
}

variable "pgpool_check_period" {
  description = "Seconds between Pgpool's health and replication checks."
  type        = number
  default     = 5
}

variable "redis_shards" {
  description = "The Redis shards: Sentinel master name (also the Twemproxy server name, which ketama hashes) and the fixed addresses of the first master and its replica."
  type = list(object({
    name       = string
    master_ip  = string
    replica_ip = string
  }))

  validation {
    # Masters take writes only while a replica acknowledges (min-replicas-to-write 1): a shard
    # without its own replica would refuse every write.
    condition     = alltrue([for s in var.redis_shards : s.replica_ip != "" && s.replica_ip != s.master_ip])
    error_message = "Every shard needs a replica at an address of its own."
  }
}

variable "redis_maxmemory" {
  description = "maxmemory of every Redis node (leave room for forks: about 60% of the instance's memory)."
  type        = string
  default     = "1gb"
}

variable "sentinel_ips" {
  description = "Fixed addresses of the Sentinels (on their own hosts, at least three)."
  type        = list(string)
}

variable "sentinel_quorum" {
  description = "Sentinels that must agree a master is down."
  type        = number
  default     = 2
}

variable "sentinel_down_after_ms" {
  description = "How long a master must be unreachable before Sentinel acts (the tests use 1000 on loopback; a network needs more)."
  type        = number
  default     = 5000
}

variable "sentinel_failover_timeout_ms" {
  description = "Sentinel's failover-timeout (a shard fails over again at most every 2x this)."
  type        = number
  default     = 60000
}

variable "twemproxy_timeout_ms" {
  description = "Twemproxy's timeout for a request to a Redis node."
  type        = number
  default     = 1000
}

variable "agent_pex_version" {
  description = "Release of libs/hn-datatier's datatier.pex that runs the Sentinel -> Twemproxy agent."
  type        = string
}

variable "agent_pex_s3_uri" {
  description = "Where the Twemproxy hosts fetch datatier.pex."
  type        = string
}

variable "agent_pex_sha256" {
  description = "sha256 of datatier.pex."
  type        = string
}

variable "exporter_ports" {
  description = "Ports of the data hosts' Prometheus exporters (modules/network opens them to the monitoring host)."
  type = object({
    postgres_exporter = number
    redis_exporter    = number
  })
  default = {
    postgres_exporter = 9187
    redis_exporter    = 9121
  }
}

variable "log_host" {
  description = "Private address of the log host every data host ships its journal to (modules/log-shipping); empty: none."
  type        = string
  default     = ""
}

variable "pg_synchronous" {
  description = "What the PostgreSQL primary waits for before acknowledging a commit (hn_datatier's SYNC_MODES): available (the replica while it streams; alone once Pgpool detaches it), durable (always the replica: writes wait while it is gone), off (asynchronous)."
  type        = string
  default     = "available"
  validation {
    condition     = contains(["available", "durable", "off"], var.pg_synchronous)
    error_message = "The pg_synchronous variable must be one of available, durable, off."
  }
}

variable "pg_fence" {
  description = "Pgpool's failover script fences a lost primary (a forced stop of its instance, then a start: it comes back rewound into the new primary's replica) before promoting the replica."
  type        = bool
  default     = true
}

variable "region" {
  description = "AWS region of the tier (the fence's EC2 calls, pgBackRest's S3 endpoint)."
  type        = string
}

variable "backup_bucket" {
  description = "S3 bucket of the pgBackRest repository (WAL archive and base backups)."
  type        = string
}

variable "backup_retention_full" {
  description = "Full backups pgBackRest keeps (older ones expire with their WAL); a full backup runs weekly, a differential one daily."
  type        = number
  default     = 4
}
