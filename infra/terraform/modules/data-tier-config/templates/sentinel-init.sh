#!/bin/bash
# First boot of a Redis Sentinel, run by cloud-init (infra/terraform/modules/data-tier-config).
# The configuration is installed once: Sentinel rewrites it as it learns replicas, peers and new
# masters. A Sentinel that starts from the first masters after a failover catches up from its
# peers' hello messages, which carry the newer configuration epoch.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if [ ! -e /etc/redis/.highnoon-installed ]; then
  systemctl stop redis-sentinel
  install -o redis -g redis -m 0640 /etc/highnoon/sentinel/sentinel.conf /etc/redis/sentinel.conf
  touch /etc/redis/.highnoon-installed
fi
systemctl enable redis-sentinel
systemctl restart redis-sentinel
