#!/bin/bash
# Runs inside the host-matrix guest (started by hostmatrix-payload.service, output on the serial console): installs
# the project from the payload disk as the README says, then runs the scenarios of the chosen mode (smoke or full).
# Result lines: "@@hostmatrix pass NAME", "@@hostmatrix fail NAME: why"; "@@hostmatrix done" at the end.
set -u
exec 2>&1
payload=/mnt/payload
echo "@@hostmatrix booted: uptime $(cut -d' ' -f1 /proc/uptime) s, $(systemctl --version | head -1), cgroup fs $(stat -fc %T /sys/fs/cgroup)"
# shellcheck source=scenarios.sh
. "$payload/scenarios.sh"
mode=$(cat "$payload/mode")
export HOSTMATRIX_MODE=$mode

scenario() {
  local name=$1 rc
  echo "@@hostmatrix begin $name"
  ( set -eE; trap 'echo "FAIL: \"$BASH_COMMAND\" exited $?"' ERR; "scenario_$name" ) > /tmp/scenario.log 2>&1
  rc=$?
  sed 's/^/    | /' /tmp/scenario.log
  if [ $rc = 0 ]; then
    echo "@@hostmatrix pass $name"
  else
    echo "@@hostmatrix fail $name: $(grep '^FAIL: ' /tmp/scenario.log | head -1 | cut -c7-)"
  fi
  return $rc
}

# Scenarios are called as plain commands (not in if/&&/||), where bash would ignore their set -e. Each checks its
# own preconditions, so all run even when an earlier one failed (install fails on its first sandbox alone too).
scenario install
scenario a_first_sandbox
if [ "$mode" = full ]; then
  scenario a_limits
  scenario a_stop_deletes
  scenario a_restart_reattaches
fi
scenario b_cgroupns_root
if [ "$mode" = full ]; then
  scenario c_delegated_without_cpu
fi
echo "@@hostmatrix done: uptime $(cut -d' ' -f1 /proc/uptime) s"
# The root disk is a throwaway snapshot: power off at once rather than through a full shutdown.
sync
systemctl poweroff --force --force
