variable "name" {
  description = "Prefix of every resource name (hn-<environment>)."
  type        = string
}

variable "vpc_cidr" {
  description = "Address range of the VPC; public, app and data subnets are carved out of it (see main.tf)."
  type        = string
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrsubnet(var.vpc_cidr, 8, 255)) && tonumber(split("/", var.vpc_cidr)[1]) <= 16
    error_message = "The VPC range must be a /16 or larger."
  }
}

variable "az_count" {
  description = "Availability zones used (each gets a public, an app and a data subnet)."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "Two or three availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, for staging) instead of one per zone."
  type        = bool
  default     = false
}

variable "broker_port" {
  description = "TCP port game clients connect to on the brokers: the only port open to the internet besides brokerlist's 443."
  type        = number
  default     = 7000
}

variable "broker_ws_port" {
  description = "TCP port of the brokers' WebSocket listener (browsers, the TypeScript SDK): open to the internet like broker_port."
  type        = number
  default     = 7001
}

variable "service_ports" {
  description = "Fixed ports of the service hosts (same as the hn-service module's ports): ZeroMQ rep/pull/pub, metrics, HTTP."
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

variable "tags" {
  description = "Extra tags of every resource."
  type        = map(string)
  default     = {}
}
