# The data tier's configuration files and cloud-init documents, rendered from the same templates
# the local tier uses (libs/hn-datatier/src/hn_datatier/templates: `${name}` placeholders only,
# which Python's string.Template and templatefile() read alike; repeated blocks come from their
# own small template and go in as one value, as in hn_datatier.local). Production values are
# the ones the templates' comments give. No provider: the CI renders this module offline.
#
# Passwords never pass through Terraform: where a template wants one, this module renders a
# marker `@@ssm:<parameter name>@@`, and the host puts the SecureString's value in at boot
# (fill_secrets in templates/ssm-secrets.sh; the Sentinel agent for Twemproxy's redis_auth).

locals {
  templates = "${path.module}/../../../../libs/hn-datatier/src/hn_datatier/templates"

  # Every secret of the tier: an SSM SecureString an operator creates (README,
  # bin/create-datatier-secrets.sh). The ones under an `env` path reach processes as environment
  # variables too (the services, the agent), named after the parameter.
  secrets = {
    app            = "${var.client_env_path}/PGPASSWORD"
    replication    = "${var.ssm_prefix}/postgres/replication_password"
    pgpool         = "${var.ssm_prefix}/postgres/pgpool_password"
    redis_default  = "${var.redis_client_env_path}/HN_REDIS_PASSWORD"
    redis_sentinel = "${var.ssm_prefix}/redis/sentinel_user_password"
    redis_replica  = "${var.ssm_prefix}/redis/replica_user_password"
    redis_admin    = "${var.ssm_prefix}/redis/admin_user_password"
    redis_monitor  = "${var.ssm_prefix}/redis/monitor_user_password"
    sentinel       = "${var.sentinel_client_env_path}/HN_SENTINEL_PASSWORD"
  }
  marker = { for key, name in local.secrets : key => "@@ssm:${name}@@" }
  ssm    = file("${path.module}/templates/ssm-secrets.sh")

  # Every Pgpool child holds at most max_pool backend connections, on every node
  # (pgpool.conf.tmpl's rule); the rest is for superusers, replication and maintenance.
  pg_max_connections = var.pgpool_count * var.pgpool_children * var.pgpool_max_pool + 20

  # pgBackRest: the stanza (one PostgreSQL cluster) and the commands PostgreSQL runs.
  stanza = "highnoon"

  postgresql_conf = templatefile("${local.templates}/postgresql.conf.tmpl", {
    listen_addresses   = "*"
    port               = var.ports.postgres
    socket_dir         = "/var/run/postgresql"
    max_connections    = local.pg_max_connections
    shared_buffers     = var.pg_shared_buffers
    wal_keep_size      = var.pg_wal_keep_size
    fsync              = "on"
    synchronous_commit = "on"
    # Every node names every node, so the same file serves whichever is the primary.
    synchronous_standby_names = var.pg_synchronous == "off" ? "" : "ANY 1 (${join(", ", [for node in local.pg_nodes : node.name])})"
    archive_mode              = "on"
    archive_command           = "pgbackrest --stanza=${local.stanza} archive-push %p"
    archive_timeout           = "60s"
    restore_command           = "pgbackrest --stanza=${local.stanza} archive-get %f \"%p\""
  })

  # The node's pgBackRest configuration: the repository in S3, reached with the instance role.
  pgbackrest_conf = templatefile("${local.templates}/pgbackrest.conf.tmpl", {
    stanza = local.stanza
    repository = join("\n", [
      "repo1-type = s3",
      "repo1-path = /pgbackrest",
      "repo1-s3-bucket = ${var.backup_bucket}",
      "repo1-s3-region = ${var.region}",
      "repo1-s3-endpoint = s3.${var.region}.amazonaws.com",
      "repo1-s3-key-type = auto",
    ])
    retention_full = var.backup_retention_full
    # archive_command returns once the segment is in the local spool; pgBackRest pushes it to
    # S3 in parallel batches, so a slow S3 does not hold up the primary's WAL.
    archive_async  = "y"
    spool_path     = "/var/spool/pgbackrest"
    process_max    = 4
    log_path       = "/var/log/pgbackrest"
    lock_path      = "/tmp/pgbackrest"
    log_level_file = "info"
    pg_path        = "/var/lib/postgresql/${var.pg_major}/main"
    pg_port        = var.ports.postgres
    pg_socket      = "/var/run/postgresql"
    pg_user        = "postgres"
  })

  # The template wants a password from everyone; the boot script needs the postgres superuser
  # over the local socket without one (peer: the OS user postgres only), and the first matching
  # line wins.
  pg_hba_conf = join("", [
    "# Rendered by infra/terraform/modules/data-tier-config: the superuser over the local socket only.\n",
    "local   all           postgres              peer\n",
    templatefile("${local.templates}/pg_hba.conf.tmpl", {
      client_cidr      = var.vpc_cidr
      replication_user = "replicator"
    }),
  ])

  pg_nodes = [
    { name = "pg0", host = var.pg_primary_ip },
    { name = "pg1", host = var.pg_replica_ip },
  ]

  pgpool_backends = join("\n", [
    for i, node in local.pg_nodes : templatefile("${local.templates}/pgpool-backend.conf.tmpl", {
      index            = i
      host             = node.host
      port             = var.ports.postgres
      weight           = 1
      application_name = node.name
    })
  ])

  pgpool_conf = templatefile("${local.templates}/pgpool.conf.tmpl", {
    listen_addresses         = "*"
    port                     = var.ports.pgpool
    pcp_port                 = 9898
    run_dir                  = "/var/run/postgresql"
    backends                 = local.pgpool_backends
    num_init_children        = var.pgpool_children
    max_pool                 = var.pgpool_max_pool
    pool_passwd              = "/etc/pgpool2/pool_passwd"
    delay_threshold          = 10 * 1024 * 1024
    check_period             = var.pgpool_check_period
    health_check_timeout     = 10
    health_check_max_retries = 3
    auto_failback_interval   = 30
    check_user               = "hn_pgpool"
    # Pgpool's failover and failback commands: libs/hn-datatier's pg-failover.sh, as locally.
    failover_command            = "${local.failover_script} ${local.failover_env} failover ${local.failover_args}"
    failback_command            = "${local.failover_script} ${local.failover_env} failback ${local.failover_args}"
    search_primary_node_timeout = 300
  })

  failover_script = "/usr/local/lib/highnoon/pg-failover.sh"
  failover_env    = "/etc/highnoon/pgpool/pg-failover.env"
  fence_script    = "/usr/local/lib/highnoon/pg-fence.sh"
  # hn_datatier.local._pgpool.FAILOVER_ARGS: the order pg-failover.sh reads them in.
  failover_args = "%d %h %p %P %m %H %r %N %S"
  failover_settings = join("", [
    "HN_PSQL=/usr/bin/psql\n",
    "HN_PG_USER=hn_pgpool\n",
    "HN_SYNC_MODE=${var.pg_synchronous}\n",
    "PGPASSFILE=/var/lib/postgresql/.pgpass-failover\n",
    "HN_FENCE=${var.pg_fence ? local.fence_script : ""}\n",
  ])
  fence = templatefile("${path.module}/templates/pg-fence-ec2.sh.tftpl", { region = var.region })

  # The keeper, and the base backups, on both PostgreSQL hosts (hn-pg-keeper and hn-pg-backup).
  pg_keeper = {
    for role, node in { primary = local.pg_nodes[0], replica = local.pg_nodes[1] } : role => templatefile("${path.module}/templates/pg-keeper.sh.tftpl", {
      application_name = node.name
      peer_ip          = role == "primary" ? var.pg_replica_ip : var.pg_primary_ip
      pg_major         = var.pg_major
      port             = var.ports.postgres
      sync_mode        = var.pg_synchronous
    })
  }
  pg_backup = templatefile("${path.module}/templates/pg-backup.sh.tftpl", { port = var.ports.postgres, stanza = local.stanza })
  pg_units = {
    # systemd starts a dead PostgreSQL again, through the keeper's check.
    "/etc/systemd/system/postgresql@.service.d/highnoon.conf" = join("\n", [
      "[Service]",
      "ExecStartPre=/usr/local/lib/highnoon/pg-keeper.sh before-start",
      "Restart=on-failure",
      "RestartSec=2s",
      "",
    ])
    "/etc/systemd/system/hn-pg-keeper.service" = join("\n", [
      "[Unit]",
      "Description=HighNoon: an old PostgreSQL primary becomes the new primary's replica",
      "[Service]",
      "Type=oneshot",
      "ExecStart=/usr/local/lib/highnoon/pg-keeper.sh watch",
      "",
    ])
    "/etc/systemd/system/hn-pg-keeper.timer" = join("\n", [
      "[Unit]",
      "Description=HighNoon: hn-pg-keeper every 15 s",
      "[Timer]",
      "OnBootSec=60s",
      "OnUnitActiveSec=15s",
      "[Install]",
      "WantedBy=timers.target",
      "",
    ])
    "/etc/systemd/system/hn-pg-backup@.service" = join("\n", [
      "[Unit]",
      "Description=HighNoon: pgBackRest %i backup when this node is the primary",
      "[Service]",
      "Type=oneshot",
      "ExecStart=/usr/local/lib/highnoon/pg-backup.sh %i",
      "",
    ])
    "/etc/systemd/system/hn-pg-backup-full.timer" = join("\n", [
      "[Unit]",
      "Description=HighNoon: weekly full pgBackRest backup",
      "[Timer]",
      "OnCalendar=Sun 03:00",
      "Persistent=true",
      "Unit=hn-pg-backup@full.service",
      "[Install]",
      "WantedBy=timers.target",
      "",
    ])
    "/etc/systemd/system/hn-pg-backup-diff.timer" = join("\n", [
      "[Unit]",
      "Description=HighNoon: daily differential pgBackRest backup",
      "[Timer]",
      "OnCalendar=Mon..Sat 03:00",
      "Persistent=true",
      "Unit=hn-pg-backup@diff.service",
      "[Install]",
      "WantedBy=timers.target",
      "",
    ])
  }

  # pool_passwd is written at boot from SSM (templates/pgpool-init.sh.tftpl).
  pool_hba_conf = templatefile("${local.templates}/pool_hba.conf.tmpl", { client_cidr = var.vpc_cidr })

  redis_nodes = merge([
    for shard in var.redis_shards : {
      "${shard.name}-a" = { shard = shard.name, ip = shard.master_ip, replicaof = "" }
      "${shard.name}-b" = { shard = shard.name, ip = shard.replica_ip, replicaof = "replicaof ${shard.master_ip} ${var.ports.redis}" }
    }
  ]...)

  # A master keeps taking writes only while a replica acknowledged within max_lag seconds. Why:
  # a master cut off from its Sentinels (a partition, a frozen zone) goes on acknowledging writes
  # that vanish when Sentinel promotes its replica on the other side; with these settings it stops
  # after at most 10 s without its replica, which bounds that loss. Every shard here has exactly one
  # replica (redis_shards: a master and a replica in another zone), so "1" means that replica; the
  # price is that a shard refuses writes (NOREPLICAS) while its replica is down or more than 10 s
  # behind, until it is back. Set on every node: any node may be promoted. The local tier keeps 0.
  redis_min_replicas = { to_write = 1, max_lag = 10 }
  # Appended after redis.conf.tmpl, unless the template carries the directives itself (its
  # placeholders, passed below, then set them).
  redis_template_has_min_replicas = length(regexall("(?m)^min-replicas-to-write ", file("${local.templates}/redis.conf.tmpl"))) > 0
  redis_min_replicas_lines = local.redis_template_has_min_replicas ? "" : join("\n", [
    "",
    "# Production (infra/terraform data-tier-config): stop taking writes after max-lag seconds",
    "# without an acknowledging replica, bounding what a master cut from its Sentinels can lose.",
    "min-replicas-to-write ${local.redis_min_replicas.to_write}",
    "min-replicas-max-lag ${local.redis_min_replicas.max_lag}",
    "",
  ])

  redis_conf = {
    for name, node in local.redis_nodes : name => "${templatefile("${local.templates}/redis.conf.tmpl", {
      # Every interface, and every user wants a password: the security group decides who reaches
      # the node, the password who gets an answer.
      bind              = "0.0.0.0"
      port              = var.ports.redis
      dir               = "/var/lib/redis"
      default_password  = local.marker.redis_default
      sentinel_password = local.marker.redis_sentinel
      replica_password  = local.marker.redis_replica
      admin_password    = local.marker.redis_admin
      monitor_password  = local.marker.redis_monitor
      # A master restarted by systemd before Sentinel notices must not come back empty and wipe
      # its replica: every node persists, AOF for the last second and RDB for quick restarts.
      persistence_comment = "AOF (fsync every second) and RDB snapshots on every node"
      save                = "3600 1 300 100 60 10000"
      appendonly          = "yes"
      maxmemory           = var.redis_maxmemory
      # Sessions and bindings must not vanish under memory pressure: refuse writes instead.
      maxmemory_policy    = "noeviction"
      diskless_sync_delay = 5
      replica_priority    = 100
      replicaof           = node.replicaof
      # Unused until the template asks for them (see redis_min_replicas).
      min_replicas_to_write = local.redis_min_replicas.to_write
      min_replicas_max_lag  = local.redis_min_replicas.max_lag
    })}${local.redis_min_replicas_lines}"
  }

  sentinel_monitors = join("\n", [
    for shard in var.redis_shards : templatefile("${local.templates}/sentinel-monitor.conf.tmpl", {
      name                = shard.name
      host                = shard.master_ip
      port                = var.ports.redis
      quorum              = var.sentinel_quorum
      auth_pass           = local.marker.redis_sentinel
      down_after_ms       = var.sentinel_down_after_ms
      failover_timeout_ms = var.sentinel_failover_timeout_ms
    })
  ])

  sentinel_conf = templatefile("${local.templates}/sentinel.conf.tmpl", {
    bind     = "0.0.0.0"
    port     = var.ports.sentinel
    dir      = "/var/lib/redis"
    password = local.marker.sentinel
    monitors = local.sentinel_monitors
  })

  # Server lines as hn_datatier.agent.TwemproxyServer.line() writes them: named after the Sentinel
  # master, which ketama hashes, so the agent can change an address without moving a key. The
  # agent writes the real redis_auth over the marker at every start (HN_REDIS_PASSWORD).
  nutcracker_yml = templatefile("${local.templates}/nutcracker.yml.tmpl", {
    pool       = "highnoon"
    listen     = "0.0.0.0:${var.ports.twemproxy}"
    redis_auth = local.marker.redis_default
    timeout_ms = var.twemproxy_timeout_ms
    servers    = join("\n", [for shard in var.redis_shards : "   - ${shard.master_ip}:${var.ports.redis}:1 ${shard.name}"])
  })

  postgres_init = {
    for role, node in { primary = local.pg_nodes[0], replica = local.pg_nodes[1] } : role => templatefile("${path.module}/templates/postgres-init.sh.tftpl", {
      role             = role
      application_name = node.name
      volume_id        = role == "primary" ? var.pg_primary_volume_id : var.pg_replica_volume_id
      pg_major         = var.pg_major
      port             = var.ports.postgres
      primary_ip       = var.pg_primary_ip
      database         = var.pg_database
      app_user         = var.pg_app_user
      secrets          = local.secrets
      ssm              = local.ssm
      peer_ip          = role == "primary" ? var.pg_replica_ip : var.pg_primary_ip
      stanza           = local.stanza
    })
  }

  pgpool_init = templatefile("${path.module}/templates/pgpool-init.sh.tftpl", {
    app_user = var.pg_app_user
    secrets  = local.secrets
    ssm      = local.ssm
  })

  redis_init    = templatefile("${path.module}/templates/redis-init.sh.tftpl", { ssm = local.ssm })
  sentinel_init = templatefile("${path.module}/templates/sentinel-init.sh.tftpl", { ssm = local.ssm })

  base_packages = ["awscli", "curl", "ca-certificates"]

  # Prometheus exporters (Debian's), one per server as in hn_datatier.local's `Exporters`, with the
  # same custom queries (hn-datatier's templates): settings with a password marker, filled at boot
  # by exporter-init.sh into /etc/default/<exporter>. Both PostgreSQL exporters log in as hn_pgpool
  # (pg_monitor) over the local socket; the Redis one as the ACL user `monitor`.
  exporter_queries = {
    node   = file("${local.templates}/postgres-exporter-node.yml")
    pgpool = file("${local.templates}/postgres-exporter-pgpool.yml")
  }
  pg_exporter_defaults = {
    for kind, port in { node = var.ports.postgres, pgpool = var.ports.pgpool } : kind => join("\n", [
      "# Rendered by infra/terraform/modules/data-tier-config; the password is filled in at boot.",
      "DATA_SOURCE_NAME=\"host=/var/run/postgresql port=${port} user=hn_pgpool password=${local.marker.pgpool} dbname=postgres sslmode=disable\"",
      join(" ", concat(
        ["ARGS=\"--web.listen-address=:${var.exporter_ports.postgres_exporter}", "--extend.query-path=/etc/highnoon/exporter/queries.yml"],
        # Through Pgpool the default queries would describe whichever backend answered.
        kind == "pgpool" ? ["--disable-default-metrics", "--disable-settings-metrics", "--no-collector.database", "--no-collector.bgwriter\""] : ["--log.level=warn\""],
      )),
      "",
    ])
  }
  redis_exporter_defaults = join("\n", [
    "# Rendered by infra/terraform/modules/data-tier-config; the password is filled in at boot.",
    "REDIS_ADDR=\"redis://127.0.0.1:${var.ports.redis}\"",
    "REDIS_USER=\"monitor\"",
    "REDIS_PASSWORD=\"${local.marker.redis_monitor}\"",
    # CONFIG GET would show masterauth: the monitor user may not run it (redis.conf.tmpl).
    "ARGS=\"-web.listen-address=:${var.exporter_ports.redis_exporter} -config-command=-\"",
    "",
  ])
  exporter_init = {
    for exporter in ["prometheus-postgres-exporter", "prometheus-redis-exporter"] :
    exporter => templatefile("${path.module}/templates/exporter-init.sh.tftpl", { exporter = exporter, ssm = local.ssm })
  }
  exporter_files = merge(
    {
      # PostgreSQL nodes and Pgpool: the same exporter, their own settings and queries.
      for kind, queries in { postgres = "node", pgpool = "pgpool" } : kind => {
        packages                      = ["prometheus-postgres-exporter"]
        files = {
          "/etc/highnoon/exporter/prometheus-postgres-exporter" = local.pg_exporter_defaults[queries]
          "/etc/highnoon/exporter/queries.yml"                  = local.exporter_queries[queries]
          "/usr/local/lib/highnoon/exporter-init.sh"            = local.exporter_init["prometheus-postgres-exporter"]
        }
      }
    },
    {
      redis = {
        packages = ["prometheus-redis-exporter"]
        files = {
          "/etc/highnoon/exporter/prometheus-redis-exporter" = local.redis_exporter_defaults
          "/usr/local/lib/highnoon/exporter-init.sh"         = local.exporter_init["prometheus-redis-exporter"]
        }
      }
      none = { packages = [], files = {} }
  })
  # Which exporter each kind of host runs (Sentinels and Twemproxy hosts: none; the agent serves
  # its own metrics).
  exporter_of = { postgres_primary = "postgres", postgres_replica = "postgres", pgpool = "pgpool", sentinel = "none", redis = "redis" }

  role_files = {
    postgres_primary = {
      packages = concat(local.base_packages, ["postgresql-client-${var.pg_major}", "pgbackrest"])
      files = merge(local.pg_units, {
        "/etc/highnoon/postgres/highnoon.conf"     = local.postgresql_conf
        "/etc/highnoon/postgres/pg_hba.conf"       = local.pg_hba_conf
        "/etc/pgbackrest/pgbackrest.conf"          = local.pgbackrest_conf
        "/usr/local/lib/highnoon/pg-keeper.sh"     = local.pg_keeper["primary"]
        "/usr/local/lib/highnoon/pg-backup.sh"     = local.pg_backup
        "/usr/local/lib/highnoon/datatier-init.sh" = local.postgres_init["primary"]
      })
    }
    postgres_replica = {
      packages = concat(local.base_packages, ["postgresql-client-${var.pg_major}", "pgbackrest"])
      files = merge(local.pg_units, {
        "/etc/highnoon/postgres/highnoon.conf"     = local.postgresql_conf
        "/etc/highnoon/postgres/pg_hba.conf"       = local.pg_hba_conf
        "/etc/pgbackrest/pgbackrest.conf"          = local.pgbackrest_conf
        "/usr/local/lib/highnoon/pg-keeper.sh"     = local.pg_keeper["replica"]
        "/usr/local/lib/highnoon/pg-backup.sh"     = local.pg_backup
        "/usr/local/lib/highnoon/datatier-init.sh" = local.postgres_init["replica"]
      })
    }
    pgpool = {
      packages = concat(local.base_packages, ["pgpool2", "postgresql-client-${var.pg_major}"])
      files = {
        "/etc/highnoon/pgpool/pgpool.conf"         = local.pgpool_conf
        "/etc/highnoon/pgpool/pool_hba.conf"       = local.pool_hba_conf
        (local.failover_env)                       = local.failover_settings
        (local.failover_script)                    = file("${local.templates}/pg-failover.sh")
        (local.fence_script)                       = local.fence
        "/usr/local/lib/highnoon/datatier-init.sh" = local.pgpool_init
      }
    }
    sentinel = {
      packages = concat(local.base_packages, ["redis-sentinel"])
      files = {
        "/etc/highnoon/sentinel/sentinel.conf"     = local.sentinel_conf
        "/usr/local/lib/highnoon/datatier-init.sh" = local.sentinel_init
      }
    }
  }

  # Every data host boots the same way: packages, its files, then its init script once.
  cloud_config_docs = merge(
    {
      for role, spec in local.role_files : role => {
        packages = concat(spec.packages, local.exporter_files[local.exporter_of[role]].packages, module.logs.sender.packages)
        files    = merge(spec.files, local.exporter_files[local.exporter_of[role]].files, module.logs.sender.files)
        exporter = local.exporter_of[role] != "none"
      }
    },
    {
      for name, conf in local.redis_conf : "redis/${name}" => {
        packages = concat(local.base_packages, ["redis-server"], local.exporter_files["redis"].packages, module.logs.sender.packages)
        files = merge(
          {
            "/etc/highnoon/redis/redis.conf"           = conf
            "/usr/local/lib/highnoon/datatier-init.sh" = local.redis_init
          },
          local.exporter_files["redis"].files,
          module.logs.sender.files,
        )
        exporter = true
      }
    },
  )

  cloud_config = {
    for key, doc in local.cloud_config_docs : key => join("\n", ["#cloud-config", yamlencode({
      package_update = true
      packages       = doc.packages
      write_files = [
        for path in sort(keys(doc.files)) : {
          path        = path
          owner       = "root:root"
          permissions = length(regexall("\\.sh$", path)) > 0 ? "0755" : "0644"
          # Compressed: EC2 takes 16 KiB of user data, and Pgpool's files alone come near it.
          encoding = "gz+b64"
          content  = base64gzip(doc.files[path])
        }
      ]
      runcmd = concat(
        ["/usr/local/lib/highnoon/datatier-init.sh"],
        doc.exporter ? ["/usr/local/lib/highnoon/exporter-init.sh"] : [],
        module.logs.sender.commands,
      )
    })])
  }
}

