# The monitoring host's configuration, from ops/ (no provider: tests/ render it offline and check
# it with promtool and amtool): Prometheus with ops/prometheus's configuration and rules, pointed at
# the yellow servers' /sd and at the data tier's exporters (file_sd files, as hn_datatier.local
# writes them locally); Alertmanager routing every alert to one receiver given by a variable;
# Grafana provisioned with ops/grafana. The host is also the log host (modules/log-shipping).
#
# The files are too large for user data (16 KiB): the monitoring root uploads `files` to S3 and the
# host copies them at boot (templates/monitoring-init.sh.tftpl).

locals {
  ops = "${path.module}/../../../../ops"

  # ops/prometheus/prometheus.yml as is, but for the addresses: every yellow's /sd, yellow's own
  # metrics, the Twemproxy agents; and Alertmanager on this host.
  prometheus_ops = yamldecode(file("${local.ops}/prometheus/prometheus.yml"))
  job_overrides = {
    hn = {
      http_sd_configs = [for ip in var.yellow_ips : { url = "http://${ip}:${var.service_ports.http}/sd", refresh_interval = "15s" }]
    }
    hn-yellow = {
      static_configs = [{ targets = [for ip in var.yellow_ips : "${ip}:${var.service_ports.metrics}"], labels = { service = "yellow" } }]
    }
    hn-twemproxy-agent = {
      static_configs = [{ targets = var.targets.twemproxy_agents, labels = { service = "twemproxy-agent" } }]
    }
  }
  prometheus_yml = join("\n", [
    "# Rendered by infra/terraform/modules/monitoring-config from ops/prometheus/prometheus.yml (read it there).",
    yamlencode(merge(local.prometheus_ops, {
      scrape_configs = [for job in local.prometheus_ops.scrape_configs : merge(job, try(local.job_overrides[job.job_name], {}))]
      alerting       = { alertmanagers = [{ static_configs = [{ targets = ["localhost:9093"] }] }] }
    })),
  ])

  alertmanager_yml = join("\n", [
    "# Rendered by infra/terraform/modules/monitoring-config: every alert to ${var.alert_receiver_name}.",
    yamlencode({
      route = {
        receiver        = var.alert_receiver_name
        group_by        = ["alertname", "service", "shard"]
        group_wait      = "30s"
        group_interval  = "5m"
        repeat_interval = "4h"
        # Critical alerts (someone acts now, ops/prometheus/rules) come back every hour.
        routes = [{ receiver = var.alert_receiver_name, matchers = ["severity=\"critical\""], repeat_interval = "1h" }]
      }
      # A service with no instance left says more than each of its instances down.
      inhibit_rules = [{
        source_matchers = ["alertname=\"HNServiceGone\""]
        target_matchers = ["alertname=\"HNInstanceDown\""]
        equal           = ["service"]
      }]
      receivers = [merge(var.alert_receiver, { name = var.alert_receiver_name })]
    }),
  ])

  targets = { for job in ["postgres", "pgpool", "redis"] : job => jsonencode(var.targets[job]) }

  files = merge(
    {
      "prometheus/prometheus.yml"     = local.prometheus_yml
      "alertmanager/alertmanager.yml" = local.alertmanager_yml
    },
    { for job, text in local.targets : "prometheus/targets/${job}.json" => text },
    { for f in fileset("${local.ops}/prometheus/rules", "*.yml") : "prometheus/rules/${f}" => file("${local.ops}/prometheus/rules/${f}") },
    { for f in fileset("${local.ops}/grafana", "provisioning/**/*.yml") : "grafana/${f}" => file("${local.ops}/grafana/${f}") },
    { for f in fileset("${local.ops}/grafana", "dashboards/*.json") : "grafana/${f}" => file("${local.ops}/grafana/${f}") },
  )

  init = templatefile("${path.module}/templates/monitoring-init.sh.tftpl", {
    ssm             = file("${path.module}/../data-tier-config/templates/ssm-secrets.sh")
    bundle          = var.bundle_s3_uri
    grafana_version = var.grafana_version
    retention       = var.retention
    secret_files    = var.alert_credential_files
    grafana_admin   = var.grafana_admin_parameter
  })

  cloud_config = join("\n", ["#cloud-config", yamlencode({
    package_update = true
    packages       = distinct(concat(["prometheus", "prometheus-alertmanager", "awscli", "curl", "gnupg", "ca-certificates"], module.logs.receiver.packages))
    write_files = concat(
      [{ path = "/usr/local/lib/highnoon/monitoring-init.sh", owner = "root:root", permissions = "0755", content = local.init }],
      [for path in sort(keys(module.logs.receiver.files)) : { path = path, owner = "root:root", permissions = "0644", content = module.logs.receiver.files[path] }],
    )
    runcmd = concat(["/usr/local/lib/highnoon/monitoring-init.sh"], module.logs.receiver.commands)
  })])
}

# The log host: every host's journal, received and served (modules/log-shipping).
module "logs" {
  source   = "../log-shipping"
  log_host = ""
}
