# Logs: every host's journal to one log host, with Debian's systemd-journal-remote package, which
# the hosts already run under systemd (no agent of our own, nothing to keep alive but units).
#
#   unit stdout (JSON lines) -> journald -> systemd-journal-upload --HTTP--> systemd-journal-remote
#   (log host, /var/log/journal/remote, one file set per sending host) -> systemd-journal-gatewayd
#   (HTTP, JSON) -> `hn logs --from http://LOGHOST:19531 --trace ID`
#
# Why this shipper: it is the journal's own (the units already log there, with their unit and host
# names), it keeps a cursor (--save-state) so a log host that was away gets what it missed, and
# its three programs run outside systemd too, which is how e2e/test_logs.py runs the same chain on
# a machine without systemd as PID 1. rsyslog would need a file or the journal module per host and
# gives back lines without the journal's fields.
#
# Plain HTTP inside the VPC: the security group opens the upload and gateway ports to the VPC only
# (modules/network). No provider: tests/ render this offline.

locals {
  upload_url = "http://${var.log_host}:${var.upload_port}"

  sender_files = {
    "/etc/systemd/journal-upload.conf.d/highnoon.conf" = join("\n", [
      "# Rendered by infra/terraform/modules/log-shipping: this host's journal to the log host.",
      "[Upload]",
      "URL=${local.upload_url}",
      "",
    ])
  }
  # Nothing at all without a log host (for-expressions keep the types the same either way).
  shipping = var.log_host != ""
  sender = {
    packages = [for p in ["systemd-journal-remote"] : p if local.shipping]
    files    = { for path, content in local.sender_files : path => content if local.shipping }
    # Debian enables the unit on install; the drop-in above is read at this (re)start.
    commands = [
      for c in ["systemctl enable systemd-journal-upload.service", "systemctl restart systemd-journal-upload.service"] : c if local.shipping
    ]
  }

  receiver = {
    packages = ["systemd-journal-remote"]
    files = {
      "/etc/systemd/journal-remote.conf.d/highnoon.conf" = join("\n", [
        "# Rendered by infra/terraform/modules/log-shipping: one journal per sending host, bounded.",
        "[Remote]",
        "SplitMode=host",
        "MaxUse=${var.max_use}",
        "",
      ])
      # Debian's unit wants HTTPS with certificates; inside the VPC it listens on HTTP, on the
      # socket its .socket unit opens (port ${var.upload_port}).
      "/etc/systemd/system/systemd-journal-remote.service.d/highnoon.conf" = join("\n", [
        "[Service]",
        "ExecStart=",
        "ExecStart=/lib/systemd/systemd-journal-remote --listen-http=-3 --output=/var/log/journal/remote/",
        "",
      ])
      "/etc/systemd/system/systemd-journal-remote.socket.d/highnoon.conf" = join("\n", [
        "[Socket]",
        "ListenStream=",
        "ListenStream=${var.upload_port}",
        "",
      ])
      # The gateway serves what the hosts sent, not the log host's own journal.
      "/etc/systemd/system/systemd-journal-gatewayd.service.d/highnoon.conf" = join("\n", [
        "[Service]",
        "ExecStart=",
        "ExecStart=/lib/systemd/systemd-journal-gatewayd --directory=/var/log/journal/remote",
        "",
      ])
      "/etc/systemd/system/systemd-journal-gatewayd.socket.d/highnoon.conf" = join("\n", [
        "[Socket]",
        "ListenStream=",
        "ListenStream=${var.gateway_port}",
        "",
      ])
    }
    commands = [
      "install -d -o systemd-journal-remote -g systemd-journal-remote -m 0755 /var/log/journal/remote",
      "systemctl daemon-reload",
      "systemctl enable --now systemd-journal-remote.socket systemd-journal-gatewayd.socket",
    ]
  }
}
