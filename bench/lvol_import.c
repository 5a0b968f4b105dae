/* Import time of a big thin lvol store on a sparse file (issue 12: 16 TiB, 1,000 volumes,
 * 100,000 allocated clusters, under 1 s clean and dirty; SPDK's users report 34 s for 15 TB).
 *   cc -O2 -I include bench/lvol_import.c -L build/nativebdev -lnativebdev -o lvol_import
 *   ./lvol_import FILE make [VOLUMES [CLUSTERS_PER_VOLUME]]   (1000 100) the store, written clean
 *   ./lvol_import FILE clean      imports it, prints the time, unloads it clean
 *   ./lvol_import FILE dirty      imports it, prints the time, exits without unloading (the
 *                                 store stays marked dirty: the next import replays it)
 * The file is 16 TiB less 4 MiB (ext4's largest file), 4 MiB clusters (SPDK's default) and one
 * metadata page per cluster (SPDK's default ratio): 16 GiB of metadata region. Volumes are thin,
 * 16 GiB each; each gets its clusters by one 4 KiB write to each of that many random clusters
 * (every write allocates). The data region is punched out as it goes (only metadata matters to
 * an import; the disk need not hold 400 GiB of zeros). Over uring, O_DIRECT. Also prints the
 * process's resident memory before and after the import. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nativebdev.h"

#define CLUSTER (4ull << 20)
#define FILE_BYTES ((16ull << 40) - CLUSTER)
#define VOLUME_BYTES (16ull << 30)

static struct nb_thread *T;
static int g_pending, g_failed;

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static double now_s(void) { return (double)nb_get_ticks() / (double)nb_get_ticks_hz(); }

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	(void)arg;
	g_failed |= status != 0;
	g_pending--;
}

static void on_unloaded(void *ctx, int status)
{
	(void)ctx;
	g_failed |= status != 0;
	g_pending--;
}

static void ev(int type, struct nb_bdev *b, void *ctx)
{
	(void)type;
	(void)b;
	(void)ctx;
}

static int fail(const char *what)
{
	fprintf(stderr, "lvol_import: %s: %s\n", what, nb_last_error());
	return 1;
}

static int make(const char *file, int volumes, int per)
{
	int fd = open(file, O_RDWR);
	if (fd < 0) {
		perror(file);
		return 1;
	}
	/* past the metadata (a page per cluster, after the super block and three masks of < 2 MiB) */
	off_t punch = (off_t)(((FILE_BYTES / CLUSTER) * 4096 + (2u << 20) + CLUSTER - 1) / CLUSTER * CLUSTER);
	char uri[4600], name[64];
	if (nb_bdev_create("lvs:///big?mode=create&cluster_size=4M&disk=bdev%3A%2F%2F%2Fbase", name,
			   sizeof(name)) != 0)
		return fail("create the store");
	char *buf = nb_dma_zmalloc(4096, 4096, NULL);
	memset(buf, 0x5a, 4096);
	uint64_t x = 88172645463325252ull, clusters = VOLUME_BYTES / CLUSTER;
	double t0 = now_s();
	for (int v = 0; v < volumes; v++) {
		snprintf(uri, sizeof(uri), "lvol:///v%04d?size=%lluM&thin=1&lvs=lvs%%3A%%2F%%2F%%2Fbig", v,
			 (unsigned long long)(VOLUME_BYTES >> 20));
		if (nb_bdev_create(uri, name, sizeof(name)) != 0)
			return fail(uri);
		struct nb_bdev_desc *d;
		if (nb_bdev_open_ext(name, 1, ev, NULL, &d) != 0)
			return fail(name);
		struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t first = x % clusters;
		for (int k = 0; k < per; k++) {
			g_pending++;
			/* distinct clusters scattered over the volume (2,053 is prime: k * 2053 mod 4096 differ) */
			uint64_t c = (first + (uint64_t)k * 2053) % clusters;
			if (nb_bdev_write(d, ch, buf, c * CLUSTER, 4096, on_io, NULL) != 0)
				return fail("write");
			while (g_pending >= 32)
				nb_thread_poll(T, 0, 0);
		}
		while (g_pending > 0)
			nb_thread_poll(T, 0, 0);
		nb_put_io_channel(ch);
		nb_bdev_close(d);
		if (g_failed)
			return fail("a write failed");
		if (v % 50 == 49) {
			/* the data region back to holes: metadata is all the import reads */
			fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, punch, (off_t)FILE_BYTES - punch);
			printf("lvol_import: %d volumes (%.1f s)\n", v + 1, now_s() - t0);
		}
	}
	fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, punch, (off_t)FILE_BYTES - punch);
	g_pending = 1;
	if (nb_lvs_unload("big", 0, on_unloaded, NULL) != 0)
		return fail("unload");
	while (g_pending > 0)
		nb_thread_poll(T, 0, 0);
	printf("lvol_import: made %d volumes, %d writes each, in %.1f s; unloaded clean\n", volumes, per,
	       now_s() - t0);
	close(fd);
	return g_failed;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s FILE make|clean|dirty [VOLUMES [CLUSTERS_PER_VOLUME]]\n", argv[0]);
		return 2;
	}
	const char *file = argv[1], *mode = argv[2];
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.name = "lvol_import";
	opts.log_level = NB_LOG_WARN;
	if (nb_env_init(&opts) != 0)
		return fail("env");
	if (strcmp(mode, "make") == 0) {
		int fd = open(file, O_CREAT | O_TRUNC | O_RDWR, 0644);
		if (fd < 0 || ftruncate(fd, (off_t)FILE_BYTES) != 0) {
			perror(file);
			return 1;
		}
		close(fd);
	}
	char uri[4200], name[64];
	/* made before there is a current thread: examine leaves it alone */
	snprintf(uri, sizeof(uri), "uring://%s?direct=1&name=base", file);
	if (nb_bdev_create(uri, name, sizeof(name)) != 0)
		return fail(uri);
	T = nb_thread_create("bench", NULL);
	nb_set_thread(T);
	if (strcmp(mode, "make") == 0)
		return make(file, argc > 3 ? atoi(argv[3]) : 1000, argc > 4 ? atoi(argv[4]) : 100);
	long rss0 = rss_kib();
	double t0 = now_s();
	if (nb_bdev_create("lvs:///big?mode=import&disk=bdev%3A%2F%2F%2Fbase", name, sizeof(name)) != 0)
		return fail("import");
	double took = now_s() - t0;
	long rss1 = rss_kib();
	int found = 0;
	for (;; found++) {
		snprintf(name, sizeof(name), "big/v%04d", found);
		if (!nb_bdev_get_by_name(name))
			break;
	}
	printf("lvol_import: %s import %.3f s, %d volumes; resident memory %+ld KiB (%ld -> %ld)\n", mode, took,
	       found, rss1 - rss0, rss0, rss1);
	fflush(stdout);
	if (strcmp(mode, "dirty") == 0)
		_exit(0); /* no unload: the store stays marked dirty on the file */
	g_pending = 1;
	if (nb_lvs_unload("big", 0, on_unloaded, NULL) != 0)
		return fail("unload");
	while (g_pending > 0)
		nb_thread_poll(T, 0, 0);
	return g_failed;
}
