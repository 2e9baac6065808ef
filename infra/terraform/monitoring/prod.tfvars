# Monitoring in prod: where alerts go. The receiver's credentials are SSM SecureStrings an operator
# creates (infra/terraform/README.md, "Monitoring"); the host reads them into the files named here.
region      = "eu-west-1"
environment = "prod"

alert_receiver_name = "hn-prod-oncall"
# Slack's incoming-webhook URL is the secret: Alertmanager (Debian 12's 0.25) reads it from a file.
alert_receiver = {
  slack_configs = [{ api_url_file = "/etc/highnoon/monitoring-secrets/slack-webhook-url", channel = "#hn-prod-alerts", send_resolved = true }]
}
alert_credential_files = {
  "/etc/highnoon/monitoring-secrets/slack-webhook-url" = "/highnoon/prod/monitoring/slack_webhook_url"
}
grafana_admin_parameter = "/highnoon/prod/monitoring/grafana_admin_password"
