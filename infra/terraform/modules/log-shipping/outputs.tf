output "sender" {
  description = "What a host needs to ship its journal to the log host: packages, files (path => content), commands to run once they are written. Empty without a log host."
  value       = local.sender
}

output "receiver" {
  description = "What the log host needs to receive the journals (systemd-journal-remote) and serve them (systemd-journal-gatewayd): packages, files, commands."
  value       = local.receiver
}

output "upload_url" {
  description = "Where the hosts upload (systemd-journal-upload's URL=)."
  value       = local.upload_url
}
