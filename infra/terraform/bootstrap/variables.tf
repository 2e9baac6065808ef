variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "environment" {
  description = "Environment the buckets and the lock table are for (staging, prod)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of the global S3 names (a fork picks its own, and changes envs/<env>/backend.hcl to match)."
  type        = string
  default     = "highnoon"
}
