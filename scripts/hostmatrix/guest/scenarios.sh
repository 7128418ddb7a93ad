# The host-matrix scenarios, sourced by guest-main.sh inside the guest. Each scenario_NAME runs in a subshell with
# `set -e`; a check that does not hold prints "FAIL: what" and fails the scenario.
# The matrix is about the container tier on the host's systemd and cgroups, so every run vouches for its code
# (--trusted): untrusted code goes to a microVM, and this guest has neither QEMU nor a guest kernel.
# shellcheck shell=bash

fail() { echo "FAIL: $*"; return 1; }
# expect_exit CODE CMD...: runs CMD, shows its output, fails unless it exits CODE.
expect_exit() {
  local want=$1 rc=0; shift
  echo "\$ $*"
  "$@" > /tmp/cmd.out 2>&1 || rc=$?
  cat /tmp/cmd.out
  [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want"
}
# expect_failure CMD...: runs CMD, shows its output, fails unless it exits non-zero.
expect_failure() {
  local rc=0
  echo "\$ $*"
  "$@" > /tmp/cmd.out 2>&1 || rc=$?
  cat /tmp/cmd.out
  [ "$rc" != 0 ] || fail "'$*' succeeded, expected a failure"
}
# expect_stdout TEXT CMD...: runs CMD, fails unless it exits 0 with exactly TEXT on stdout.
expect_stdout() {
  local want=$1 rc=0 out; shift
  echo "\$ $*"
  out=$("$@" 2>/tmp/cmd.err) || rc=$?
  printf '%s\n' "$out"; cat /tmp/cmd.err
  [ "$rc" = 0 ] && [ "$out" = "$want" ] || fail "'$*' printed '$out' (exit $rc), expected '$want'"
}
# No process of any sandbox left: bwrap, the agent, or anything running as a per-sandbox uid (VMM jails from 200000,
# sandbox uid ranges far above). sandboxd keeps a warm pool while it runs (config/sandboxd.yaml: 2 containers of the
# default shape) in its cgroup tree (/sandboxd/sb-*): those stand by design; a process anywhere else, or more
# sandboxes there than the pool holds, is a leak. A claimed pooled sandbox is torn down just after its run answers,
# so the check gives that a few seconds.
pool_size=2
sandbox_processes_outside_pool() {
  local pid uid comm cg pooled="" n
  while read -r pid uid comm; do
    [ "$comm" = bwrap ] || [ "$comm" = sandbox-agent ] || [ "$uid" -ge 200000 ] || continue
    cg=$(head -1 "/proc/$pid/cgroup" 2>/dev/null | cut -d: -f3-) || continue
    if [ "$(systemctl is-active sandboxd.service)" = active ] && [[ $cg == /sandboxd/* || $cg == */sandboxd.service/* ]]; then
      pooled="$pooled $cg"
    else
      echo "$pid $uid $comm $cg"
    fi
  done < <(ps -eo pid=,uid=,comm=)
  n=$(for c in $pooled; do echo "$c" | grep -o 'sb-[0-9a-f]*'; done | sort -u | grep -c . || true)
  [ "$n" -le $pool_size ] || echo "$n sandboxes in sandboxd's cgroup, more than its warm pool of $pool_size"
}
assert_no_sandbox_processes() {
  local left i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    left=$(sandbox_processes_outside_pool)
    [ -n "$left" ] || return 0
    sleep 1
  done
  fail "sandbox processes left: $left"
}

scenario_install() {
  # The README: scripts/bootstrap.sh && scripts/install-service.sh. bootstrap.sh builds and installs the `sandbox`
  # command and the agent; here they come prebuilt (the guest has no .NET SDK), so its install step is done as is.
  cp -r /mnt/payload/src /root/sandbox
  mkdir -p /usr/local/lib/sandbox
  rm -rf /usr/local/lib/sandbox/agent && cp -r /root/sandbox/artifacts/agent /usr/local/lib/sandbox/agent
  install -m 0755 /root/sandbox/artifacts/cli/sandbox /usr/local/bin/sandbox
  local t0=$SECONDS
  /root/sandbox/scripts/install-service.sh
  echo "install-service.sh took $((SECONDS - t0)) s"
}

scenario_a_first_sandbox() {
  [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || fail "/sys/fs/cgroup is not the unified cgroup2 hierarchy"
  grep -q ' - cgroup ' /proc/self/mountinfo && fail "a cgroup v1 hierarchy is mounted"
  [ "$(systemctl is-active sandboxd.socket)" = active ] || fail "sandboxd.socket is not active"
  # Socket activation: with only the socket listening, the first request starts the service.
  systemctl stop sandboxd.service
  [ "$(systemctl is-active sandboxd.service)" != active ] || fail "sandboxd.service still active after stop"
  expect_stdout hi sandbox run --trusted -- echo hi
  [ "$(systemctl is-active sandboxd.service)" = active ] || fail "the request did not socket-activate sandboxd.service"
  # The sandbox's cgroup namespace is rooted at its own cgroup: "/" (a one-shot) or its exec's sub-cgroup (a run in a
  # pooled sandbox), never "/.." or the host's path.
  local cg
  cg=$(sandbox run --trusted -- cat /proc/self/cgroup)
  echo "a run's /proc/self/cgroup: $cg"
  [[ $cg =~ ^0::/(e[0-9a-f]+-[0-9]+)?$ ]] || fail "a run's /proc/self/cgroup is '$cg'"
  systemctl show sandboxd.service -p MainPID -p ControlGroup -p Delegate -p TriggeredBy
  sandbox doctor || true
}

scenario_a_limits() {
  expect_exit 123 sandbox run --trusted -m 32m -- tail /dev/zero
  # 16 background sleeps cannot all fork under --pids 8.
  expect_failure sandbox run --trusted --pids 8 -- sh -c 'for i in $(seq 16); do sleep 1 & done; wait'
  grep -qi fork /tmp/cmd.out || fail "the pids limit did not show as a failed fork"
  expect_exit 124 sandbox run --trusted --timeout 1s -- sleep 30
  assert_no_sandbox_processes
}

scenario_a_stop_deletes() {
  local id
  id=$(sandbox create --trusted)
  echo "created $id"
  expect_stdout inside sandbox exec "$id" -- echo inside
  local cg
  cg=$(sandbox exec "$id" -- cat /proc/self/cgroup)
  echo "an exec's /proc/self/cgroup: $cg"
  [[ $cg =~ ^0::/e[0-9a-f]+-[0-9]+$ ]] || fail "an exec's /proc/self/cgroup is '$cg'"
  expect_stdout 0::/agent sandbox exec "$id" -- cat /proc/1/cgroup
  find /sys/fs/cgroup -type d -name "*$id*"
  [ -n "$(find /sys/fs/cgroup -type d -name "*$id*")" ] || fail "no cgroup named after sandbox $id while it runs"
  systemctl stop sandboxd.service
  assert_no_sandbox_processes
  local left
  left=$(find /sys/fs/cgroup -type d -name "*$id*")
  [ -z "$left" ] || fail "cgroup left after systemctl stop: $left"
}

scenario_a_restart_reattaches() {
  local id
  id=$(sandbox create --trusted)
  echo "created $id"
  expect_exit 0 sandbox exec "$id" -- sh -c 'echo kept > /tmp/mark'
  systemctl restart sandboxd.service
  sandbox ps
  expect_stdout kept sandbox exec "$id" -- cat /tmp/mark
  expect_exit 0 sandbox rm "$id"
  assert_no_sandbox_processes
}

# A command run the way a privileged container runs: in a delegated cgroup of its own (systemd scope, DELEGATE), in
# a fresh cgroup namespace rooted there with a fresh cgroup2 mount, the shell itself still in the namespace root.
in_cgroup_container() {
  local delegate=$1 slice=$2; shift 2
  systemd-run --quiet --scope --slice="$slice" -p Delegate="$delegate" \
    unshare --cgroup --mount --propagation private sh -c 'umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$@"' sh "$@"
}

scenario_b_cgroupns_root() {
  # Precondition: inside, the shell sits in the namespace root and the root holds processes.
  expect_stdout '0::/' in_cgroup_container yes hostmatrix-b.slice cat /proc/self/cgroup
  in_cgroup_container yes hostmatrix-b.slice sh -c 'echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers); root procs: $(wc -l < /sys/fs/cgroup/cgroup.procs)"'
  expect_stdout hi in_cgroup_container yes hostmatrix-b.slice sandbox run --local --trusted -- echo hi
  expect_stdout 0::/ in_cgroup_container yes hostmatrix-b.slice sandbox run --local --trusted -- cat /proc/self/cgroup
  if [ "${HOSTMATRIX_MODE:-smoke}" = full ]; then
    expect_exit 123 in_cgroup_container yes hostmatrix-b.slice sandbox run --local --trusted -m 32m -- tail /dev/zero
  fi
  assert_no_sandbox_processes
}

scenario_c_delegated_without_cpu() {
  local doctor
  in_cgroup_container "memory pids" hostmatrix-c.slice sh -c 'echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"' | tee /tmp/controllers
  grep -qw cpu /tmp/controllers && fail "precondition: the delegated subtree has the cpu controller"
  doctor=$(in_cgroup_container "memory pids" hostmatrix-c.slice sandbox doctor 2>&1 || true)
  printf '%s\n' "$doctor"
  expect_stdout hi in_cgroup_container "memory pids" hostmatrix-c.slice sandbox run --local --trusted -m 64m -- echo hi
  expect_exit 123 in_cgroup_container "memory pids" hostmatrix-c.slice sandbox run --local --trusted -m 32m -- tail /dev/zero
  # A CPU quota cannot be enforced here: it must be refused with a reason naming cpu, and doctor must say so.
  expect_exit 125 in_cgroup_container "memory pids" hostmatrix-c.slice sandbox run --local --trusted --cpus 0.5 -- echo hi
  grep -qi cpu /tmp/cmd.out || fail "--cpus refused without naming the missing cpu controller"
  printf '%s\n' "$doctor" | awk '/cgroups/,/seccomp/' | grep -qi cpu || fail "sandbox doctor's cgroups row does not mention the missing cpu controller"
  assert_no_sandbox_processes
}
