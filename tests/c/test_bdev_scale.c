/* 10,000 bdevs: creating them costs the same per bdev at the end as at the start (linear, not
 * quadratic), a nb_bdev_first/next walk over all of them takes under 10 ms, and destroying
 * them all gives their memory back: later rounds do not add to resident memory (from
 * /proc/self/statm), and after nb_env_fini it is back near where it started.
 * A first small round pays the runtime's one-time costs (code paths, pools) before the
 * baseline. */
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

#define BDEVS 10000
#define SLICE 1000

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int destroyed;
static void on_destroyed(void *ctx, int status)
{
	(void)ctx;
	CHECK_EQ(status, 0);
	destroyed++;
}

/* Creates n null bdevs; returns the time per bdev of the first and of the last SLICE. */
static void create_all(int n, double *first_us, double *last_us)
{
	double start = now_us(), slice_start = start;
	for (int i = 0; i < n; i++) {
		char uri[64];
		snprintf(uri, sizeof(uri), "null:///scale%d?size_mb=1", i);
		CHECK_EQ(nb_bdev_create(uri, NULL, 0), 0);
		if (i + 1 == SLICE)
			*first_us = (now_us() - slice_start) / SLICE;
		if (i + 1 == n - SLICE)
			slice_start = now_us();
	}
	*last_us = (now_us() - slice_start) / SLICE;
}

/* The fastest of three full walks, in microseconds; checks the walk sees every bdev in order. */
static double walk(void)
{
	double best = 1e12;
	for (int r = 0; r < 3; r++) {
		double start = now_us();
		int n = 0;
		for (struct nb_bdev *b = nb_bdev_first(); b != NULL; b = nb_bdev_next(b))
			n++;
		double took = now_us() - start;
		CHECK_EQ(n, BDEVS);
		if (took < best)
			best = took;
	}
	int i = 0;
	for (struct nb_bdev *b = nb_bdev_first(); b != NULL; b = nb_bdev_next(b), i++) {
		char want[32];
		snprintf(want, sizeof(want), "scale%d", i);
		CHECK(strcmp(nb_bdev_get_name(b), want) == 0);
	}
	return best;
}

static void destroy_all(struct nb_thread *t, int n)
{
	destroyed = 0;
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "scale%d", i);
		CHECK_EQ(nb_bdev_destroy(name, on_destroyed, NULL), 0);
	}
	POLL_UNTIL(t, destroyed == n);
	CHECK(nb_bdev_first() == NULL);
}

int main(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	struct nb_env_info info = { .info_size = sizeof(info) };
	CHECK_EQ(nb_env_get_info(&info), 0);
	long dma_kib = (long)(info.dma_pool_size >> 10);
	long start_kib = nb_test_resident_kib();
	struct nb_thread *t = nb_thread_create("scale", NULL);
	CHECK(t != NULL);
	CHECK_EQ(nb_set_thread(t), 0);

	double first_us, last_us;
	create_all(2 * SLICE, &first_us, &last_us);
	destroy_all(t, 2 * SLICE);

	long before = nb_test_resident_kib();
	double start = now_us();
	create_all(BDEVS, &first_us, &last_us);
	double create_us = (now_us() - start) / BDEVS;
	long created = nb_test_resident_kib();
	double walk_us = walk();
	destroy_all(t, BDEVS);
	long after = nb_test_resident_kib();
	long highest = after;
	for (int round = 0; round < 2; round++) {
		double f, l;
		create_all(BDEVS, &f, &l);
		destroy_all(t, BDEVS);
		long now = nb_test_resident_kib();
		if (now > highest)
			highest = now;
	}
	printf("%d bdevs: %.1f us each to create (first %d: %.1f us, last %d: %.1f us), walk %.0f us, "
	       "%+ld KiB resident with them, %+ld KiB after destroying them, at most %+ld KiB more after two "
	       "more rounds\n", BDEVS, create_us, SLICE, first_us, SLICE, last_us, walk_us, created - before,
	       after - before, highest - after);
	CHECK(last_us < 3 * first_us + 20);
	CHECK(walk_us < 10000);
	/* Destroyed bdevs are garbage of the runtime's heap, which keeps a working level: later
	 * rounds reuse it, and nb_env_fini gives it back. */
	CHECK(highest - after < 8 * 1024);
	/* Once they are all gone, their memory goes back (one collection after the last). */
	CHECK(after - before < 8 * 1024);

	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(t), 0);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	CHECK_EQ(nb_thread_destroy(t), 0);
	long before_fini = nb_test_resident_kib();
	CHECK_EQ(nb_env_fini(), 0);
	long after_fini = nb_test_resident_kib();
	printf("nb_env_fini: %+ld KiB resident (DMA pool %ld KiB), %+ld KiB against the start\n",
	       after_fini - before_fini, dma_kib, after_fini - start_kib + dma_kib);
	CHECK(after_fini - start_kib + dma_kib < 8 * 1024);
	CHECK_DONE();
}
