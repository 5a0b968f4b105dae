/* Instructions per I/O of the byte-addressed submission (nb_bdev_read) against the block one
 * (nb_bdev_read_blocks): 4 KiB reads of a null bdev at QD32 from one host-driven thread, each
 * completion submitting the next. Run it under callgrind for two counts and take the
 * difference, so start-up cancels (docs/PERFORMANCE.md, "Byte and block calls"):
 *
 *   cc -O2 -Iinclude bench/byte_calls.c -o /tmp/byte_calls -Lbuild/nativebdev -lnativebdev \
 *      -Wl,-rpath,$PWD/build/nativebdev
 *   for mode in bytes blocks; do for n in 100000 300000; do
 *     valgrind --tool=callgrind --callgrind-out-file=/dev/null /tmp/byte_calls $n $mode 2>&1 | grep Collected
 *   done; done                 # (Collected(300000) - Collected(100000)) / 200000 per mode */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nativebdev.h"

enum { QD = 32, BLOCKS = 1000000 };
static struct nb_bdev_desc *g_desc;
static struct nb_io_channel *g_ch;
static void *g_buf;
static int g_bytes;
static long g_done, g_left;

static void on_io(struct nb_bdev_io *io, int status, void *arg);

static int submit(void)
{
	uint64_t block = (uint64_t)((g_done + g_left) * 7919 % (BLOCKS - 8));
	return g_bytes ? nb_bdev_read(g_desc, g_ch, g_buf, block * 512, 4096, on_io, NULL)
		       : nb_bdev_read_blocks(g_desc, g_ch, g_buf, block, 8, on_io, NULL);
}

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	(void)arg;
	if (status != 0)
		abort();
	g_done++;
	if (g_left > 0) {
		g_left--;
		if (submit() != 0)
			abort();
	}
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[2], "bytes") != 0 && strcmp(argv[2], "blocks") != 0)) {
		fprintf(stderr, "usage: %s COUNT bytes|blocks\n", argv[0]);
		return 2;
	}
	long n = atol(argv[1]);
	g_bytes = strcmp(argv[2], "bytes") == 0;
	struct nb_env_opts o;
	nb_env_opts_init(&o, sizeof(o));
	o.name = "byte_calls";
	o.log_level = NB_LOG_ERROR;
	struct nb_thread *t;
	if (n < QD || nb_env_init(&o) != 0 || (t = nb_thread_create("byte_calls", NULL)) == NULL ||
	    nb_set_thread(t) != 0 || nb_bdev_create("null:///bcnull?num_blocks=1000000&blk_size=512", NULL, 0) != 0 ||
	    nb_bdev_open_ext("bcnull", 0, on_event, NULL, &g_desc) != 0 ||
	    (g_ch = nb_bdev_get_io_channel(g_desc)) == NULL || (g_buf = nb_dma_zmalloc(4096, 4096, NULL)) == NULL) {
		fprintf(stderr, "set-up failed: %s\n", nb_last_error());
		return 1;
	}
	g_left = n - QD;
	for (int i = 0; i < QD; i++)
		if (submit() != 0)
			return 1;
	while (g_done < n)
		nb_thread_poll(t, 0, 0);
	printf("%ld %s reads\n", g_done, argv[2]);
	return 0;
}
