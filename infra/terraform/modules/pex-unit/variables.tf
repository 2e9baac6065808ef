variable "service" {
  description = "Name of the process: the unit is hn-<service>.service, its files live under /var/lib/highnoon/<service>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.service))
    error_message = "The service name must be lowercase letters, digits and dashes."
  }
}

variable "environment" {
  description = "Environment name (staging, prod): only shown in the unit's description."
  type        = string
}

variable "pex_version" {
  description = "Release of the PEX: part of the file name on the host, so a new release never overwrites the running one."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._+-]*$", var.pex_version))
    error_message = "The version may only hold letters, digits and . _ + -."
  }
}

variable "pex_s3_uri" {
  description = "Where the host fetches the PEX (s3://bucket/key), with the instance role's credentials."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9.-]+/[A-Za-z0-9._+/-]+\\.pex$", var.pex_s3_uri))
    error_message = "The PEX location must be s3://<bucket>/<key>.pex."
  }
}

variable "pex_sha256" {
  description = "sha256 of the PEX: the host refuses to run anything else (the S3 object could be replaced under the same key)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.pex_sha256))
    error_message = "The sha256 must be 64 lowercase hex digits."
  }
}

variable "page" {
  description = "A built web page the process serves (brokerlist's /play/): where the archive is (s3://bucket/key.tar.gz, published beside the PEX), its sha256 (the host refuses any other archive and then does not start), its release (part of the folder's name) and the environment variable that receives the unpacked folder; null: no page."
  type = object({
    s3_uri  = string
    sha256  = string
    version = string
    env     = string
  })
  default = null

  validation {
    condition     = var.page == null || can(regex("^s3://[a-z0-9.-]+/[A-Za-z0-9._+/-]+\\.tar\\.gz$", var.page.s3_uri))
    error_message = "The page's location must be s3://<bucket>/<key>.tar.gz."
  }

  validation {
    condition     = var.page == null || can(regex("^[0-9a-f]{64}$", var.page.sha256))
    error_message = "The page's sha256 must be 64 lowercase hex digits."
  }

  validation {
    condition     = var.page == null || can(regex("^[A-Za-z0-9][A-Za-z0-9._+-]*$", var.page.version))
    error_message = "The page's version may only hold letters, digits and . _ + -."
  }

  validation {
    condition     = var.page == null || can(regex("^[A-Z_][A-Z0-9_]*$", var.page.env))
    error_message = "The page's environment variable name must be upper case letters, digits and underscores."
  }
}

variable "pex_module" {
  description = "Module to run instead of the PEX's entry point (PEX_MODULE), e.g. hn_datatier.agent; empty: the entry point."
  type        = string
  default     = ""
}

variable "args" {
  description = "Arguments after the PEX on the command line."
  type        = list(string)
  default     = []
}

variable "env" {
  description = "Non-secret environment of the process, written into the unit (and so into Terraform state and user data). Secrets go to SSM Parameter Store under ssm_env_paths."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.env) : can(regex("^[A-Z_][A-Z0-9_]*$", k))])
    error_message = "Environment variable names must be upper case letters, digits and underscores."
  }

  validation {
    # User data and state are readable by anyone who can describe the instance or read the
    # state bucket: a name that says "secret" (PGPASSWORD, ..._TOKEN; not HN_SSO_TOKEN_TTL_S)
    # belongs in SSM Parameter Store instead.
    condition     = alltrue([for k in keys(var.env) : !can(regex("(PASSWORD|PASSWD|SECRET|SECRET_KEY|ACCESS_KEY|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIALS?)$", k))])
    error_message = "Secret-looking variables (PASSWORD, SECRET, TOKEN, ...) must come from SSM Parameter Store (ssm_env_paths), not from the unit."
  }

  validation {
    condition     = alltrue([for v in values(var.env) : !can(regex("[\n\r]", v))])
    error_message = "Environment values must be single lines."
  }

  validation {
    # A password inside a DSN or URL (a user:password part before the host) is a secret too.
    condition     = alltrue([for v in values(var.env) : !can(regex("://[^/@:]+:[^/@]+@", v))])
    error_message = "URLs in the environment must not carry a password: libpq reads PGPASSWORD from SSM instead."
  }
}

variable "ssm_env_paths" {
  description = "SSM Parameter Store paths whose parameters (String or SecureString) become environment variables at every start; the last path wins on a clash. The parameter's last name segment is the variable name."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.ssm_env_paths : can(regex("^/[A-Za-z0-9_./-]+[^/]$", p))])
    error_message = "SSM paths start with / and do not end with /."
  }
}

variable "ssm_files" {
  description = "SSM parameters (String or SecureString) written as files into the process's state directory at every start, readable by the service user only (file name => parameter name), e.g. a CURVE secret key and the CURVE authority, the broker's TLS certificate and key. When SSM is unreachable the copy fetched before is used."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.ssm_files) : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*$", name))])
    error_message = "File names are plain names (letters, digits, . _ -), no paths."
  }

  validation {
    condition     = alltrue([for p in values(var.ssm_files) : can(regex("^/[A-Za-z0-9_./-]+[^/]$", p))])
    error_message = "SSM parameter names start with / and do not end with /."
  }
}

variable "public_ip_env" {
  description = "Name of a variable that receives the instance's public IPv4 address at start (the broker's HN_BROKER_PUBLIC_HOST); empty: none."
  type        = string
  default     = ""
}

variable "drain_seconds" {
  description = "How long the process drains after SIGTERM (HN_DRAIN_SECONDS); systemd waits this plus a margin before SIGKILL."
  type        = number
  default     = 10
}

variable "user" {
  description = "System user the process runs as."
  type        = string
  default     = "highnoon"
}

variable "python" {
  description = "Interpreter that runs the PEX (the PEXes need CPython 3.11: Debian 12's python3.11)."
  type        = string
  default     = "/usr/bin/python3.11"
}

variable "autoscaling_group_name" {
  description = "When the host belongs to an autoscaling group with a launch lifecycle hook: the group's name. The host completes the hook once the process is ready, so a rolling deploy waits for a serving instance before it stops an old one."
  type        = string
  default     = ""
}

variable "lifecycle_hook_name" {
  description = "Name of the launch lifecycle hook to complete (with autoscaling_group_name)."
  type        = string
  default     = "hn-serving"
}

variable "drain_on_termination" {
  description = "With autoscaling_group_name: the group has a termination lifecycle hook, and the host drains when the group starts terminating it (a watcher reads autoscaling/target-lifecycle-state from the instance metadata and stops the unit on Terminated; the autoscaler completes the hook once the process left yellow)."
  type        = bool
  default     = false
}

variable "ready_timeout_seconds" {
  description = "How long the host waits for the process's ready file before it gives up on the lifecycle hook (the group then abandons the instance)."
  type        = number
  default     = 240
}

variable "extra_packages" {
  description = "Debian packages installed besides Python, awscli and curl."
  type        = list(string)
  default     = []
}

variable "seed_files" {
  description = "Files copied into the process's state directory on its first start only (name => content), e.g. a configuration the process later rewrites itself."
  type        = map(string)
  default     = {}
}

variable "extra_commands" {
  description = "Shell commands cloud-init runs once, before the unit is enabled."
  type        = list(string)
  default     = []
}

variable "extra_unit_lines" {
  description = "Extra [Service] directives, e.g. LogsDirectory= for a child process that insists on a log file."
  type        = list(string)
  default     = []
}

variable "log_host" {
  description = "Private address of the log host the journal is shipped to (modules/log-shipping; the platform contract's log_host); empty: the journal stays on the host."
  type        = string
  default     = ""
}
