#!/bin/bash
# First boot of a Redis shard node, run by cloud-init (infra/terraform/modules/data-tier-config).
# The configuration is installed once: afterwards Sentinel owns its replicaof line (CONFIG REWRITE).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# Redis forks for RDB snapshots and AOF rewrites: its own advice for such hosts.
echo "vm.overcommit_memory = 1" >/etc/sysctl.d/60-highnoon-redis.conf
sysctl -q -p /etc/sysctl.d/60-highnoon-redis.conf

if [ ! -e /etc/redis/.highnoon-installed ]; then
  systemctl stop redis-server
  install -o redis -g redis -m 0640 /etc/highnoon/redis/redis.conf /etc/redis/redis.conf
  touch /etc/redis/.highnoon-installed
fi
systemctl enable redis-server
systemctl restart redis-server
