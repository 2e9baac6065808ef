variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "environment" {
  description = "Environment to deploy to (staging, prod): picks the platform contract under /highnoon/<environment>/platform."
  type        = string
}

variable "pex_version" {
  description = "Release to run (from <environment>.release.tfvars, written by infra/terraform/bin/publish-pex.sh)."
  type        = string
}

variable "pex_sha256" {
  description = "sha256 of that release's PEX (same file)."
  type        = string
}

variable "instance_count" {
  description = "Number of hosts (one process each)."
  type        = number
}

variable "instance_type" {
  description = "EC2 instance type of the hosts."
  type        = string
}

variable "environment_variables" {
  description = "Non-secret tuning of the service (HN_* variables it reads). Secrets go to SSM under /highnoon/<environment>/match/env instead."
  type        = map(string)
  default     = {}
}

variable "drain_seconds" {
  description = "HN_DRAIN_SECONDS: how long a stopping instance waits for its duels to end (raised to the longest duel the timing allows); systemd waits this plus 20 s (TimeoutStopSec)."
  type        = number
  default     = 45
}
