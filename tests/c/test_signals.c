/* Signal handlers and the library (issue 15): nb_get_ticks and nb_get_ticks_hz are the
 * async-signal-safe functions (C, never entering the runtime). Before, a handler calling
 * nb_get_ticks while the signal had interrupted the library aborted the process ("attempted
 * to call a UnmanagedCallersOnly method from managed code"). Here SIGALRM fires every 50 us
 * (setitimer) and another OS thread sends SIGUSR1 to the polling thread, for about a second,
 * while the main thread runs I/O and polls; both handlers read the clock several times and
 * check it never goes back. The statistics' latencies are in the same clock: the library's
 * measured read latency fits inside the host's own measurement of the same reads. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

static struct nb_thread *g_t;
static volatile sig_atomic_t g_backwards;
static volatile sig_atomic_t g_zero_hz;
static volatile sig_atomic_t g_stop;
static volatile uint64_t g_signals;

static void handler(int sig)
{
	(void)sig;
	int saved = errno;
	uint64_t prev = nb_get_ticks();
	for (int i = 0; i < 8; i++) {
		uint64_t now = nb_get_ticks();
		if (now < prev)
			g_backwards = 1;
		prev = now;
	}
	if (nb_get_ticks_hz() == 0)
		g_zero_hz = 1;
	__atomic_add_fetch(&g_signals, 1, __ATOMIC_RELAXED);
	errno = saved;
}

static void *usr1_sender(void *arg)
{
	pthread_t target = *(pthread_t *)arg;
	while (!g_stop) {
		pthread_kill(target, SIGUSR1);
		usleep(100);
	}
	return NULL;
}

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	int *r = arg;
	*r = status == 0 ? 1 : status;
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

int main(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("signals", NULL);
	CHECK(g_t != NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
	char name[NB_BDEV_NAME_MAX];
	CHECK_EQ(nb_bdev_create("malloc:///Sig0?size_mb=4&blk_size=512", name, sizeof(name)), 0);
	struct nb_bdev_desc *desc;
	CHECK_EQ(nb_bdev_open_ext("Sig0", 1, on_event, NULL, &desc), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(desc);
	CHECK(ch != NULL);
	uint8_t *buf = nb_dma_zmalloc(4096, 0, NULL);
	CHECK(buf != NULL);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGALRM, &sa, NULL), 0);
	CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	pthread_t self = pthread_self(), sender;
	CHECK_EQ(pthread_create(&sender, NULL, usr1_sender, &self), 0);
	struct itimerval it = { .it_interval = { 0, 50 }, .it_value = { 0, 50 } };
	CHECK_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);

	uint64_t hz = nb_get_ticks_hz(), start = nb_get_ticks(), last = start, host_read_ticks = 0;
	uint64_t reads = 0;
	CHECK(hz > 0);
	while (nb_get_ticks() - start < hz) {
		int w = 0, r = 0;
		CHECK_EQ(nb_bdev_write_blocks(desc, ch, buf, reads % 64, 8, on_io, &w), 0);
		POLL_UNTIL(g_t, w != 0);
		CHECK_EQ(w, 1);
		uint64_t t0 = nb_get_ticks();
		CHECK_EQ(nb_bdev_read_blocks(desc, ch, buf, reads % 64, 8, on_io, &r), 0);
		POLL_UNTIL(g_t, r != 0);
		host_read_ticks += nb_get_ticks() - t0;
		CHECK_EQ(r, 1);
		reads++;
		uint64_t now = nb_get_ticks();
		CHECK(now >= last);
		last = now;
	}

	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	CHECK_EQ(setitimer(ITIMER_REAL, &off, NULL), 0);
	g_stop = 1;
	CHECK_EQ(pthread_join(sender, NULL), 0);
	printf("%llu signals handled during %llu write+read pairs\n", (unsigned long long)g_signals,
	       (unsigned long long)reads);
	CHECK(g_signals > 1000);
	CHECK_EQ(g_backwards, 0);
	CHECK_EQ(g_zero_hz, 0);

	/* The I/O stamps are nb_get_ticks' clock at nb_get_ticks_hz. */
	struct nb_bdev_io_stat st;
	memset(&st, 0, sizeof(st));
	st.stat_size = sizeof(st);
	CHECK_EQ(nb_bdev_channel_get_io_stat(ch, &st), 0);
	CHECK_EQ(st.ticks_rate, hz);
	CHECK_EQ(st.num_read_ops, reads);
	CHECK(st.read_latency_ticks > 0);
	CHECK(st.read_latency_ticks <= host_read_ticks);

	/* ... and its rate is right: 200 ms of CLOCK_MONOTONIC within 1%. */
	struct timespec m0, m1;
	clock_gettime(CLOCK_MONOTONIC, &m0);
	uint64_t k0 = nb_get_ticks();
	usleep(200000);
	uint64_t k1 = nb_get_ticks();
	clock_gettime(CLOCK_MONOTONIC, &m1);
	double mono_s = (double)(m1.tv_sec - m0.tv_sec) + (double)(m1.tv_nsec - m0.tv_nsec) / 1e9;
	double ratio = (double)(k1 - k0) / (double)hz / mono_s;
	printf("nb_get_ticks_hz %llu, ticks/monotonic %.4f\n", (unsigned long long)hz, ratio);
	CHECK(ratio > 0.99 && ratio < 1.01);

	CHECK_EQ(nb_dma_free(buf), 0);
	CHECK_EQ(nb_put_io_channel(ch), 0);
	CHECK_EQ(nb_bdev_close(desc), 0);
	CHECK_EQ(nb_bdev_destroy("Sig0", NULL, NULL), 0);
	POLL_UNTIL(g_t, nb_bdev_get_by_name("Sig0") == NULL);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(g_t), 0);
	POLL_UNTIL(g_t, nb_thread_is_exited(g_t) == 1);
	CHECK_EQ(nb_thread_destroy(g_t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
