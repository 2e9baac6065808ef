# The autoscaler in prod: what it sizes and how. The release is in prod.release.tfvars.
# Bounds lie within each group's min_size..max_size (infra/terraform/services/<service>/prod.tfvars).
# Hosts take minutes to serve: windows and cooldowns are in minutes, not the local cluster's seconds.
region      = "eu-west-1"
environment = "prod"
services = {
  broker = {
    min_instances = 2
    max_instances = 8
    rule          = { up_window_s = 60, up_cooldown_s = 300, down_window_s = 900, down_cooldown_s = 1800, settle_timeout_s = 600 }
  }
  sso = {
    min_instances = 2
    max_instances = 8
    rule          = { up_window_s = 60, up_cooldown_s = 300, down_window_s = 900, down_cooldown_s = 1800, settle_timeout_s = 600 }
  }
  match = {
    min_instances = 2
    max_instances = 8
    # Never drain a match host that holds a duel room.
    rule = { up_window_s = 60, up_cooldown_s = 300, down_window_s = 900, down_cooldown_s = 1800, settle_timeout_s = 600, victim_max_load = 0 }
  }
}
