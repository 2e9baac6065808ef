variable "service" {
  description = "The service's name, as under services/ in the repository (sso, match, broker, ...)."
  type        = string
}

variable "environment" {
  description = "Environment name (staging, prod): part of every resource name and of the SSM paths."
  type        = string
}

variable "artifact_bucket" {
  description = "S3 bucket holding the PEX releases (bin/publish-pex.sh uploads them to services/<service>/<version>/<service>.pex)."
  type        = string
}

variable "pex_version" {
  description = "Release to run: a new value rolls the hosts (instance refresh, or instance replacement for fixed addresses)."
  type        = string
}

variable "pex_sha256" {
  description = "sha256 of that release's PEX, printed by bin/publish-pex.sh; the hosts refuse a PEX that does not match."
  type        = string
}

variable "page" {
  description = "A built web page the service serves (brokerlist: /play/, clients/web): the release it was published with (bin/publish-pex.sh uploads services/<service>/<version>/page.tar.gz beside the PEX), the archive's sha256 (the hosts refuse any other and do not start) and the environment variable that names the folder the hosts unpack it into; null: no page."
  type = object({
    version = string
    sha256  = string
    env     = string
  })
  default = null
}

variable "instance_count" {
  description = "Number of hosts, one process each, when the group is made (an autoscaled group's size is the autoscaler's afterwards: Terraform ignores later changes); ignored when fixed_private_ips is set: one host per address."
  type        = number
  default     = 2

  validation {
    condition     = var.instance_count >= 1
    error_message = "At least one instance."
  }
}

variable "min_size" {
  description = "Fewest hosts the autoscaling group may run (the autoscaler never goes below); null: instance_count."
  type        = number
  default     = null

  validation {
    condition     = var.min_size == null || try(var.min_size >= 1, false)
    error_message = "At least one instance."
  }
}

variable "max_size" {
  description = "Most hosts the autoscaling group may run, a deploy's new hosts included (they start before the old ones stop); null: twice instance_count."
  type        = number
  default     = null
}

variable "drain_timeout_seconds" {
  description = "Autoscaled services: how long a terminating host may drain (the termination lifecycle hook hn-draining holds it; the autoscaler completes the hook once the host left yellow) before the group terminates it anyway; 0: no hook, the host drains while it shuts down."
  type        = number
  default     = 0

  validation {
    condition     = var.drain_timeout_seconds == 0 || (var.drain_timeout_seconds >= 30 && var.drain_timeout_seconds <= 7200)
    error_message = "0 (no hook), or 30 to 7200 seconds (what AWS accepts for a heartbeat timeout)."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the hosts."
  type        = string
  default     = "t3.small"
}

variable "ami_id" {
  description = "AMI of the hosts; empty: the newest official Debian 12 (amd64) image, whose python3.11 runs the PEXes."
  type        = string
  default     = ""
}

variable "root_volume_gb" {
  description = "Size of each host's root volume (the PEX unpacks there)."
  type        = number
  default     = 16
}

variable "subnet_ids" {
  description = "Subnets of the hosts. With fixed_private_ips: the subnet of each address, in the same order."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the hosts (from the network module: the service group, or the broker group for the edge)."
  type        = list(string)
}

variable "associate_public_ip" {
  description = "Give each host of the autoscaling group a public IPv4 address (brokers: game clients connect to the broker brokerlist names). Fixed-address hosts never get one."
  type        = bool
  default     = false
}

variable "public_ip_env" {
  description = "Variable that receives the host's public IPv4 address at start (HN_BROKER_PUBLIC_HOST for brokers); empty: none."
  type        = string
  default     = ""
}

variable "fixed_private_ips" {
  description = "Addresses for services that others must find without discovery (yellow: HN_YELLOW lists them). One standalone instance per address instead of an autoscaling group."
  type        = list(string)
  default     = []
}

variable "target_group_arns" {
  description = "Load balancer target groups the autoscaling group registers its hosts in (broker: the NLB's, brokerlist: the HTTPS load balancer's)."
  type        = list(string)
  default     = []
}

variable "yellow" {
  description = "HN_YELLOW: the yellow addresses (tcp://ip:port,...); empty for yellow itself."
  type        = string
}

variable "ports" {
  description = "Fixed ports of every host (one process per host): ZeroMQ rep/pull/pub, Prometheus metrics, HTTP face. The network module opens the same ones inside the VPC."
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

variable "drain_seconds" {
  description = "HN_DRAIN_SECONDS: how long a stopping process finishes in-flight work; systemd and the load balancers wait for it."
  type        = number
  default     = 10
}

variable "log_level" {
  description = "HN_LOG_LEVEL of the process."
  type        = string
  default     = "info"
}

variable "environment_variables" {
  description = "More non-secret environment (HN_PG_DSN, HN_REDIS_URL, HN_<SERVICE>_* tuning); these win over the module's defaults. Secret-looking names are refused: secrets go to SSM under /highnoon/<environment>/<service>/env."
  type        = map(string)
  default     = {}
}

variable "extra_ssm_env_paths" {
  description = "More SSM paths loaded into the environment before the service's own one (which wins on a clash), e.g. the data tier's client path holding PGPASSWORD."
  type        = list(string)
  default     = []
}

variable "extra_ssm_files" {
  description = "SSM parameters written as files into the process's state directory (/var/lib/highnoon/<service>) at every start (file name => parameter name), e.g. the broker's TLS certificate and key."
  type        = map(string)
  default     = {}
}

variable "ssm_kms_key_arn" {
  description = "Customer-managed KMS key of the SecureString parameters, if not the AWS-managed aws/ssm key (which needs no grant)."
  type        = string
  default     = ""
}

variable "launch_timeout_seconds" {
  description = "How long a new host may take to serve (PEX download, start, registration) before the autoscaling group abandons it."
  type        = number
  default     = 600
}

variable "tags" {
  description = "Extra tags of every resource."
  type        = map(string)
  default     = {}
}

variable "curve" {
  description = "CURVE on the service's ZeroMQ sockets, with the service identity of docs/security.md: the host reads its key pair from the SecureString /highnoon/<environment>/<service>/curve/secret_key and the CURVE authority from curve_authority_parameter at every start."
  type        = bool
  default     = true
}

variable "curve_authority_parameter" {
  description = "SSM parameter holding the CURVE authority (which keys act as which service, and the grants): the platform contract's curve_authority_parameter. Required with curve."
  type        = string
  default     = ""

  validation {
    condition     = var.curve_authority_parameter == "" || can(regex("^/[A-Za-z0-9_./-]+[^/]$", var.curve_authority_parameter))
    error_message = "An SSM parameter name: starts with / and does not end with /."
  }
}

variable "yellow_curve_key" {
  description = "HN_YELLOW_CURVE_KEY: yellow's CURVE public key (Z85, 40 characters), the platform contract's hn_yellow_curve_key; unused by yellow itself. Required with curve for every other service."
  type        = string
  default     = ""

  validation {
    condition     = var.yellow_curve_key == "" || length(var.yellow_curve_key) == 40
    error_message = "A Z85 CURVE public key is 40 characters long."
  }
}

variable "log_host" {
  description = "Private address of the log host every instance ships its journal to (the platform contract's log_host); empty: none."
  type        = string
  default     = ""
}
