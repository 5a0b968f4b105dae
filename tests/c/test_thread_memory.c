/* Lightweight threads cost little while idle and give their memory back: 1,000 idle threads
 * under 64 KiB resident each (their message rings take memory as messages arrive, not at
 * create), and cycles of 200 threads created, sent a burst of messages and destroyed do not
 * grow resident memory beyond a small bound. The ring's size is an env option
 * (nb_env_opts.thread_msg_ring_size): a ring of 256 refuses the 257th queued message.
 * Resident memory is read from /proc/self/statm. */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include "check.h"

#define IDLE_THREADS 1000
#define CYCLE_THREADS 200
#define CYCLES 20
#define BURST 2000

static long ran;
static void count_msg(void *ctx)
{
	(void)ctx;
	ran++;
}

static void create_all(struct nb_thread **t, int n)
{
	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "t%d", i);
		t[i] = nb_thread_create(name, NULL);
		CHECK(t[i] != NULL);
	}
}

static void destroy_all(struct nb_thread **t, int n)
{
	for (int i = 0; i < n; i++) {
		CHECK_EQ(nb_thread_exit(t[i]), 0);
		POLL_UNTIL(t[i], nb_thread_is_exited(t[i]) == 1);
		CHECK_EQ(nb_thread_destroy(t[i]), 0);
	}
	CHECK_EQ(nb_thread_count(), 0);
}

/* Each thread gets a burst of messages (its ring grows), runs them, and is destroyed. */
static void cycle(struct nb_thread **t)
{
	create_all(t, CYCLE_THREADS);
	for (int i = 0; i < CYCLE_THREADS; i++) {
		for (int k = 0; k < BURST; k++)
			CHECK_EQ(nb_thread_send_msg(t[i], count_msg, NULL), 0);
		while (nb_thread_poll(t[i], BURST, 0) > 0)
			;
	}
	destroy_all(t, CYCLE_THREADS);
}

static void idle_threads(void)
{
	static struct nb_thread *t[IDLE_THREADS];
	/* One thread first: the runtime's one-time costs are paid before the baseline. */
	create_all(t, 1);
	CHECK_EQ(nb_thread_send_msg(t[0], count_msg, NULL), 0);
	nb_thread_poll(t[0], 0, 0);
	destroy_all(t, 1);

	long before = nb_test_resident_kib();
	create_all(t, IDLE_THREADS);
	for (int i = 0; i < IDLE_THREADS; i++)
		nb_thread_poll(t[i], 0, 0);
	long after = nb_test_resident_kib();
	double per_thread = (double)(after - before) / IDLE_THREADS;
	printf("%d idle threads: %ld KiB resident (%.1f KiB each)\n", IDLE_THREADS, after - before, per_thread);
	CHECK(per_thread < 64.0);
	destroy_all(t, IDLE_THREADS);
}

/* Each cycle's rings (200 x 2000 messages, 16 MiB) are garbage once its threads are destroyed:
 * the first two cycles set the runtime heap's working level, later ones must not rise far above
 * it (with rings of 640 KiB allocated whole at create, 20 cycles ended 1.3 GiB above the start).
 * Rings kept alive would add 16 MiB a cycle, 288 MiB over the last 18; a collector that lets its
 * heap grow once or twice more (seen in CI: +34 MiB, here usually +32 KiB) is no leak, so the
 * bound is six cycles' rings. */
static void create_destroy_cycles(void)
{
	static struct nb_thread *t[CYCLE_THREADS];
	long start = nb_test_resident_kib();
	cycle(t);
	cycle(t);
	long level = nb_test_resident_kib(), highest = level;
	for (int c = 2; c < CYCLES; c++) {
		cycle(t);
		long now = nb_test_resident_kib();
		if (now > highest)
			highest = now;
	}
	CHECK_EQ(ran, 1 + (long)CYCLES * CYCLE_THREADS * BURST);
	printf("%d cycles of %d threads x %d messages: %+ld KiB resident after two, at most %+ld KiB more after "
	       "the others\n", CYCLES, CYCLE_THREADS, BURST, level - start, highest - level);
	CHECK(highest - level < 96 * 1024);
}

#ifndef BASELINE
/* A ring of 256 messages takes 256 and refuses the next one; bad sizes are refused at init. */
static void ring_size_option(void)
{
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	CHECK_EQ(opts.thread_msg_ring_size, 16384);
	opts.log_level = NB_LOG_WARN;
	opts.thread_msg_ring_size = 1000; /* not a power of two */
	CHECK_ERR(nb_env_init(&opts), -EINVAL);
	opts.thread_msg_ring_size = 8; /* too small */
	CHECK_ERR(nb_env_init(&opts), -EINVAL);
	opts.thread_msg_ring_size = 0; /* the default */
	CHECK_EQ(nb_env_init(&opts), 0);
	CHECK_EQ(nb_env_fini(), 0);
	opts.thread_msg_ring_size = 256;
	CHECK_EQ(nb_env_init(&opts), 0);
	struct nb_thread *t = nb_thread_create("small", NULL);
	CHECK(t != NULL);
	long start = ran;
	for (int k = 0; k < 256; k++)
		CHECK_EQ(nb_thread_send_msg(t, count_msg, NULL), 0);
	CHECK_ERR(nb_thread_send_msg(t, count_msg, NULL), -ENOMEM);
	while (nb_thread_poll(t, 256, 0) > 0)
		;
	CHECK_EQ(ran - start, 256);
	CHECK_EQ(nb_thread_send_msg(t, count_msg, NULL), 0);
	struct nb_thread *one[1] = { t };
	destroy_all(one, 1);
	CHECK_EQ(ran - start, 257);
	CHECK_EQ(nb_env_fini(), 0);
}
#endif

int main(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	struct nb_env_info info = { .info_size = sizeof(info) };
	CHECK_EQ(nb_env_get_info(&info), 0);
	long dma_kib = (long)(info.dma_pool_size >> 10);
	long start = nb_test_resident_kib();
	idle_threads();
	create_destroy_cycles();
	/* nb_env_fini unmaps the DMA pool and gives the runtime heap's free memory back. */
	long before_fini = nb_test_resident_kib();
	CHECK_EQ(nb_env_fini(), 0);
	long after_fini = nb_test_resident_kib();
	printf("nb_env_fini: %+ld KiB resident (DMA pool %ld KiB), %+ld KiB against the start\n",
	       after_fini - before_fini, dma_kib, after_fini - start + dma_kib);
	CHECK(after_fini - start + dma_kib < 8 * 1024);
#ifndef BASELINE
	ring_size_option();
#endif
	CHECK_DONE();
}
