variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "vpc_cidr" {
  description = "Address range of the VPC (a /16)."
  type        = string
}

variable "az_count" {
  description = "Availability zones used (2 or 3)."
  type        = number
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones instead of one per zone."
  type        = bool
}

variable "yellow_count" {
  description = "Yellow servers."
  type        = number
}

variable "brokerlist_certificate_arn" {
  description = "ACM certificate of brokerlist's public name (made outside Terraform: DNS validation is the domain owner's step)."
  type        = string
}

variable "alb_access_logs_bucket" {
  description = "S3 bucket for the HTTPS load balancer's access logs; empty: none."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete the public load balancers."
  type        = bool
}

variable "artifact_bucket" {
  description = "Bucket of the PEX releases (made by infra/terraform/bootstrap)."
  type        = string
}

variable "datatier_pex_version" {
  description = "Release of datatier.pex (datatier.release.tfvars, written by bin/publish-pex.sh)."
  type        = string
}

variable "datatier_pex_sha256" {
  description = "sha256 of that datatier.pex (same file)."
  type        = string
}

variable "postgres_instance_type" {
  description = "Instance type of the PostgreSQL primary and replica."
  type        = string
}

variable "postgres_volume_gb" {
  description = "Size of each PostgreSQL data volume."
  type        = number
}

variable "postgres_shared_buffers" {
  description = "shared_buffers of the PostgreSQL nodes (a quarter of the instance's memory)."
  type        = string
}

variable "pgpool_count" {
  description = "Pgpool-II hosts."
  type        = number
}

variable "redis_shard_count" {
  description = "Redis shards; changing it moves keys."
  type        = number
}

variable "redis_instance_type" {
  description = "Instance type of the Redis nodes."
  type        = string
}

variable "redis_maxmemory" {
  description = "maxmemory of each Redis node (about 60% of the instance's memory)."
  type        = string
}

variable "twemproxy_count" {
  description = "Twemproxy hosts."
  type        = number
}
