// SPDX-License-Identifier: GPL-2.0
/*
 * /init of the oracle's initramfs, built with the kernel's tools/include/nolibc.
 *
 * Mounts proc, sysfs and debugfs; pins itself to the CPU it runs on (the host holds
 * every other vCPU while the kernel walks its page tables for the dump, and a task
 * that moved to a held CPU would never finish the walk); with lmo_probe=PA (or lmo_probe=swiotlb, the start
 * of the swiotlb pool as the kernel log gives it) reads that physical page through an
 * mmap of /dev/mem in a child process and reports how the child ended; prints the
 * kernel's page-table dump and WARN count between markers the host looks for; says it
 * reached userspace; then, as the kernel command line asks
 * (lmo_end=wait|poweroff|reboot|hang), waits to be stopped, powers off, restarts, or
 * spins forever without saying anything (used by the harness's own hang tests).
 *
 * The marker strings are part of the host protocol: linux-harness/src/console.rs.
 */
#include "nolibc.h"

static char buf[65536];

static void put(const char *s)
{
	write(1, s, strlen(s));
}

/* Copy a whole file to the console; returns 0 on success. */
static int cat(const char *path)
{
	int fd = open(path, O_RDONLY, 0);
	ssize_t n;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		write(1, buf, n);
	close(fd);
	return 0;
}

/* The value of KEY= on /proc/cmdline, copied into out (empty when absent). */
static void cmdline_value(const char *key, char *out, size_t outlen)
{
	static char cmd[4096];
	size_t klen = strlen(key);
	ssize_t n;
	char *p;
	int fd;

	out[0] = 0;
	fd = open("/proc/cmdline", O_RDONLY, 0);
	if (fd < 0)
		return;
	n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return;
	cmd[n] = 0;
	for (p = cmd; *p; ) {
		while (*p == ' ' || *p == '\n')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			size_t i = 0;

			p += klen + 1;
			while (*p && *p != ' ' && *p != '\n' && i + 1 < outlen)
				out[i++] = *p++;
			out[i] = 0;
		}
		while (*p && *p != ' ')
			p++;
	}
}

/* Parses "0x..." into *out; returns 0 on success. */
static int parse_hex(const char *s, unsigned long *out)
{
	unsigned long v = 0;

	if (s[0] != '0' || s[1] != 'x' || !s[2])
		return -1;
	for (s += 2; *s; s++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0' :
			*s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	*out = v;
	return 0;
}

/* strstr(), which nolibc has only from 6.13 on (Linux 6.12 builds this /init too). */
static char *find_text(char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (!strncmp(hay, needle, n))
			return hay;
	return NULL;
}

/* The swiotlb pool's start from "software IO TLB: mapped [mem 0x...-" in the log. */
static int swiotlb_start(unsigned long *out)
{
	static const char key[] = "software IO TLB: mapped [mem ";
	char rec[1024];
	ssize_t n;
	int fd;

	mknod("/dev/kmsg", S_IFCHR | 0600, (1 << 8) | 11);
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0) {
		char *p, *q;

		rec[n] = 0;
		p = find_text(rec, key);
		if (!p)
			continue;
		p += sizeof(key) - 1;
		q = strchr(p, '-');
		if (q)
			*q = 0;
		close(fd);
		return parse_hex(p, out);
	}
	close(fd);
	return -1;
}

static void put_hex(unsigned long v)
{
	char s[19];
	int i;

	s[0] = '0';
	s[1] = 'x';
	for (i = 0; i < 16; i++)
		s[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
	s[18] = 0;
	put(s);
}

/*
 * Reads the page at physical address `pa` through /dev/mem in a child and prints
 * "LMO-PROBE: pa=0x... read 0x..." or "LMO-PROBE: pa=0x... signal N".
 */
static void probe(const char *what)
{
	unsigned long pa;
	int status = 0;
	pid_t pid;

	if (!strcmp(what, "swiotlb") ? swiotlb_start(&pa) : parse_hex(what, &pa)) {
		put("LMO-PROBE: cannot find the address to read\n");
		return;
	}
	mknod("/dev/mem", S_IFCHR | 0600, (1 << 8) | 1);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/mem", O_RDONLY, 0);
		volatile unsigned long *p;

		if (fd < 0)
			exit(100);
		p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, pa & ~4095UL);
		if (p == MAP_FAILED)
			exit(101);
		put("LMO-PROBE: pa=");
		put_hex(pa);
		put(" read ");
		put_hex(p[(pa & 4095) / sizeof(*p)]);
		put("\n");
		exit(0);
	}
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status)) {
		char n[4] = { '0' + WTERMSIG(status) / 10, '0' + WTERMSIG(status) % 10, '\n', 0 };

		put("LMO-PROBE: pa=");
		put_hex(pa);
		put(" signal ");
		put(n);
	} else if (WEXITSTATUS(status)) {
		put("LMO-PROBE: /dev/mem could not be opened or mapped\n");
	}
}

/*
 * Pins this process to the CPU it is running on: the kernel's ptdump walk then runs
 * there from start to end, whatever the scheduler would rather do.
 */
static void pin_to_this_cpu(void)
{
	unsigned int cpu = 0;
	unsigned long mask[4] = { 0 };

	if (syscall(__NR_getcpu, &cpu, NULL, NULL) < 0 || cpu >= 8 * sizeof(mask)) {
		put("LMO-ERROR: getcpu failed\n");
		return;
	}
	mask[cpu / (8 * sizeof(mask[0]))] = 1UL << (cpu % (8 * sizeof(mask[0])));
	if (syscall(__NR_sched_setaffinity, 0, sizeof(mask), mask) < 0)
		put("LMO-ERROR: sched_setaffinity failed\n");
}

int main(void)
{
	char end[32];
	char what[32];

	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);

	cmdline_value("lmo_end", end, sizeof(end));
	if (!strcmp(end, "hang"))
		for (;;)
			;

	cmdline_value("lmo_probe", what, sizeof(what));
	if (what[0])
		probe(what);

	pin_to_this_cpu();
	put("\n==== LMO-PTDUMP-BEGIN ====\n");
	if (cat("/sys/kernel/debug/kernel_page_tables"))
		put("LMO-ERROR: cannot read /sys/kernel/debug/kernel_page_tables\n");
	put("==== LMO-PTDUMP-END ====\n");

	put("LMO-WARN-COUNT: ");
	if (cat("/sys/kernel/warn_count"))
		put("unknown\n");
	put("==== LMO-USERSPACE-REACHED ====\n");

	if (!strcmp(end, "poweroff"))
		reboot(LINUX_REBOOT_CMD_POWER_OFF);
	if (!strcmp(end, "reboot"))
		reboot(LINUX_REBOOT_CMD_RESTART);
	for (;;)
		sleep(3600);
	return 0;
}
