variable "environment" {
  description = "Environment name (staging, prod): prefix of resource names and of the SSM paths."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,15}$", var.environment))
    error_message = "A short lowercase name such as staging or prod."
  }
}

variable "vpc_cidr" {
  description = "Address range of the environment's VPC (a /16)."
  type        = string
}

variable "az_count" {
  description = "Availability zones used."
  type        = number
  default     = 3
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per zone (staging)."
  type        = bool
  default     = false
}

variable "broker_port" {
  description = "TCP port game clients connect to the brokers on."
  type        = number
  default     = 7000
}

variable "broker_ws_port" {
  description = "TCP port of the brokers' WebSocket listener (HN_BROKER_WS_PORT): ws://, or wss:// when the brokers have a certificate."
  type        = number
  default     = 7001
}

variable "service_ports" {
  description = "Fixed ports of every service host (ZeroMQ rep/pull/pub, metrics, HTTP); the service roots use the module defaults, which are these."
  type = object({
    rep     = number
    pull    = number
    pub     = number
    metrics = number
    http    = number
  })
  default = {
    rep     = 7100
    pull    = 7101
    pub     = 7102
    metrics = 9100
    http    = 8080
  }
}

variable "yellow_count" {
  description = "Yellow servers; every process talks to all of them (HN_YELLOW)."
  type        = number
  default     = 2

  validation {
    condition     = var.yellow_count >= 1 && var.yellow_count <= 5
    error_message = "Between 1 and 5 yellow servers (their fixed addresses are host numbers 10-14 of the app subnets' reserved ranges)."
  }
}

variable "brokerlist_certificate_arn" {
  description = "ACM certificate of brokerlist's public name."
  type        = string
}

variable "alb_access_logs_bucket" {
  description = "S3 bucket for the HTTPS load balancer's access logs; empty: none."
  type        = string
  default     = ""
}

variable "deletion_protection" {
  description = "Refuse to delete the public load balancers."
  type        = bool
  default     = true
}

variable "drain_seconds" {
  description = "HN_DRAIN_SECONDS of the edge services; the target groups wait this long for a deregistered host."
  type        = number
  default     = 10
}

variable "artifact_bucket" {
  description = "Bucket of the PEX releases, made by infra/terraform/bootstrap."
  type        = string
}

variable "datatier_pex_version" {
  description = "Release of libs/hn-datatier's datatier.pex (the Sentinel agent), from envs/<env>/datatier.release.tfvars."
  type        = string
}

variable "datatier_pex_sha256" {
  description = "sha256 of that datatier.pex."
  type        = string
}

variable "postgres_instance_type" {
  description = "Instance type of the PostgreSQL primary and replica."
  type        = string
  default     = "m6i.large"
}

variable "postgres_volume_gb" {
  description = "Size of each PostgreSQL data volume."
  type        = number
  default     = 100
}

variable "postgres_shared_buffers" {
  description = "shared_buffers of the PostgreSQL nodes."
  type        = string
  default     = "2GB"
}

variable "pgpool_count" {
  description = "Pgpool-II hosts."
  type        = number
  default     = 2
}

variable "pgpool_instance_type" {
  description = "Instance type of the Pgpool hosts."
  type        = string
  default     = "t3.small"
}

variable "redis_shard_count" {
  description = "Redis shards (master + replica each); changing it moves keys."
  type        = number
  default     = 2
}

variable "redis_instance_type" {
  description = "Instance type of the Redis nodes."
  type        = string
  default     = "r6i.large"
}

variable "redis_maxmemory" {
  description = "maxmemory of each Redis node."
  type        = string
  default     = "9gb"
}

variable "sentinel_instance_type" {
  description = "Instance type of the three Sentinel hosts."
  type        = string
  default     = "t3.micro"
}

variable "twemproxy_count" {
  description = "Twemproxy hosts (each with its Sentinel agent)."
  type        = number
  default     = 2
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

variable "curve_services" {
  description = "Services with a CURVE identity. Operators create, for each, the SecureString /highnoon/<environment>/<service>/curve/secret_key (its hosts read it) and the StringList /highnoon/<environment>/<service>/curve/public_keys (the public halves allowed to act as it: one key, two while rotating); this root names those keys in the CURVE authority of the contract. yellow's first key is HN_YELLOW_CURVE_KEY."
  type        = list(string)
  default     = ["yellow", "sso", "match", "broker", "brokerlist", "autoscaler"]

  validation {
    condition     = contains(var.curve_services, "yellow")
    error_message = "yellow needs a CURVE identity: every other process checks yellow's key."
  }
}

variable "curve_grants" {
  description = "Grants of the CURVE authority, grant => the services holding it: session (may tell a service which player a request is for: the brokers), push (may call broker.deliver / broker.bound: the services with client routes), kick (may call broker.end_session: sso, and brokers passing it on), host (may call match.host_duel: match, whose matchmaker opens rooms on its peers)."
  type        = map(list(string))
  default = {
    session = ["broker"]
    push    = ["broker", "match", "sso"]
    kick    = ["broker", "sso"]
    host    = ["match"]
  }
}
