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

variable "page" {
  description = "The browser page served under /play/ (from <environment>.release.tfvars, written by infra/terraform/bin/publish-pex.sh with the PEX): the release its archive was published under and the archive's sha256; null: no page."
  type = object({
    version = string
    sha256  = string
  })
  default = null
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
  description = "Non-secret tuning of the service (HN_* variables it reads). Secrets go to SSM under /highnoon/<environment>/brokerlist/env instead."
  type        = map(string)
  default     = {}
}