# Twemproxy hosts run nutcracker as a child of the Sentinel agent (libs/hn-datatier's
# datatier.pex, module hn_datatier.agent), a PEX under systemd like any service.
module "agent" {
  source = "../pex-unit"

  service       = "twemproxy-agent"
  environment   = var.environment
  pex_version   = var.agent_pex_version
  pex_s3_uri    = var.agent_pex_s3_uri
  pex_sha256    = var.agent_pex_sha256
  pex_module    = "hn_datatier.agent"
  drain_seconds = 5
  # HN_REDIS_PASSWORD (Twemproxy's redis_auth, which the agent writes into nutcracker.yml) and
  # HN_SENTINEL_PASSWORD, from SSM at every start: never in the unit.
  ssm_env_paths = [var.redis_client_env_path, var.sentinel_client_env_path]
  env = {
    HN_SENTINELS                = join(",", [for ip in var.sentinel_ips : "${ip}:${var.ports.sentinel}"])
    HN_TWEMPROXY_CONFIG         = "/var/lib/highnoon/twemproxy-agent/nutcracker.yml"
    HN_TWEMPROXY_SUPERVISE      = "1"
    HN_NUTCRACKER_BIN           = "/usr/sbin/nutcracker"
    HN_TWEMPROXY_STATS_HOST     = "127.0.0.1"
    HN_TWEMPROXY_STATS_PORT     = "22222"
    HN_AGENT_RECONCILE_INTERVAL = "10"
    HN_METRICS_HOST             = "0.0.0.0"
    HN_METRICS_PORT             = tostring(var.ports.agent_metrics)
    HN_LOG_LEVEL                = "info"
  }
  # The first masters; the agent rewrites the file on every switch and reconciles it with the
  # Sentinels at start, so a host that boots after a failover still points at the right nodes.
  seed_files     = { "nutcracker.yml" = local.nutcracker_yml }
  extra_packages = ["nutcracker"]
  # Debian starts its own nutcracker on install, on the same port: the agent runs it instead.
  extra_commands = ["systemctl disable --now nutcracker.service"]
  # Debian's nutcracker logs to /var/log/nutcracker unless told otherwise.
  extra_unit_lines = ["LogsDirectory=nutcracker"]
  log_host         = var.log_host
}

# Every data host's journal to the log host (modules/log-shipping).
module "logs" {
  source   = "../log-shipping"
  log_host = var.log_host
}
