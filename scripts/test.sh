#!/usr/bin/env bash
# The project's test command (README, and .ci/run on a clean clone): installs what is missing,
# then lints, type-checks the libraries, runs every test, and smoke-tests every PEX.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-system-packages.sh
./pants --version >/dev/null  # bootstraps Pants offline on first use

./pants lint ::
# Known vulnerabilities in the pinned requirements (online services, else the vendored PyPA advisories)
# and in the npm lockfiles (the registry; NOT AUDITED, not a failure, when it does not answer).
scripts/audit-dependencies.sh
scripts/check-terraform.sh
# Type-check the shipped code: libraries, services, clients, tools (tests are exercised by running them).
./pants --filter-address-regex='^(libs|clients|services|tools)/[^/]+(/[^/]+)?/src' check libs:: clients:: services:: tools::
./pants --tag=-cluster test ::
# Whole-cluster tests (hn up under 1,000 bots, autoscaling, chaos) one at a time: two clusters at
# once starve a 2-core machine and fail on timeouts that are not the code's.
./pants --tag=cluster --process-execution-local-parallelism=1 test ::
scripts/smoke-pex.sh
