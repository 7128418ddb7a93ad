#!/usr/bin/env python3
"""Where a plain TCG boot's freeing of init memory goes, by the guest's own clock: boots each VMLINUX with
initcall_debug and printk.time (busybox /init, the tier's tuned command line), round robin, and prints the time from
the last initcall to "Freeing unused kernel image (initmem)", the initrd's unpacking and freeing, and the text/rodata
gaps' freeing. Usage: bench/microvm-kernel/init-free-times.py ROUNDS VMLINUX..."""
import os, re, shutil, subprocess, sys
import plain_initrd

initrd = plain_initrd.build()
try:
    for r in range(int(sys.argv[1])):
        for vmlinux in sys.argv[2:]:
            cmdline = (plain_initrd.base_cmdline().replace(" quiet", "") +
                       " noreplace-smp no_timer_check DUMP=1 initcall_debug printk.time=1 log_buf_len=1M")
            out = subprocess.run(plain_initrd.qemu_argv(vmlinux, initrd, cmdline), capture_output=True, text=True, timeout=300).stdout
            log = out[out.index("plain-ready"):]  # the dmesg the init prints after its line

            def at(pattern):
                return float(re.search(r"\[\s*([0-9.]+)\] " + pattern, log).group(1))

            last = [float(m.group(1)) for m in re.finditer(r"\[\s*([0-9.]+)\] initcall .* returned", log)][-1]
            print(f"{vmlinux}: last initcall at {last:.3f} s; initmem freed {at('Freeing unused kernel image .initmem') - last:.3f} s later; "
                  f"initrd unpacked and freed in {at('Freeing initrd') - at('Unpacking'):.3f} s; gaps freed in "
                  f"{at('Freeing unused kernel image .rodata/data') - at('Freeing unused kernel image .initmem'):.3f} s; "
                  f"/init at {at('Run /init'):.3f} s; load {open('/proc/loadavg').read().split()[0]}", flush=True)
finally:
    shutil.rmtree(os.path.dirname(initrd))
