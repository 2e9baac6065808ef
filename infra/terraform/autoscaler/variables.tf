variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "environment" {
  description = "Environment to deploy to (staging, prod): picks the platform contract under /highnoon/<environment>/platform and the groups hn-<environment>-<service>."
  type        = string
}

variable "pex_version" {
  description = "Release to run (from <environment>.release.tfvars, written by infra/terraform/bin/publish-pex.sh <environment> autoscaler)."
  type        = string
}

variable "pex_sha256" {
  description = "sha256 of that release's PEX (same file)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the autoscaler's hosts."
  type        = string
  default     = "t3.small"
}

variable "instance_count" {
  description = "Autoscaler hosts: one acts (the lease holder), the others stand by."
  type        = number
  default     = 2

  validation {
    condition     = var.instance_count >= 2
    error_message = "At least two: one to act, one to take over."
  }
}

variable "services" {
  description = "The services it sizes, by name: the bounds of the policy (within the group's min_size..max_size, which the service's root sets; leave room above max_instances for a deploy's new hosts) and the other fields of hn_autoscale.Rule (numbers: target, scale_up_above, scale_down_below, windows and cooldowns in seconds, steps, settle_timeout_s, victim_max_load, noise)."
  type = map(object({
    min_instances = number
    max_instances = number
    rule          = map(number)
  }))

  validation {
    condition = alltrue(flatten([
      for spec in values(var.services) : [
        for field in keys(spec.rule) : contains([
          "target", "scale_up_above", "scale_down_below", "up_window_s", "down_window_s", "up_cooldown_s",
          "down_cooldown_s", "max_step_up", "max_step_down", "settle_timeout_s", "victim_max_load", "noise",
        ], field)
      ]
    ]))
    error_message = "rule takes the fields of hn_autoscale.Rule other than the bounds (min_instances and max_instances are set beside it)."
  }

  validation {
    condition     = alltrue([for spec in values(var.services) : spec.min_instances >= 1 && spec.min_instances <= spec.max_instances])
    error_message = "Need 1 <= min_instances <= max_instances."
  }
}

variable "signals_json" {
  description = "Per service, its signals as a JSON list (libs/hn-autoscale README: yellow_load, scraped_rate, promql); a service not named here scales on yellow_load, the loads its instances report."
  type        = map(string)
  default     = {}
}

variable "interval_seconds" {
  description = "Seconds between two rounds (each round describes every sized group once)."
  type        = number
  default     = 5
}

variable "lease_ttl_seconds" {
  description = "Lifetime of the lease that makes one autoscaler the active one: a standby takes over at most this long (plus a third of it) after the holder died; a holder renews it every third of it."
  type        = number
  default     = 15
}

variable "drained_grace_seconds" {
  description = "How long a terminating instance must be missing from yellow before the autoscaler completes its termination hook (a yellow restarting forgets instances for a heartbeat or two)."
  type        = number
  default     = 10
}
