/* Allocating writes of a thin lvol over malloc, one core: a fresh thin volume spanning the store,
 * QD writes of 4 KiB, each to a cluster nobody wrote yet (clusters in random order), so that
 * every write allocates. Prints allocations per second, the CPU time per allocation, and what
 * each allocation wrote to the base (from the base's I/O counters: the fill of the new cluster
 * in 1 MiB writes, the data write, and the rest, which is metadata).
 *   cc -O2 -I include bench/lvol_alloc.c -L build/nativebdev -lnativebdev -o lvol_alloc
 *   ./lvol_alloc [BASE_MB [CLUSTER_MB [ALLOCATIONS [QD]]]]       (2048 4 400 32) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nativebdev.h"

static struct nb_thread *T;
static struct nb_bdev_desc *D;
static struct nb_io_channel *C;
static uint64_t *g_order, g_next, g_todo, g_done, g_cluster;
static int g_failed;
static char *g_buf;

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_write(struct nb_bdev_io *io, int status, void *arg);

static void submit_next(void)
{
	if (g_next >= g_todo)
		return;
	uint64_t c = g_order[g_next++];
	if (nb_bdev_write(D, C, g_buf, c * g_cluster, 4096, on_write, NULL) != 0) {
		fprintf(stderr, "write: %s\n", nb_last_error());
		g_failed = 1;
	}
}

static void on_write(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	(void)arg;
	if (status != 0) {
		fprintf(stderr, "write failed: %d\n", status);
		g_failed = 1;
	}
	g_done++;
	submit_next();
}

static void ev(int type, struct nb_bdev *b, void *ctx)
{
	(void)type;
	(void)b;
	(void)ctx;
}

static int stat_of(const char *name, struct nb_bdev_io_stat *s)
{
	memset(s, 0, sizeof(*s));
	s->stat_size = sizeof(*s);
	return nb_bdev_get_io_stat(nb_bdev_get_by_name(name), s);
}

int main(int argc, char **argv)
{
	int base_mb = argc > 1 ? atoi(argv[1]) : 2048;
	int cluster_mb = argc > 2 ? atoi(argv[2]) : 4;
	uint64_t want = argc > 3 ? strtoull(argv[3], NULL, 0) : 400;
	int qd = argc > 4 ? atoi(argv[4]) : 32;
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.name = "lvol_alloc";
	opts.log_level = NB_LOG_WARN;
	opts.dma_pool_max_size = ((uint64_t)base_mb + 256) << 20; /* the malloc bdev's memory */
	if (nb_env_init(&opts) != 0) {
		fprintf(stderr, "env: %s\n", nb_last_error());
		return 1;
	}
	T = nb_thread_create("bench", NULL);
	nb_set_thread(T);
	char uri[512], name[64];
	snprintf(uri, sizeof(uri), "malloc:///B0?size_mb=%d&blk_size=4096", base_mb);
	if (nb_bdev_create(uri, name, sizeof(name)) != 0)
		goto fail;
	snprintf(uri, sizeof(uri), "lvs:///P?mode=create&cluster_size=%dM&clear_method=none&disk=bdev%%3A%%2F%%2F%%2FB0",
		 cluster_mb);
	if (nb_bdev_create(uri, name, sizeof(name)) != 0)
		goto fail;
	g_cluster = (uint64_t)cluster_mb << 20;
	uint64_t clusters = ((uint64_t)base_mb << 20) / g_cluster - 2; /* room for the metadata */
	snprintf(uri, sizeof(uri), "lvol:///v?size=%lluM&thin=1&lvs=lvs%%3A%%2F%%2F%%2FP",
		 (unsigned long long)(clusters * (uint64_t)cluster_mb));
	if (nb_bdev_create(uri, name, sizeof(name)) != 0 || nb_bdev_open_ext("P/v", 1, ev, NULL, &D) != 0 ||
	    !(C = nb_bdev_get_io_channel(D)))
		goto fail;
	g_todo = want < clusters ? want : clusters;
	g_order = malloc(clusters * sizeof(*g_order));
	for (uint64_t i = 0; i < clusters; i++)
		g_order[i] = i;
	uint64_t x = 88172645463325252ull;
	for (uint64_t i = clusters - 1; i > 0; i--) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t j = x % (i + 1), t = g_order[i];
		g_order[i] = g_order[j], g_order[j] = t;
	}
	g_buf = nb_dma_zmalloc(4096, 4096, NULL);
	memset(g_buf, 0xA5, 4096);
	struct nb_bdev_io_stat s0, s1;
	stat_of("B0", &s0);
	double c0 = cpu_s();
	uint64_t t0 = nb_get_ticks();
	for (int i = 0; i < qd; i++)
		submit_next();
	while (g_done < g_todo && !g_failed)
		nb_thread_poll(T, 0, 0);
	double secs = (double)(nb_get_ticks() - t0) / (double)nb_get_ticks_hz();
	double cpu = cpu_s() - c0;
	stat_of("B0", &s1);
	if (g_failed)
		return 1;
	/* the fill is one write zeroes of the cluster (a base without it: writes of zeros, counted
	 * as writes of 1 MiB); the rest of the writes beyond the data write are metadata pages */
	uint64_t zops = s1.num_write_zeroes_ops - s0.num_write_zeroes_ops, zbytes = s1.bytes_zeroed - s0.bytes_zeroed;
	uint64_t ops = s1.num_write_ops - s0.num_write_ops, bytes = s1.bytes_written - s0.bytes_written;
	uint64_t fill_ops = zops ? 0 : g_todo * ((g_cluster + (1 << 20) - 1) >> 20);
	uint64_t fill_bytes = zops ? 0 : g_todo * g_cluster;
	uint64_t md_ops = ops - fill_ops - g_todo, md_bytes = bytes - fill_bytes - g_todo * 4096;
	printf("lvol_alloc: %llu allocating 4K writes (QD%d, %d MiB clusters, malloc %d MiB): %.0f IOPS, "
	       "%.1f us CPU each\n", (unsigned long long)g_todo, qd, cluster_mb, base_mb, (double)g_todo / secs,
	       cpu * 1e6 / (double)g_todo);
	printf("lvol_alloc: base I/O per allocation: %.2f write zeroes (%.0f KiB), %.2f writes of zeros, 1 data "
	       "write (4 KiB), %.3f metadata writes (%.2f KiB)\n", (double)zops / (double)g_todo,
	       (double)zbytes / (double)g_todo / 1024, (double)fill_ops / (double)g_todo,
	       (double)md_ops / (double)g_todo, (double)md_bytes / (double)g_todo / 1024);
	nb_put_io_channel(C);
	nb_bdev_close(D);
	return 0;
fail:
	fprintf(stderr, "lvol_alloc: %s\n", nb_last_error());
	return 1;
}
