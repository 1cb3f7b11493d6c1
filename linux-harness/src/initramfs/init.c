// SPDX-License-Identifier: GPL-2.0
/*
 * /init of the oracle's initramfs, built with the kernel's tools/include/nolibc.
 *
 * Mounts proc, sysfs and debugfs; prints the kernel's page-table dump and WARN count
 * between markers the host looks for; says it reached userspace; then, as the kernel
 * command line asks (lmo_end=wait|poweroff|hang), waits to be stopped, powers off, or
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

int main(void)
{
	char end[32];

	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);

	cmdline_value("lmo_end", end, sizeof(end));
	if (!strcmp(end, "hang"))
		for (;;)
			;

	put("\n==== LMO-PTDUMP-BEGIN ====\n");
	if (cat("/sys/kernel/debug/kernel_page_tables"))
		put("LMO-ERROR: cannot read /sys/kernel/debug/kernel_page_tables\n");
	put("==== LMO-PTDUMP-END ====\n");

	put("LMO-WARN-COUNT: ");
	if (cat("/sys/kernel/warn_count"))
		put("unknown\n");
	put("==== LMO-USERSPACE-REACHED ====\n");

	if (!strcmp(end, "poweroff")) {
		reboot(LINUX_REBOOT_CMD_POWER_OFF);
	}
	for (;;)
		sleep(3600);
	return 0;
}
