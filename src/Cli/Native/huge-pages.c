// Before anything else in the `sandbox` process runs (a constructor, linked into the NativeAOT binary by
// Sandbox.Cli.csproj): the 2 MiB-aligned interiors of the binary's code and data segments are moved onto transparent
// huge pages. Why (README "Benchmarks", docs/architecture.md "CLI start-up"): this host is a VM where the first touch
// of every 4 KiB page costs 10-20 us (a guest page fault, and the hypervisor's own work behind it even for a page
// already mapped); a `sandbox run` touches some 600 of them, ~25 % of its CPU. One 2 MiB page is one such cost for
// 512. The copy (pread from /proc/self/exe into fresh huge pages, then mremap over the file's pages) costs ~1 ms per
// 4 MiB, so only commands that do real work get it (not `--version` or help), and SANDBOX_CLI_HUGE_PAGES=0 turns it off
// (profilers: code on anonymous pages has no file to take symbols from). Anything that fails leaves the file's
// pages as they were. The contents are the file's: it runs before any code writes the data segment (priority 101 runs
// before the runtime's own constructors; the dynamic loader's relocations are all in .got, below the first 2 MiB
// boundary of the data segment).
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE (2UL << 20)

// Whether the dynamic loader wrote anywhere in [start, end) of this fixed-address image: such pages hold more than the
// file's bytes, so they must stay. (For this binary every relocation is in .got; a C library linked in later might add
// some in .data.)
static int relocated(const ElfW(Dyn) *dynamic, uintptr_t start, uintptr_t end)
{
    const ElfW(Rela) *tables[2] = {NULL, NULL};
    size_t sizes[2] = {0, 0};
    for (const ElfW(Dyn) *d = dynamic; d->d_tag != DT_NULL; d++)
    {
        switch (d->d_tag)
        {
        case DT_RELA: tables[0] = (const ElfW(Rela) *)d->d_un.d_ptr; break;
        case DT_RELASZ: sizes[0] = d->d_un.d_val; break;
        case DT_JMPREL: tables[1] = (const ElfW(Rela) *)d->d_un.d_ptr; break;
        case DT_PLTRELSZ: sizes[1] = d->d_un.d_val; break;
        case DT_REL: return 1; // not used on x86-64; if it ever is, be safe
        }
    }
    for (int t = 0; t < 2; t++)
    {
        for (size_t i = 0; tables[t] != NULL && i < sizes[t] / sizeof(ElfW(Rela)); i++)
        {
            if (tables[t][i].r_offset + sizeof(ElfW(Addr)) > start && tables[t][i].r_offset < end)
                return 1;
        }
    }
    return 0;
}

// Copies [start, end) of the running image (file offset = address - delta) onto huge pages, over the old pages.
// Only the 2 MiB-aligned interior [start, end) is copied; with a dynamic section given, not if the loader wrote there.
static void move_to_huge_pages(int fd, uintptr_t start, uintptr_t end, uintptr_t delta, int prot, const ElfW(Dyn) *dynamic)
{
    start = (start + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    end &= ~(HUGE_PAGE - 1);
    if (end <= start || (dynamic != NULL && relocated(dynamic, start, end)))
        return;
    size_t length = end - start;
    char *raw = mmap(NULL, length + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return;
    char *copy = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
    // The unaligned head and tail of the reservation are not needed.
    if (copy > raw)
        munmap(raw, (size_t)(copy - raw));
    munmap(copy + length, (size_t)(raw + HUGE_PAGE - copy));
    if (madvise(copy, length, MADV_HUGEPAGE) != 0)
        goto fail;
    for (size_t done = 0; done < length;)
    {
        ssize_t n = pread(fd, copy + done, length - done, (off_t)(start - delta + done));
        if (n <= 0)
            goto fail;
        done += (size_t)n;
    }
    if (mprotect(copy, length, prot) != 0 || mremap(copy, length, length, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)start) == MAP_FAILED)
        goto fail;
    return;
fail:
    munmap(copy, length);
}

// Whether transparent huge pages can be had by asking (madvise or always): with "never" the copy would buy nothing.
static int huge_pages_offered(void)
{
    char mode[64] = {0};
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, mode, sizeof mode - 1);
    close(fd);
    return n > 0 && strstr(mode, "[never]") == NULL;
}

__attribute__((constructor(101))) static void sandbox_huge_pages(int argc, char **argv, char **envp)
{
    (void)envp;
    // `sandbox`, `sandbox --version`, `sandbox --help`: a short answer, not worth the copy.
    if (argc < 2 || argv[1][0] == '-')
        return;
    const char *setting = getenv("SANDBOX_CLI_HUGE_PAGES");
    if (setting != NULL && strcmp(setting, "0") == 0)
        return;
    if (!huge_pages_offered())
        return;
    const ElfW(Phdr) *headers = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    size_t count = getauxval(AT_PHNUM);
    // The load bias: 0 for this fixed-address binary, the base address if it were ever linked position-independent
    // (then its data segment is full of the loader's relocations and stays as it is).
    uintptr_t bias = 0;
    const ElfW(Dyn) *dynamic = NULL;
    for (size_t i = 0; i < count; i++)
    {
        if (headers[i].p_type == PT_PHDR)
            bias = (uintptr_t)headers - headers[i].p_vaddr;
    }
    for (size_t i = 0; i < count; i++)
    {
        if (headers[i].p_type == PT_DYNAMIC)
            dynamic = (const ElfW(Dyn) *)(bias + headers[i].p_vaddr);
    }
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    for (size_t i = 0; i < count; i++)
    {
        const ElfW(Phdr) *h = &headers[i];
        if (h->p_type != PT_LOAD)
            continue;
        // Code and data; read-only data (type metadata, strings) measured no better with it than without.
        if (h->p_flags & PF_X)
            move_to_huge_pages(fd, bias + h->p_vaddr, bias + h->p_vaddr + h->p_filesz, bias + h->p_vaddr - h->p_offset, PROT_READ | PROT_EXEC, NULL);
        else if ((h->p_flags & PF_W) && bias == 0 && dynamic != NULL)
            move_to_huge_pages(fd, h->p_vaddr, h->p_vaddr + h->p_filesz, h->p_vaddr - h->p_offset, PROT_READ | PROT_WRITE, dynamic);
    }
    close(fd);
}
