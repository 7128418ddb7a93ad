#!/bin/sh
# Measures what the strict profile breaks: runs every workload in workloads.sh, then other common programs that were
# not part of the derivation, once under `default` and once under `strict`, in real sandboxes
# (`sandbox run --local`), and prints one line each: NAME  default=EXIT  strict=EXIT  [strict's stderr tail].
# Usage: measure_strict.sh [SANDBOX_CLI]   (default: the `sandbox` on PATH; a CLI built from this tree, so that
#        it embeds these profiles, e.g. `dotnet build src/Cli -o DIR` then DIR/sandbox)
cli=${1:-sandbox}
here=$(dirname "$0")
others() {
cat <<'EOF'
timeout	timeout 2 sleep 0.1; echo $?
tail-follow	timeout 1 tail -f /etc/hostname; echo $?
cp-archive	mkdir -p /tmp/s && echo x > /tmp/s/f && cp -a /tmp/s /tmp/t && ls /tmp/t
mkfifo	mkfifo /tmp/p && echo made
flock	touch /tmp/l && flock /tmp/l true && echo locked
ps	ps -e | wc -l
df	df /tmp | tail -1 | wc -l
nproc	nproc
sort-parallel	seq 100000 | sort -R --parallel=2 | sort -n | tail -1
xargs-parallel	seq 8 | xargs -P 4 -n 1 echo | wc -l
find-exec	find /usr/share/doc -maxdepth 1 -name "a*" -exec basename {} \; | wc -l
python-venv	/usr/bin/python3 -m venv /tmp/venv && /tmp/venv/bin/python -c "import sys; print(sys.prefix)"
python-mmap	/usr/bin/python3 -c 'import mmap; m=mmap.mmap(-1, 4096); m.write(b"x"); m.flush(); print(len(m))'
python-shm	/usr/bin/python3 -c 'from multiprocessing import shared_memory as s; m=s.SharedMemory(create=True, size=64); m.close(); m.unlink(); print("shm")'
python-resolver	/usr/bin/python3 -c 'import socket; print(socket.gethostbyname("localhost"))'
node-watch	node -e 'const w=require("fs").watch("/tmp"); w.close(); console.log("watch")'
npm	npm --version
openssl	echo x | openssl dgst -sha256 | wc -c
java	java -version 2>&1 | head -1
EOF
}
{ "$here/workloads.sh"; others; } | while IFS='	' read -r name command; do
    d=$("$cli" run --local --profile default -- /bin/sh -c "$command" </dev/null >/dev/null 2>&1; echo $?)
    err=$("$cli" run --local --profile strict -- /bin/sh -c "$command" </dev/null 2>&1 >/dev/null)
    s=$?
    tail=""
    if [ "$s" != 0 ] || [ "$d" != 0 ]; then tail=$(printf '%s' "$err" | tail -c 160 | tr '\n' ' '); fi
    printf '%-24s default=%-4s strict=%-4s %s\n' "$name" "$d" "$s" "$tail"
done
