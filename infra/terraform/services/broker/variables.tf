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
  description = "Number of hosts (one process each) when the group is made; the autoscaler sizes it afterwards, within min_size..max_size."
  type        = number
}

variable "min_size" {
  description = "Fewest hosts the group runs: the autoscaler never goes below."
  type        = number
}

variable "max_size" {
  description = "Most hosts the group runs, a deploy's new hosts included: leave room above the autoscaler's max_instances."
  type        = number
}

variable "drain_timeout_seconds" {
  description = "How long a host the group terminates may drain before it is terminated anyway (the termination hook's timeout; the autoscaler completes it as soon as the host left yellow)."
  type        = number
  default     = 300
}

variable "instance_type" {
  description = "EC2 instance type of the hosts."
  type        = string
}

variable "environment_variables" {
  description = "Non-secret tuning of the service (HN_* variables it reads). Secrets go to SSM under /highnoon/<environment>/broker/env instead."
  type        = map(string)
  default     = {}
}

variable "tls_certificate_parameter" {
  description = "SSM parameter (SecureString) holding the brokers' PEM certificate chain; with tls_key_parameter, both client ports speak TLS. It must name the address each broker registers (HN_BROKER_PUBLIC_HOST). Empty: plain TCP and ws."
  type        = string
  default     = ""
}

variable "tls_key_parameter" {
  description = "SSM parameter (SecureString) holding the brokers' PEM private key."
  type        = string
  default     = ""
}
