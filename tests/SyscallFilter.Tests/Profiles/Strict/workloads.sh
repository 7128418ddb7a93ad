#!/bin/sh
# The workloads the strict profile is derived from and measured against: what users run in a strict sandbox
# (python3, node, sh with coreutils, gcc compile + run), no network. Each workload is one line:
#   NAME<TAB>COMMAND (run as /bin/sh -c COMMAND inside the sandbox, working directory /work, writable /tmp).
# trace_strict.py runs each under strace (with the default profile, so nothing is refused that would send a
# program down a fallback path) and measure_strict.sh runs each under strict and reports what fails.
cat <<'EOF'
python-print	/usr/bin/python3 -c 'print(sum(range(10)))'
python-stdlib	/usr/bin/python3 -c 'import json,re,os,sys,hashlib,base64,datetime,collections,itertools,math,random,zlib,uuid,locale,pathlib,shutil,tempfile; p=pathlib.Path("/tmp/a.json"); p.write_text(json.dumps({"a":[1,2,3]})); shutil.copy(p,"/tmp/b.json"); print(json.loads(pathlib.Path("/tmp/b.json").read_text()), hashlib.sha256(b"x").hexdigest()[:8], len(os.listdir("/usr/lib")), tempfile.mkdtemp())'
python-subprocess	/usr/bin/python3 -c 'import subprocess; print(subprocess.run(["ls","/"],capture_output=True,text=True).stdout.split()[:2]); print(subprocess.check_output("echo hi | tr a-z A-Z", shell=True))'
python-threads	/usr/bin/python3 -c 'import threading,queue,time; q=queue.Queue(); ts=[threading.Thread(target=lambda i=i: (time.sleep(0.01), q.put(i))) for i in range(8)]; [t.start() for t in ts]; [t.join() for t in ts]; print(sorted(q.get() for _ in ts))'
python-multiprocessing	/usr/bin/python3 -c 'import multiprocessing as mp; q=mp.Queue(); l=mp.Lock(); pool=mp.Pool(2); print(pool.map(abs, [-1, -2, 3])); pool.close(); pool.join()'
python-asyncio	/usr/bin/python3 -c "$(printf 'import asyncio\nasync def m(): p = await asyncio.create_subprocess_exec("echo", "sub", stdout=-1); o, _ = await p.communicate(); await asyncio.sleep(0.01); print(o)\nasyncio.run(m())')"
python-sqlite	/usr/bin/python3 -c 'import sqlite3; c=sqlite3.connect("/tmp/db.sqlite"); c.execute("create table t(x)"); c.executemany("insert into t values (?)", [(i,) for i in range(100)]); c.commit(); print(c.execute("select sum(x) from t").fetchone())'
python-signals	/usr/bin/python3 -c 'import signal,os,time; signal.signal(signal.SIGUSR1, lambda *a: print("got")); os.kill(os.getpid(), signal.SIGUSR1); signal.alarm(0); print(os.getuid(), os.cpu_count(), time.monotonic() > 0)'
node-print	node -e 'console.log(1 + 1)'
node-fs-crypto	node -e 'const fs=require("fs"),c=require("crypto"),z=require("zlib"),os=require("os"); fs.writeFileSync("/tmp/n.txt","hello"); console.log(fs.readFileSync("/tmp/n.txt","utf8"), c.createHash("sha256").update("x").digest("hex").slice(0,8), z.gzipSync("aaaa").length, os.cpus().length > 0, fs.readdirSync("/usr").length)'
node-child	node -e 'const cp=require("child_process"); console.log(cp.execSync("echo hi").toString().trim()); cp.exec("ls /", (e,o)=>console.log(e?e.message:o.split("\n")[0]))'
node-async	node -e 'const {Worker}=require("worker_threads"); setTimeout(()=>console.log("timer"),10); Promise.resolve(2).then(console.log); new Worker("require(\"worker_threads\").parentPort.postMessage(7)",{eval:true}).on("message",m=>console.log("worker",m)); require("fs").promises.readFile("/etc/hostname","utf8").then(s=>console.log(s.length>=0))'
sh-coreutils	set -e; mkdir -p /tmp/d/e; cd /tmp/d; echo "b a c" | tr " " "\n" | sort | uniq -c | wc -l; printf "x\ny\n" > f; cat f | grep y | sed s/y/z/; awk "BEGIN{print 6*7}"; cp f g; mv g h; ln -s h l; readlink l; chmod 600 h; touch -d "2020-01-01" h; ls -la >/dev/null; du -s . >/dev/null; find /usr/lib -maxdepth 1 -name "*.so*" | head -1 >/dev/null; date +%Y >/dev/null; head -c 100 /dev/urandom | od -An | head -1 >/dev/null; tar czf /tmp/t.tgz -C /tmp d; tar tzf /tmp/t.tgz | wc -l; gzip -c f | gunzip; id -u; env | wc -l >/dev/null; basename /a/b; sleep 0.01; rm -rf /tmp/d; echo done
sh-jobs	sleep 5 & p=$!; kill $p; wait $p; echo "status $?"; trap "echo trapped" USR1; kill -USR1 $$; (cd /tmp && pwd); x=$(echo sub); echo $x; printf "%s\n" a b | while read -r v; do echo "<$v>"; done
bash-features	bash -c 'declare -A m=([k]=v); echo ${m[k]}; for i in {1..3}; do echo $i; done | paste -sd+ | bc 2>/dev/null || true; read -r l < /etc/hostname; [[ -n x ]] && echo ok; ulimit -n; echo $((2**10))'
gcc-run	cd /tmp && printf "#include <stdio.h>\n#include <math.h>\n#include <pthread.h>\nstatic void *f(void *a){return a;}\nint main(void){pthread_t t; void *r; pthread_create(&t,0,f,(void*)42); pthread_join(t,&r); printf(\"%%d %%.1f\\\\n\",(int)(long)r,sqrt(16.0)); return 0;}\n" > h.c && gcc -O2 -o h h.c -lm -lpthread && ./h
gxx-run	cd /tmp && printf "#include <iostream>\n#include <vector>\n#include <thread>\nint main(){std::vector<int> v{1,2,3}; std::thread t([&]{v.push_back(4);}); t.join(); std::cout << v.size() << std::endl;}\n" > c.cc && g++ -O1 -o c c.cc && ./c
make-build	cd /tmp && mkdir -p mk && cd mk && printf "all: out\nout: in\n\tcp in out\n" > Makefile && echo x > in && make -s && cat out
perl-script	perl -e 'use strict; my %h=(a=>1); opendir(my $d,"/usr"); my @e=readdir($d); print scalar(keys %h), " ", (@e>0), "\n"'
git-local	cd /tmp && git init -q r && cd r && git config user.email a@b && git config user.name a && echo x > f && git add f && git commit -qm m && git log --oneline | wc -l
EOF
