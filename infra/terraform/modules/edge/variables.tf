variable "name" {
  description = "Prefix of every resource name (hn-<environment>)."
  type        = string
}

variable "vpc_id" {
  description = "The environment's VPC."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets the internet-facing load balancers live in."
  type        = list(string)
}

variable "alb_security_group_id" {
  description = "Security group of the HTTPS load balancer (network module: 443 from the internet, out to brokerlist only)."
  type        = string
}

variable "broker_port" {
  description = "TCP port of the brokers' client connections, on the NLB and on the hosts."
  type        = number
}

variable "broker_ws_port" {
  description = "TCP port of the brokers' WebSocket listener, on the NLB and on the hosts."
  type        = number
}

variable "brokerlist_http_port" {
  description = "Port brokerlist serves HTTP on (HN_HTTP_PORT of the service hosts)."
  type        = number
}

variable "certificate_arn" {
  description = "ACM certificate of brokerlist's public name, for the HTTPS listener."
  type        = string
}

variable "drain_seconds" {
  description = "How long a stopping broker or brokerlist drains; the target groups keep a deregistered host that long before the group terminates it."
  type        = number
  default     = 10
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancers (their addresses are what game clients know)."
  type        = bool
  default     = true
}

variable "access_logs_bucket" {
  description = "S3 bucket for the HTTPS load balancer's access logs; empty: none."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Extra tags of every resource."
  type        = map(string)
  default     = {}
}
