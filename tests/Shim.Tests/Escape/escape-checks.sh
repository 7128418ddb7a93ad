#!/bin/sh
# The escape suite's checks (tests/E2E/EscapeTests.cs) that busybox's shell can express, run inside a shim-run
# container. One line per check: "PASS name" or "FAIL name: what happened". Arguments: a host file's path and its
# secret content, a host pid, a host loopback port that listens.
secret_path=$1 secret=$2 host_pid=$3 host_port=$4
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if cat "$secret_path" 2>/dev/null | grep -q "$secret"; then fail host-files "read $secret_path"; else pass host-files; fi
if cat /etc/shadow 2>/dev/null | grep -q root; then fail host-shadow "read /etc/shadow"; else pass host-shadow; fi
n=$(ls /proc | grep -c '^[0-9]')
if [ "$n" -le 10 ]; then pass host-processes; else fail host-processes "$n pids visible"; fi
if kill -0 "$host_pid" 2>/dev/null; then fail signal-host "kill -0 $host_pid succeeded"; else pass signal-host; fi
if mount -t tmpfs none /tmp 2>/dev/null; then fail mount "mounted a tmpfs"; else pass mount; fi
if unshare -U -r true 2>/dev/null; then fail userns "unshare -U -r succeeded"; else pass userns; fi
if chroot / true 2>/dev/null; then fail chroot "chroot succeeded"; else pass chroot; fi
if hostname pwned 2>/dev/null; then fail sethostname "hostname changed"; else pass sethostname; fi
if (echo pwned > /proc/sys/kernel/hostname) 2>/dev/null; then fail proc-sys "wrote /proc/sys/kernel/hostname"; else pass proc-sys; fi
if (echo 1 > /proc/sysrq-trigger) 2>/dev/null; then fail sysrq "wrote /proc/sysrq-trigger"; else pass sysrq; fi
devs=$(ls /dev | grep -E '^(kvm|mem|kmem|port|sd|vd|nvme|loop)' | tr '\n' ' ')
if [ -z "$devs" ]; then pass host-devices; else fail host-devices "$devs"; fi
ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')
if [ "$ifaces" = "lo " ]; then pass only-loopback; else fail only-loopback "interfaces: $ifaces"; fi
if nc -w 2 127.0.0.1 "$host_port" </dev/null 2>/dev/null; then fail host-network "reached the host's 127.0.0.1:$host_port"; else pass host-network; fi
if (echo x > /proc/self/exe) 2>/dev/null; then fail proc-self-exe "overwrote /proc/self/exe"; else pass proc-self-exe; fi
if touch /bin/newfile 2>/dev/null || (echo x >> /bin/busybox) 2>/dev/null; then fail read-only-root "wrote into /bin"; else pass read-only-root; fi
status=$(grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t ' ' ' | tr '\n' ';')
case "$status" in
  *"CapPrm: 0000000000000000;CapEff: 0000000000000000;CapBnd: 0000000000000000;"*"NoNewPrivs: 1;Seccomp: 2;"*) pass no-privileges ;;
  *) fail no-privileges "$status" ;;
esac
if head -c 1 /proc/kcore >/dev/null 2>&1; then fail kcore "read /proc/kcore"; else pass kcore; fi
if ls /sys/kernel >/dev/null 2>&1; then fail sys "listed /sys/kernel"; else pass sys; fi
fds=$(ls /proc/self/fd | tr '\n' ' ')
if [ "$fds" = "0 1 2 3 " ]; then pass no-inherited-fds; else fail no-inherited-fds "fds: $fds"; fi
