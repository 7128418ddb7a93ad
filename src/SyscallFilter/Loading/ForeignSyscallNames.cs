using System.Collections.Frozen;

namespace Sandbox.SyscallFilter.Loading;

/// <summary>
/// Syscall names that exist on other Linux architectures (i386, arm, arm64, s390x, ppc64, riscv) but not on
/// x86_64. Docker-style multi-architecture JSON profiles list them; OCI import skips them, as libseccomp does
/// for names the target architecture lacks. Any other unknown name is an error.
/// </summary>
internal static class ForeignSyscallNames
{
    internal static readonly FrozenSet<string> Names = new[]
    {
        // i386 and other 32-bit ABIs
        "_llseek", "_newselect", "bdflush", "break", "chown32", "fadvise64_64", "fchown32", "fcntl64", "fstat64",
        "fstatat64", "fstatfs64", "ftime", "ftruncate64", "getegid32", "geteuid32", "getgid32", "getgroups32",
        "getresgid32", "getresuid32", "getuid32", "gtty", "idle", "ipc", "lchown32", "lock", "lstat64", "mmap2", "mpx",
        "nice", "oldfstat", "oldlstat", "oldolduname", "oldstat", "olduname", "prof", "profil", "readdir",
        "sendfile64", "setfsgid32", "setfsuid32", "setgid32", "setgroups32", "setregid32", "setresgid32",
        "setresuid32", "setreuid32", "setuid32", "sgetmask", "sigaction", "signal", "sigpending", "sigprocmask",
        "sigreturn", "sigsuspend", "socketcall", "ssetmask", "stat64", "statfs64", "stime", "stty", "truncate64",
        "ugetrlimit", "ulimit", "umount", "vm86", "vm86old", "waitpid", "recv", "send",
        // 64-bit time variants of 32-bit ABIs
        "clock_adjtime64", "clock_getres_time64", "clock_gettime64", "clock_nanosleep_time64", "clock_settime64",
        "futex_time64", "io_pgetevents_time64", "mq_timedreceive_time64", "mq_timedsend_time64", "ppoll_time64",
        "pselect6_time64", "recvmmsg_time64", "rt_sigtimedwait_time64", "sched_rr_get_interval_time64",
        "semtimedop_time64", "timer_gettime64", "timer_settime64", "timerfd_gettime64", "timerfd_settime64",
        "utimensat_time64",
        // arm, arm64, s390x, ppc64, riscv
        "arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls", "usr26", "usr32",
        "sync_file_range2", "s390_guarded_storage", "s390_pci_mmio_read", "s390_pci_mmio_write",
        "s390_runtime_instr", "s390_sthyi", "riscv_flush_icache", "riscv_hwprobe", "spu_create", "spu_run",
        "subpage_prot", "switch_endian", "sys_debug_setcontext", "multiplexer", "rtas", "swapcontext",
        "pciconfig_iobase", "pciconfig_read", "pciconfig_write", "osf_getdomainname",
    }.ToFrozenSet(StringComparer.Ordinal);
}
