#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages HighNoon needs to build, test and run locally.
# Idempotent: packages already present are skipped, and apt is not touched when nothing is missing.
#
# The data tier (PostgreSQL, Pgpool-II, Redis, Sentinel, Twemproxy) and Prometheus are only used
# through their binaries: hn_datatier's launcher starts its own processes on free loopback ports in
# scratch directories, and so do the ops/ tests with Prometheus. Debian would otherwise start a
# system instance of each on install (and at every boot) on the default ports 5432, 9999, 6379,
# 26379, 22121, 9090: they would burn CPU and memory, and a developer's client pointed at a default
# port would silently talk to the wrong server. So this script keeps them from starting during the
# install (a temporary policy-rc.d that answers 101, "action forbidden", unless the machine already
# has one) and afterwards stops and disables the system units (systemctl where systemd runs,
# `service` + `update-rc.d` in containers).
# Set HN_KEEP_SYSTEM_SERVICES=1 to leave the system services alone.
set -euo pipefail

packages=(
  thrift-compiler   # Thrift IDL -> Python, run by Pants' Apache Thrift backend
  build-essential   # thrift's fastbinary C extension is built from its sdist
  postgresql        # PostgreSQL 15 server binaries (/usr/lib/postgresql/15/bin): primary + replica
  pgpool2           # Pgpool-II: pooling, read load balancing, in front of PostgreSQL
  pgbackrest        # pgBackRest: WAL archiving, base backups and point-in-time restores of PostgreSQL
  redis-server      # Redis shards (masters and replicas)
  redis-sentinel    # Sentinel: watches each shard's master, promotes its replica
  nutcracker        # Twemproxy: consistent hashing (ketama) over the Redis shards
  libsodium23       # CURVE's crypto for libzmq, several times faster than pyzmq's bundled copy (hn_runtime._sodium)
  systemd           # systemd-analyze: infra/terraform/tests verify the rendered units with it (its tests fail without it)
  prometheus        # Prometheus server and promtool: ops/prometheus config, alert rules and their tests
  chromium          # headless browser for tests that drive web pages
  chromium-driver   # chromedriver, the WebDriver server for chromium
  iproute2          # ip and tc: libs/hn-netns builds its hosts from network namespaces, veths, a bridge
  iptables          # libs/hn-netns: cuts between hosts, and its link shaper's NFQUEUE rules
  prometheus-alertmanager       # Alertmanager: ops/alertmanager's routing, checked by amtool in ops/tests
  prometheus-postgres-exporter  # PostgreSQL and Pgpool-II metrics (hn up, ops/tests, the data-tier hosts)
  prometheus-redis-exporter     # Redis node metrics (hn up, ops/tests, the data-tier hosts)
  systemd-journal-remote        # log shipping: systemd-journal-upload -> systemd-journal-remote, tested in tools/hn/tests
)

# System services these packages install, stopped and disabled below.
services=(postgresql pgpool2 redis-server redis-sentinel nutcracker prometheus)
services+=(prometheus-alertmanager prometheus-postgres-exporter prometheus-redis-exporter)
services+=(systemd-journal-remote systemd-journal-upload)

sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "system packages: all present"
else
  echo "system packages: installing ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  if [[ -z ${HN_KEEP_SYSTEM_SERVICES:-} && ! -e $policy ]]; then
    # Only for the duration of this install; an existing policy is the machine owner's and stays.
    printf '#!/bin/sh\n# temporary, from HighNoon scripts/install-system-packages.sh\nexit 101\n' \
      | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    trap '$sudo rm -f "$policy"' EXIT
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[[ -n ${HN_KEEP_SYSTEM_SERVICES:-} ]] && exit 0

# Stop and disable the system instances (every run: cheap, and it catches a package installed
# by hand). Each step may fail harmlessly (no init system, unit absent, already stopped).
systemd=0
[[ -d /run/systemd/system ]] && systemd=1
for s in "${services[@]}"; do
  [[ -e /etc/init.d/$s || -e /lib/systemd/system/$s.service ]] || continue
  if ((systemd)); then
    if systemctl is-enabled --quiet "$s" 2>/dev/null || systemctl is-active --quiet "$s" 2>/dev/null; then
      echo "system packages: stopping and disabling the system $s service"
      $sudo systemctl disable --now --quiet "$s" 2>/dev/null || true
    fi
    continue
  fi
  # No systemd running (a container): stop through the init script; disable both the SysV links
  # and, offline, the systemd unit links, so a later boot under systemd starts nothing either.
  if [[ -e /etc/init.d/$s ]]; then
    $sudo service "$s" stop >/dev/null 2>&1 || true
    $sudo update-rc.d "$s" disable >/dev/null 2>&1 || true
  fi
  if command -v systemctl >/dev/null && systemctl is-enabled --quiet "$s" 2>/dev/null; then
    echo "system packages: disabling the system $s service"
    $sudo systemctl disable --quiet "$s" 2>/dev/null || true
  fi
done
