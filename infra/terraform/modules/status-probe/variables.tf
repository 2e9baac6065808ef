variable "sentinels" {
  description = "HN_SENTINELS: every Sentinel as host:port, comma-separated (the platform contract's hn_sentinels)."
  type        = string

  validation {
    condition     = alltrue([for a in split(",", var.sentinels) : can(regex("^[A-Za-z0-9.-]+:[0-9]+$", trimspace(a)))])
    error_message = "The Sentinels must be host:port addresses, comma-separated."
  }
}

variable "pgpool" {
  description = "HN_PGPOOL: Pgpool as host:port (the platform contract's hn_pgpool, its internal NLB)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9.-]+:[0-9]+$", var.pgpool))
    error_message = "Pgpool must be a host:port address."
  }
}

variable "pgpool_user" {
  description = "HN_PGPOOL_MONITOR_USER: the role the probe logs in to Pgpool as. hn_pgpool (pg_monitor) is in Pgpool's pool_passwd, as locally."
  type        = string
  default     = "hn_pgpool"
}

variable "sentinel_credential_parameter" {
  description = "Name of the SecureString holding the Sentinels' requirepass (the contract's sentinel_password_parameter)."
  type        = string

  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]+[^/]$", var.sentinel_credential_parameter))
    error_message = "SSM parameter names start with / and do not end with /."
  }
}

variable "pgpool_credential_parameter" {
  description = "Name of the SecureString holding pgpool_user's password (the contract's pgpool_monitor_password_parameter)."
  type        = string

  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]+[^/]$", var.pgpool_credential_parameter))
    error_message = "SSM parameter names start with / and do not end with /."
  }
}

variable "state_dir" {
  description = "The service's state directory, where hn-service's extra_ssm_files land (/var/lib/highnoon/<service>)."
  type        = string
  default     = "/var/lib/highnoon/yellow"
}
