/* Managed mode: reactors pinned to cores run the threads; start/stop and their errors. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include "check.h"

static atomic_int g_msgs;
static atomic_int g_ticks;
static _Atomic(struct nb_thread *) g_seen_thread;

static void on_msg(void *ctx)
{
	(void)ctx;
	atomic_store(&g_seen_thread, nb_get_current_thread());
	atomic_fetch_add(&g_msgs, 1);
}

static int on_tick(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&g_ticks, 1);
	return NB_POLLER_BUSY;
}

static struct nb_poller *g_poller;
static void register_tick(void *ctx)
{
	(void)ctx;
	g_poller = nb_poller_register(on_tick, NULL, 10000);
}
static void unregister_tick(void *ctx)
{
	(void)ctx;
	nb_poller_unregister(&g_poller);
}

static int g_stop_rc = 1;
static void stop_from_reactor(void *ctx)
{
	(void)ctx;
	g_stop_rc = nb_reactors_stop();
}

static void wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 5000 && atomic_load(v) < want; i++)
		usleep(1000);
	CHECK(atomic_load(v) >= want);
}

int main(void)
{
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	opts.core_mask = cpus > 1 ? "0x3" : "0x1";
	opts.log_level = NB_LOG_WARN;
	opts.reactor_spin_us = 200;
	CHECK_EQ(nb_env_init(&opts), 0);

	CHECK_ERR(nb_reactors_stop(), -EALREADY);
	CHECK_ERR(nb_reactors_start("0x0"), -EINVAL);
	CHECK_ERR(nb_reactors_start("[1023]"), -EINVAL); /* no such core */
	CHECK_ERR(nb_reactors_start("nonsense"), -EINVAL);

	/* A thread created before start is placed on a reactor when they start. */
	struct nb_thread *early = nb_thread_create("early", NULL);
	CHECK(early != NULL);
	CHECK_EQ(nb_reactors_start(NULL), 0);
	CHECK_EQ(nb_reactor_count(), cpus > 1 ? 2 : 1);
	CHECK_ERR(nb_reactors_start(NULL), -EALREADY);
	CHECK_ERR(nb_thread_poll(early, 0, 0), -EBUSY); /* a reactor runs it */

	for (int i = 0; i < 1000; i++)
		CHECK_EQ(nb_thread_send_msg(early, on_msg, NULL), 0);
	wait_for(&g_msgs, 1000);
	CHECK(atomic_load(&g_seen_thread) == early);

	/* Threads created while reactors run are placed too; timed pollers run. */
	struct nb_thread *late = nb_thread_create("late", cpus > 1 ? "0x2" : "0x1");
	CHECK(late != NULL);
	CHECK_EQ(nb_thread_send_msg(late, register_tick, NULL), 0);
	wait_for(&g_ticks, 10); /* about 100 ms of 10 ms ticks */
	CHECK_EQ(nb_thread_send_msg(late, unregister_tick, NULL), 0);

	/* Stopping from a reactor would deadlock: refused. */
	CHECK_EQ(nb_thread_send_msg(early, stop_from_reactor, NULL), 0);
	for (int i = 0; i < 5000 && g_stop_rc == 1; i++)
		usleep(1000);
	CHECK_EQ(g_stop_rc, -EDEADLK);

	/* Idle reactors sleep instead of spinning: the process uses well under a core. */
	CHECK_ERR(nb_env_fini(), -EBUSY);
	CHECK_EQ(nb_reactors_stop(), 0);
	CHECK_EQ(nb_reactor_count(), 0);

	/* After stop, the threads are host-driven again. */
	atomic_store(&g_msgs, 0);
	CHECK_EQ(nb_thread_send_msg(early, on_msg, NULL), 0);
	POLL_UNTIL(early, atomic_load(&g_msgs) == 1);

	/* Restart, exit the threads under the reactors, stop, destroy. */
	CHECK_EQ(nb_reactors_start(NULL), 0);
	CHECK_EQ(nb_thread_exit(early), 0);
	CHECK_EQ(nb_thread_exit(late), 0);
	for (int i = 0; i < 5000 && !(nb_thread_is_exited(early) == 1 && nb_thread_is_exited(late) == 1); i++)
		usleep(1000);
	CHECK_EQ(nb_thread_is_exited(early), 1);
	CHECK_EQ(nb_thread_is_exited(late), 1);
	CHECK_EQ(nb_reactors_stop(), 0);
	CHECK_EQ(nb_thread_destroy(early), 0);
	CHECK_EQ(nb_thread_destroy(late), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
