variable "name" {
  description = "Prefix of every resource name (hn-<environment>)."
  type        = string
}

variable "environment" {
  description = "Environment name (staging, prod): part of the SSM paths."
  type        = string
}

variable "vpc_id" {
  description = "The environment's VPC."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's range (password logins to PostgreSQL and Pgpool are accepted from it)."
  type        = string
}

variable "data_subnet_ids" {
  description = "Private data subnets, one per zone; hosts are spread over them."
  type        = list(string)
}

variable "fixed_cidrs" {
  description = "Reserved fixed-address range of each data subnet (network module's data_fixed_cidrs, a /25 or larger), in the order of data_subnet_ids: every host gets a fixed address there (see main.tf)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security group ids by role, from the network module (pgpool, postgres, redis, sentinel, twemproxy)."
  type        = map(string)
}

variable "ports" {
  description = "Ports of the data tier, from the network module (data_ports)."
  type = object({
    postgres      = number
    pgpool        = number
    redis         = number
    sentinel      = number
    twemproxy     = number
    agent_metrics = number
  })
}

variable "artifact_bucket" {
  description = "Bucket holding datatier.pex (libs/hn-datatier/<version>/datatier.pex)."
  type        = string
}

variable "datatier_pex_version" {
  description = "Release of datatier.pex the Twemproxy hosts run the Sentinel agent from."
  type        = string
}

variable "datatier_pex_sha256" {
  description = "sha256 of that datatier.pex (bin/publish-pex.sh prints it)."
  type        = string
}

variable "ami_id" {
  description = "AMI of the data hosts; empty: the newest official Debian 12 (amd64) image, whose packages (PostgreSQL 15, Pgpool-II 4.3, Redis 7, nutcracker) match the local tier."
  type        = string
  default     = ""
}

variable "postgres_instance_type" {
  description = "Instance type of the PostgreSQL primary and replica (Nitro: the data volume shows up as NVMe)."
  type        = string
  default     = "m6i.large"
}

variable "postgres_volume_gb" {
  description = "Size of each PostgreSQL data volume."
  type        = number
  default     = 100
}

variable "postgres_shared_buffers" {
  description = "shared_buffers of both PostgreSQL nodes (about a quarter of the instance's memory)."
  type        = string
  default     = "2GB"
}

variable "pgpool_count" {
  description = "Pgpool-II hosts behind the internal NLB that HN_PG_DSN names."
  type        = number
  default     = 2

  validation {
    condition     = var.pgpool_count >= 1 && var.pgpool_count <= 10
    error_message = "Between 1 and 10 Pgpool hosts (their addresses are host numbers 20-29)."
  }
}

variable "pgpool_instance_type" {
  description = "Instance type of the Pgpool hosts."
  type        = string
  default     = "t3.small"
}

variable "pgpool_children" {
  description = "num_init_children of each Pgpool (client connections at once)."
  type        = number
  default     = 64
}

variable "redis_shard_count" {
  description = "Redis shards (a master and a replica each). The shard names (shard0, ...) are what Twemproxy hashes: adding a shard moves keys."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_shard_count >= 1 && var.redis_shard_count <= 15
    error_message = "Between 1 and 15 shards (their addresses are host numbers 30-59)."
  }
}

variable "redis_instance_type" {
  description = "Instance type of the Redis nodes."
  type        = string
  default     = "r6i.large"
}

variable "redis_maxmemory" {
  description = "maxmemory of each Redis node (about 60% of the instance's memory: forks need room)."
  type        = string
  default     = "9gb"
}

variable "sentinel_count" {
  description = "Sentinels, each on its own host (an odd number, at least three)."
  type        = number
  default     = 3

  validation {
    condition     = var.sentinel_count >= 3 && var.sentinel_count <= 9 && var.sentinel_count % 2 == 1
    error_message = "Three to nine Sentinels, an odd number (their addresses are host numbers 60-69)."
  }
}

variable "sentinel_instance_type" {
  description = "Instance type of the Sentinel hosts."
  type        = string
  default     = "t3.micro"
}

variable "twemproxy_count" {
  description = "Twemproxy hosts (each with its Sentinel agent) behind the internal NLB that HN_REDIS_URL names."
  type        = number
  default     = 2

  validation {
    condition     = var.twemproxy_count >= 1 && var.twemproxy_count <= 10
    error_message = "Between 1 and 10 Twemproxy hosts (their addresses are host numbers 70-79)."
  }
}

variable "twemproxy_instance_type" {
  description = "Instance type of the Twemproxy hosts."
  type        = string
  default     = "c6i.large"
}

variable "tags" {
  description = "Extra tags of every resource."
  type        = map(string)
  default     = {}
}

variable "monitoring_ports" {
  description = "Ports of the exporters on the data hosts (modules/network's monitoring_ports)."
  type = object({
    postgres_exporter = number
    redis_exporter    = number
  })
}

variable "log_host" {
  description = "Private address of the log host every data host ships its journal to; empty: none."
  type        = string
  default     = ""
}

variable "pg_synchronous" {
  description = "What the PostgreSQL primary waits for before acknowledging a commit: available (the replica while it streams), durable (always the replica), off (asynchronous). See libs/hn-datatier's README."
  type        = string
  default     = "available"
}

variable "pg_backup_retention_full" {
  description = "Full pgBackRest backups kept (weekly); older ones expire with their WAL: the restore window is about this many weeks."
  type        = number
  default     = 4
}

variable "pg_backup_infrequent_access_days" {
  description = "Age (days) at which backup and WAL objects move to S3 Standard-IA."
  type        = number
  default     = 30
}

variable "pg_backup_noncurrent_days" {
  description = "Days an object pgBackRest expired (or someone deleted) stays as a noncurrent version before the lifecycle rule drops it."
  type        = number
  default     = 30
}
