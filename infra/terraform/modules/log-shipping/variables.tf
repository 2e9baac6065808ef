variable "log_host" {
  description = "Private address of the log host (infra/terraform/monitoring's host, the platform contract's log_host); empty: nothing to ship to."
  type        = string
}

variable "upload_port" {
  description = "Port systemd-journal-remote receives uploads on (its socket unit's default)."
  type        = number
  default     = 19532
}

variable "gateway_port" {
  description = "Port systemd-journal-gatewayd serves the received journals on (`hn logs --from http://LOGHOST:19531`)."
  type        = number
  default     = 19531
}

variable "max_use" {
  description = "Disk the received journals may use on the log host before the oldest files go (journal-remote.conf MaxUse)."
  type        = string
  default     = "40G"
}
