/* nbd_export: serve bdevs over NBD, as qemu-nbd or nbdkit would, until SIGINT or SIGTERM.
 *
 *   nbd_export [-l ADDR] [-r READY_FILE] -b URI [-e NAME[:ro]] [-k DEVICE] [-b URI ...]...
 *
 * -l  where to listen: IP:PORT (port 0 picks one), [V6]:PORT or a Unix socket path;
 *     default 127.0.0.1:10809.
 * -b  a bdev to create from a URI (malloc:///M0?size_mb=64, uring:///path/to/file, ...).
 * -e  export the bdev named by the -b before it under NAME (":ro" read-only); without -e a
 *     bdev is exported under its own name.
 * -k  also attach the bdev named by the -b before it to the kernel's DEVICE (/dev/nbdN, or
 *     "auto" for the first free one), as SPDK's nbd_start_disk does (needs nbd.ko and root);
 *     each disk is printed as "nbd_export: BDEV on /dev/nbdN".
 * -r  once listening (and the kernel disks attached), write the address there (tests wait for
 *     this file).
 *
 * One host-driven thread runs everything: the server, its connections and the bdevs' I/O.
 * On a signal: stop the server, let connections release their bdevs, destroy the bdevs. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nativebdev.h"

#define MAX_BDEVS 16

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "nbd_export: %s failed (%d): %s\n", what, rc, nb_last_error());
	return 1;
}

static int g_disks_pending, g_disks_failed;

/* On the thread, from its poll: a kernel disk serves (or could not start). */
static void on_disk_started(void *ctx, int status, const char *nbd_device)
{
	if (status != 0) {
		fprintf(stderr, "nbd_export: -k %s: %s\n", (const char *)ctx, nb_last_error());
		g_disks_failed++;
	} else {
		printf("nbd_export: attached %s\n", nbd_device);
	}
	g_disks_pending--;
}

static void on_disk_stopped(void *ctx, int status)
{
	(void)status;
	(*(int *)ctx)--;
}

/* Detaches every kernel disk (each finishes what the kernel sent first). */
static void stop_disks(struct nb_thread *t)
{
	struct nb_nbd_disk_info disks[MAX_BDEVS];
	int stopping = 0, n = nb_nbd_disk_list(disks, MAX_BDEVS);
	for (int i = 0; i < n && i < MAX_BDEVS; i++)
		if (nb_nbd_disk_stop(disks[i].nbd_device, on_disk_stopped, &stopping) == 0)
			stopping++;
	while (stopping > 0)
		nb_thread_poll(t, 0, 0);
}

static void on_destroyed(void *ctx, int rc)
{
	(void)rc;
	(*(int *)ctx)--;
}

int main(int argc, char **argv)
{
	const char *listen = NULL, *ready = NULL;
	const char *uris[MAX_BDEVS], *exports[MAX_BDEVS], *kernel[MAX_BDEVS];
	int n = 0, opt;
	while ((opt = getopt(argc, argv, "l:r:b:e:k:")) != -1) {
		switch (opt) {
		case 'l': listen = optarg; break;
		case 'r': ready = optarg; break;
		case 'b':
			if (n == MAX_BDEVS) {
				fprintf(stderr, "nbd_export: at most %d bdevs\n", MAX_BDEVS);
				return 2;
			}
			uris[n] = optarg;
			kernel[n] = NULL;
			exports[n++] = NULL;
			break;
		case 'e':
			if (n == 0) {
				fprintf(stderr, "nbd_export: -e names the export of the -b before it\n");
				return 2;
			}
			exports[n - 1] = optarg;
			break;
		case 'k':
			if (n == 0) {
				fprintf(stderr, "nbd_export: -k attaches the -b before it\n");
				return 2;
			}
			kernel[n - 1] = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-l ADDR] [-r READY_FILE] -b URI [-e NAME[:ro]] [-k DEVICE]...\n", argv[0]);
			return 2;
		}
	}
	if (n == 0) {
		fprintf(stderr, "nbd_export: give at least one bdev (-b URI)\n");
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	int rc;
	if ((rc = nb_env_init(NULL)) != 0)
		return fail("nb_env_init", rc);
	struct nb_thread *t = nb_thread_create("nbd", NULL);
	if (!t)
		return fail("nb_thread_create", -1);
	nb_set_thread(t);
	char names[MAX_BDEVS][256];
	for (int i = 0; i < n; i++)
		if ((rc = nb_bdev_create(uris[i], names[i], sizeof(names[i]))) != 0)
			return fail(uris[i], rc);
	if ((rc = nb_nbd_server_start(listen)) != 0)
		return fail("nb_nbd_server_start", rc);
	for (int i = 0; i < n; i++) {
		char name[4096];
		snprintf(name, sizeof(name), "%s", exports[i] ? exports[i] : names[i]);
		int ro = 0;
		size_t len = strlen(name);
		if (len >= 3 && strcmp(name + len - 3, ":ro") == 0) {
			name[len - 3] = '\0';
			ro = 1;
		}
		if ((rc = nb_nbd_server_add_export(name, names[i], ro, uris[i])) != 0)
			return fail("nb_nbd_server_add_export", rc);
	}
	for (int i = 0; i < n; i++) {
		if (!kernel[i])
			continue;
		const char *dev = strcmp(kernel[i], "auto") == 0 ? NULL : kernel[i];
		if ((rc = nb_nbd_disk_start(names[i], dev, on_disk_started, (void *)kernel[i])) != 0) {
			fail("nb_nbd_disk_start", rc);
			g_disks_failed++;
			break;
		}
		g_disks_pending++;
		while (g_disks_pending > 0) /* one at a time: "auto" then sees the previous one taken */
			nb_thread_poll(t, 0, 0);
		if (g_disks_failed)
			break;
	}
	struct nb_nbd_disk_info disks[MAX_BDEVS];
	int ndisks = nb_nbd_disk_list(disks, MAX_BDEVS);
	for (int i = 0; i < ndisks && i < MAX_BDEVS; i++)
		printf("nbd_export: %s on %s\n", disks[i].bdev_name, disks[i].nbd_device);
	if (g_disks_failed)
		g_stop = 1; /* what was attached is detached again below */
	char addr[256];
	nb_nbd_server_get_addr(addr, sizeof(addr));
	printf("nbd_export: serving %d export(s) on %s\n", n, addr);
	fflush(stdout);
	if (ready && !g_disks_failed) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%s\n", addr) < 0 || fclose(f) != 0 || rename(tmp, ready) != 0)
			return fail("writing the ready file", -errno);
	}
	while (!g_stop)
		nb_thread_poll(t, 0, 0);
	stop_disks(t);

	if ((rc = nb_nbd_server_stop()) != 0)
		return fail("nb_nbd_server_stop", rc);
	/* Connections release their bdevs on the next polls; destruction waits for them. */
	int pending = n;
	for (int i = 0; i < n; i++)
		if ((rc = nb_bdev_destroy(names[i], on_destroyed, &pending)) != 0)
			return fail("nb_bdev_destroy", rc);
	while (pending > 0)
		nb_thread_poll(t, 0, 0);
	nb_set_thread(NULL);
	nb_thread_exit(t);
	while (nb_thread_is_exited(t) != 1)
		nb_thread_poll(t, 0, 0);
	nb_thread_destroy(t);
	if ((rc = nb_env_fini()) != 0)
		return fail("nb_env_fini", rc);
	printf("nbd_export: stopped\n");
	return g_disks_failed ? 1 : 0;
}
