/* Per-thread resources are shared by a thread's bdevs: 1,000 bdevs, each opened with a
 * channel on 2 threads, cost under 64 MiB resident beyond the DMA pool, and an idle bdev
 * channel under 16 KiB (the restructure issue's target). Resident memory is read from
 * /proc/self/statm around each phase; the DMA pool is reserved at init, before the first
 * reading, so it is not in the deltas. Uses uring bdevs too: one ring per thread for all
 * of them, not one per (bdev, thread). */
#include <stdint.h>
#include <unistd.h>
#include <fcntl.h>
#include "check.h"

#define BDEVS 1000
#define FILE_BDEVS 100
#define THREADS 2

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static int destroyed;
static void on_destroyed(void *ctx, int status)
{
	(void)ctx;
	CHECK_EQ(status, 0);
	destroyed++;
}

static void poll_all(struct nb_thread **t, int rounds)
{
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < THREADS; i++)
			nb_thread_poll(t[i], 0, 0);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	CHECK_EQ(nb_env_init(&opts), 0);
	struct nb_thread *t[THREADS];
	for (int i = 0; i < THREADS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "scale%d", i);
		t[i] = nb_thread_create(name, NULL);
		CHECK(t[i] != NULL);
	}
	CHECK_EQ(nb_set_thread(t[0]), 0);

	/* A first bdev opened on both threads: the runtime's one-time costs (code paths
	 * touched, per-thread pools and rings) are paid before the baseline. */
	char path[4096];
	snprintf(path, sizeof(path), "%s/scale.img", dir);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	close(fd);

	static char names[BDEVS + FILE_BDEVS][NB_BDEV_NAME_MAX];
	static struct nb_bdev_desc *desc[BDEVS + FILE_BDEVS];
	static struct nb_io_channel *ch[THREADS][BDEVS + FILE_BDEVS];
	int n = 0;
	long before_bdevs = 0, after_bdevs = 0;
	for (int phase = 0; phase < 2; phase++) {
		int first = n, count = phase == 0 ? 2 : BDEVS + FILE_BDEVS - 2;
		if (phase == 1)
			before_bdevs = nb_test_resident_kib();
		for (int k = 0; k < count; k++, n++) {
			char uri[4200];
			if (n % 10 == 1) /* every tenth a uring bdev over the same file */
				snprintf(uri, sizeof(uri), "uring://%s%s?direct=0&name=file%d", path[0] == '/' ? "" : "/", path, n);
			else
				snprintf(uri, sizeof(uri), "null:///scale%d?size_mb=1", n);
			CHECK_EQ(nb_bdev_create(uri, names[n], sizeof(names[n])), 0);
		}
		if (phase == 1)
			after_bdevs = nb_test_resident_kib();
		for (int k = first; k < n; k++)
			CHECK_EQ(nb_bdev_open_ext(names[k], 1, on_event, NULL, &desc[k]), 0);
		long before_channels = nb_test_resident_kib();
		for (int i = 0; i < THREADS; i++) {
			CHECK_EQ(nb_set_thread(t[i]), 0);
			for (int k = first; k < n; k++) {
				ch[i][k] = nb_bdev_get_io_channel(desc[k]);
				CHECK(ch[i][k] != NULL);
			}
		}
		poll_all(t, 4);
		long after_channels = nb_test_resident_kib();
		if (phase == 1) {
			long bdev_kib = after_bdevs - before_bdevs;
			long channel_kib = after_channels - before_channels;
			long total_kib = after_channels - before_bdevs;
			double per_channel = (double)channel_kib / (THREADS * count);
			printf("%d bdevs (%d uring): %ld KiB to create, %ld KiB for %d channels "
			       "(%.1f KiB each), %ld KiB in all\n", count, count / 10, bdev_kib, channel_kib,
			       THREADS * count, per_channel, total_kib);
			CHECK(total_kib < 64 * 1024);
			CHECK(per_channel < 16.0);
		}
	}

	for (int i = 0; i < THREADS; i++) {
		CHECK_EQ(nb_set_thread(t[i]), 0);
		for (int k = 0; k < n; k++)
			CHECK_EQ(nb_put_io_channel(ch[i][k]), 0);
	}
	poll_all(t, 4);
	CHECK_EQ(nb_set_thread(t[0]), 0);
	for (int k = 0; k < n; k++)
		CHECK_EQ(nb_bdev_close(desc[k]), 0);
	for (int k = 0; k < n; k++)
		CHECK_EQ(nb_bdev_destroy(names[k], on_destroyed, NULL), 0);
	for (int r = 0; r < 1000 && destroyed < n; r++)
		poll_all(t, 1);
	CHECK_EQ(destroyed, n);
	for (int i = 0; i < THREADS; i++) {
		CHECK_EQ(nb_thread_exit(t[i]), 0);
		while (!nb_thread_is_exited(t[i]))
			nb_thread_poll(t[i], 0, 0);
		CHECK_EQ(nb_thread_destroy(t[i]), 0);
	}
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_env_fini(), 0);
	unlink(path);
	printf("test_memory_scale: %d checks passed\n", check_count);
	return 0;
}
