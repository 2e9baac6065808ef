#!/bin/sh
# Pgpool-II's failover_command and failback_command for the HighNoon data tier: the same file runs
# under the local tier (hn_datatier.local) and on production's Pgpool hosts (infra/terraform).
#
#   pg-failover.sh SETTINGS failover|failback %d %h %p %P %m %H %r %N %S
#
# SETTINGS is a file of NAME=value lines this script sources:
#   HN_PSQL         psql to run
#   HN_PG_USER      the role it logs in as (Pgpool's check user: EXECUTE on pg_promote and
#                   pg_reload_conf, ALTER SYSTEM on synchronous_standby_names, nothing else)
#   HN_SYNC_MODE    available | durable | off: what the primary waits for while it has no replica
#                   ("available": nothing, writes go on acknowledged by the primary alone;
#                   "durable": the replica, writes wait for it; "off": asynchronous always)
#   HN_FENCE        a command run with the lost primary's host and port before the promotion: it
#                   powers that node off (STONITH) so that it cannot take a write and so that no
#                   connection to it hangs (a frozen or cut-off primary holds Pgpool's
#                   replication check, and with it Pgpool's search for the new primary, for as long
#                   as it stays frozen). Local tier: kill -9 of its postmaster's process group;
#                   infra/terraform: a forced stop and start of its EC2 instance. It must succeed
#                   when the node is already gone. Empty: no fencing beyond synchronous replication.
#   PGPASSFILE      the check user's password (libpq reads it)
#
# Events (Pgpool's placeholders, in this order: failed node, its host and port, old primary node,
# new main node, its host and port, old primary's host and port):
#   failover, the failed node was the primary: promote the new main node (unless it already is a
#       primary) and set what it waits for; nothing is left to promote when the new main is -1.
#   failover, a replica failed: in "available" mode the primary stops waiting for it.
#   failback (a replica streams again and Pgpool attached it): the primary waits for it again.
# Idempotent: two Pgpools may run it for the same failure.
set -u

settings=$1
event=$2
failed_node=$3
failed_host=$4
failed_port=$5
old_primary=$6
new_main=$7
new_host=$8
new_port=$9
shift 9
primary_host=${1:-}
primary_port=${2:-}
. "$settings"
export PGPASSFILE PGCONNECT_TIMEOUT=5

say() { echo "pg-failover: $*" >&2; }

# sql HOST PORT STATEMENT...: each statement on its own (ALTER SYSTEM runs outside a transaction).
sql() {
  host=$1
  port=$2
  shift 2
  for statement in "$@"; do
    set -- "$@" -c "$statement"
    shift
  done
  "$HN_PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$HN_PG_USER" -d postgres "$@"
}

# wait_for_standby HOST PORT: the primary at HOST:PORT waits for a synchronous standby again.
wait_for_standby() {
  sql "$1" "$2" "ALTER SYSTEM RESET synchronous_standby_names" "SELECT pg_reload_conf()" >/dev/null
}

# stop_waiting HOST PORT: the primary at HOST:PORT acknowledges commits alone.
stop_waiting() {
  sql "$1" "$2" "ALTER SYSTEM SET synchronous_standby_names = ''" "SELECT pg_reload_conf()" >/dev/null
}

case $event in
failover)
  if [ "$failed_node" = "$old_primary" ]; then
    if [ "$new_main" -lt 0 ]; then
      say "primary node $failed_node ($failed_host:$failed_port) lost and no node left to promote"
      exit 0
    fi
    if [ -n "${HN_FENCE:-}" ]; then
      say "fencing node $failed_node ($failed_host:$failed_port)"
      # A failed fence does not stop the promotion: the old primary still cannot acknowledge a
      # commit (it waits for a synchronous standby that follows another primary now).
      $HN_FENCE "$failed_host" "$failed_port" || say "fencing node $failed_node failed"
    fi
    in_recovery=$(sql "$new_host" "$new_port" "SELECT pg_is_in_recovery()") || {
      say "primary node $failed_node lost; node $new_main ($new_host:$new_port) does not answer"
      exit 1
    }
    if [ "$in_recovery" = "t" ]; then
      say "primary node $failed_node ($failed_host:$failed_port) lost: promoting node $new_main ($new_host:$new_port)"
      promoted=$(sql "$new_host" "$new_port" "SELECT pg_promote(true, 60)") || exit 1
      [ "$promoted" = "t" ] || { say "node $new_main did not finish promotion within 60 s"; exit 1; }
    fi
    # The old primary comes back as this one's replica (its keeper rewinds it); until then:
    case $HN_SYNC_MODE in
    available | off) stop_waiting "$new_host" "$new_port" ;;
    durable) wait_for_standby "$new_host" "$new_port" ;;
    esac
  elif [ "$HN_SYNC_MODE" = "available" ] && [ -n "$primary_host" ]; then
    say "replica node $failed_node ($failed_host:$failed_port) detached: the primary stops waiting for it"
    stop_waiting "$primary_host" "$primary_port"
  else
    say "replica node $failed_node ($failed_host:$failed_port) detached ($HN_SYNC_MODE mode)"
  fi
  ;;
failback)
  if [ "$HN_SYNC_MODE" != "off" ] && [ -n "$primary_host" ] && [ "$failed_node" != "$old_primary" ]; then
    say "replica node $failed_node ($failed_host:$failed_port) attached: the primary waits for it again"
    wait_for_standby "$primary_host" "$primary_port"
  fi
  ;;
*)
  say "unknown event $event"
  exit 2
  ;;
esac
exit 0
