#!/bin/bash
# Bring the mini OpenStack (../shared/mini-openstack next to the repo) up or down for the real-cloud contract tests.
#   .ci/realcloud.sh up      # idempotent; then: . ../shared/mini-openstack/env.sh demo && pytest tests/contract
#   .ci/realcloud.sh down    # stops only what up.sh started; state is kept
#   .ci/realcloud.sh check   # the raw-client workflow (check.sh), ~20 s
# Can also be sourced: `. .ci/realcloud.sh; realcloud_up` (then OS_* for the demo user are exported).
# Without ../shared/mini-openstack it says so and succeeds, so CI just runs the simulator half of the suite.

_realcloud_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REALCLOUD_DIR="${REALCLOUD_DIR:-$_realcloud_root/../shared/mini-openstack}"

_realcloud_run() {  # name, script: run it, print how long it took, keep its exit code
  local name="$1" script="$2" t0 rc
  if [ ! -x "$REALCLOUD_DIR/$script" ]; then
    echo "realcloud: $REALCLOUD_DIR/$script not found; real-cloud tests will be skipped" >&2
    return 0
  fi
  t0=$(date +%s)
  if [ "$(id -u)" = 0 ]; then "$REALCLOUD_DIR/$script"; else sudo -n "$REALCLOUD_DIR/$script"; fi
  rc=$?
  echo "realcloud: $name took $(( $(date +%s) - t0 ))s (exit $rc)"
  return $rc
}

realcloud_up() {  # start (or confirm) the cloud and export the demo user's OS_* variables
  _realcloud_run up up.sh || return $?
  if [ -f "$REALCLOUD_DIR/env.sh" ]; then
    # shellcheck disable=SC1091
    . "$REALCLOUD_DIR/env.sh" demo
    export OS_ADMIN_USERNAME=admin OS_ADMIN_PASSWORD="$OS_PASSWORD" OS_ADMIN_PROJECT_NAME=admin
  fi
}

realcloud_down() {  # stop the cloud and forget the OS_* variables
  _realcloud_run down down.sh || return $?
  unset OS_AUTH_URL OS_ADMIN_USERNAME OS_ADMIN_PASSWORD OS_ADMIN_PROJECT_NAME
}

realcloud_check() {
  _realcloud_run check check.sh
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    up) realcloud_up ;;
    down) realcloud_down ;;
    check) realcloud_check ;;
    *) echo "usage: $0 up|down|check" >&2; exit 2 ;;
  esac
fi
