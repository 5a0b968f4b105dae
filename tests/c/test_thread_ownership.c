/* One owner per thread, messages that are accepted run, control messages that a full ring
 * does not lose, a channel asked for from its own create callback, a forced exit that lets go
 * of its channels, and the message of a nested poll — through the published library. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>
#include "check.h"
#include "send_race.h"

#define CHECK_MSG(needle)                                                                     \
	do {                                                                                  \
		check_count++;                                                                \
		if (strstr(nb_last_error(), (needle)) == NULL) {                              \
			fprintf(stderr, "%s:%d: last error lacks \"%s\": %s\n", __FILE__,      \
				__LINE__, (needle), nb_last_error());                          \
			exit(1);                                                              \
		}                                                                             \
	} while (0)

static void noop(void *ctx)
{
	(void)ctx;
}

/* ---- 1. set_thread, pollers and polls against the thread's owner -------------------- */

struct foreign {
	struct nb_thread *t;
	struct nb_poller *poller;
	int set_rc, poll_rc, pause_rc;
	char set_msg[512], poll_msg[512], pause_msg[512];
};

static void *foreign_calls(void *arg)
{
	struct foreign *f = arg;
	f->set_rc = nb_set_thread(f->t);
	snprintf(f->set_msg, sizeof(f->set_msg), "%s", nb_last_error());
	f->poll_rc = nb_thread_poll(f->t, 0, 0);
	snprintf(f->poll_msg, sizeof(f->poll_msg), "%s", nb_last_error());
	if (f->poller != NULL) {
		f->pause_rc = nb_poller_pause(f->poller);
		snprintf(f->pause_msg, sizeof(f->pause_msg), "%s", nb_last_error());
	}
	return NULL;
}

static int idle_poller(void *ctx)
{
	(void)ctx;
	return NB_POLLER_IDLE;
}

static int g_set_in_poll_rc = 1;
static char g_set_in_poll_msg[512];
static void set_thread_inside_poll(void *ctx)
{
	g_set_in_poll_rc = nb_set_thread((struct nb_thread *)ctx);
	snprintf(g_set_in_poll_msg, sizeof(g_set_in_poll_msg), "%s", nb_last_error());
}

static void test_bound_thread_has_one_owner(void)
{
	struct nb_thread *t = nb_thread_create("bound", NULL);
	struct nb_thread *other = nb_thread_create("other", NULL);
	CHECK(t != NULL && other != NULL);
	CHECK_EQ(nb_set_thread(t), 0);
	struct nb_poller *p = nb_poller_register(idle_poller, NULL, 0);
	CHECK(p != NULL);
	CHECK_EQ(nb_thread_poll(t, 0, 0) >= 0, 1); /* the binder may poll what it bound */

	struct foreign f = { .t = t, .poller = p };
	pthread_t pt;
	CHECK_EQ(pthread_create(&pt, NULL, foreign_calls, &f), 0);
	pthread_join(pt, NULL);
	char tid[32];
	snprintf(tid, sizeof(tid), "OS thread %d", (int)gettid());
	CHECK_EQ(f.set_rc, -EBUSY);
	CHECK(strstr(f.set_msg, "bound with nb_set_thread") && strstr(f.set_msg, tid));
	CHECK_EQ(f.poll_rc, -EBUSY);
	CHECK(strstr(f.poll_msg, "bound with nb_set_thread") && strstr(f.poll_msg, tid));
	CHECK_EQ(f.pause_rc, -EINVAL); /* the documented errno of a poller off its thread */
	CHECK(strstr(f.pause_msg, "bound with nb_set_thread") && strstr(f.pause_msg, tid));

	/* nb_set_thread inside a poll would be undone by the poll's return: refused */
	CHECK_EQ(nb_thread_send_msg(t, set_thread_inside_poll, other), 0);
	POLL_UNTIL(t, g_set_in_poll_rc != 1);
	CHECK_EQ(g_set_in_poll_rc, -EBUSY);
	CHECK(strstr(g_set_in_poll_msg, "inside a poll") != NULL);
	CHECK(nb_get_current_thread() == t);

	/* Binding another thread releases the first: now another OS thread may poll it */
	CHECK_EQ(nb_poller_unregister(&p), 0);
	CHECK_EQ(nb_set_thread(other), 0);
	f = (struct foreign){ .t = t };
	CHECK_EQ(pthread_create(&pt, NULL, foreign_calls, &f), 0);
	pthread_join(pt, NULL);
	CHECK_EQ(f.set_rc, 0); /* bound there ... */
	CHECK_EQ(f.poll_rc >= 0, 1);
	/* ... and that OS thread ended without unbinding: its binding ended with it */
	CHECK_EQ(nb_set_thread(t), 0);
	CHECK(nb_get_current_thread() == t);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK(nb_get_current_thread() == NULL);
	struct nb_thread *ts[2] = { t, other };
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(nb_thread_exit(ts[i]), 0);
		POLL_UNTIL(ts[i], nb_thread_is_exited(ts[i]) == 1);
		CHECK_EQ(nb_thread_destroy(ts[i]), 0);
	}
}

static void *unbind_after_bind(void *arg)
{
	struct nb_thread *t = arg;
	if (nb_set_thread(t) != 0 || nb_set_thread(NULL) != 0)
		return (void *)1;
	return NULL;
}

static void test_released_binding(void)
{
	struct nb_thread *t = nb_thread_create("released", NULL);
	CHECK(t != NULL);
	pthread_t pt;
	void *res;
	CHECK_EQ(pthread_create(&pt, NULL, unbind_after_bind, t), 0);
	pthread_join(pt, &res);
	CHECK(res == NULL);
	CHECK_EQ(nb_set_thread(t), 0); /* free again */
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(t), 0);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	CHECK_EQ(nb_thread_destroy(t), 0);
}

static void test_reactor_thread_has_one_owner(void)
{
	struct nb_thread *t = nb_thread_create("on-reactor", NULL);
	struct nb_thread *pre = nb_thread_create("bound-before", NULL);
	CHECK(t != NULL && pre != NULL);
	CHECK_EQ(nb_set_thread(pre), 0); /* bound before reactors start: adopted once unbound */
	CHECK_EQ(nb_reactors_start("0x1"), 0);
	uint64_t end = nb_get_ticks() + 5 * nb_get_ticks_hz();
	while (nb_thread_poll(t, 0, 0) != -EBUSY && nb_get_ticks() < end)
		;
	CHECK_ERR(nb_set_thread(t), -EBUSY);
	CHECK_MSG("reactor");
	CHECK(nb_get_current_thread() == pre); /* the refused call changed nothing */
	CHECK_ERR(nb_thread_poll(t, 0, 0), -EBUSY);
	CHECK_MSG("reactor");
	struct foreign f = { .t = t };
	pthread_t pt;
	CHECK_EQ(pthread_create(&pt, NULL, foreign_calls, &f), 0);
	pthread_join(pt, NULL);
	CHECK_EQ(f.set_rc, -EBUSY);
	CHECK(strstr(f.set_msg, "reactor") != NULL);

	/* `pre` is still ours: usable, while its reactor waits */
	CHECK(nb_thread_poll(pre, 0, 0) >= 0);
	struct nb_poller *p = nb_poller_register(idle_poller, NULL, 0);
	CHECK(p != NULL);
	CHECK_EQ(nb_poller_unregister(&p), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	atomic_long ran = 0;
	CHECK_EQ(nb_thread_send_msg(pre, send_race_count, &ran), 0);
	end = nb_get_ticks() + 5 * nb_get_ticks_hz();
	while (atomic_load(&ran) == 0 && nb_get_ticks() < end)
		usleep(1000);
	CHECK_EQ(atomic_load(&ran), 1); /* the reactor took it */
	CHECK_ERR(nb_thread_poll(pre, 0, 0), -EBUSY);
	CHECK_ERR(nb_set_thread(pre), -EBUSY);

	CHECK_EQ(nb_reactors_stop(), 0);
	struct nb_thread *ts[2] = { t, pre };
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(nb_thread_exit(ts[i]), 0);
		POLL_UNTIL(ts[i], nb_thread_is_exited(ts[i]) == 1);
		CHECK_EQ(nb_thread_destroy(ts[i]), 0);
	}
}

/* ---- 2. a message accepted runs, even when it races exit and destroy ---------------- */

static void test_send_races_exit_and_destroy(void)
{
	CHECK_EQ(send_race_run(nb_get_ticks() + nb_get_ticks_hz() * 3 / 2, 0), 0);
}

/* ---- 3. control messages and a full ring --------------------------------------------- */

struct opener {
	struct nb_bdev_desc *desc;
	int removed;
};

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)bdev;
	struct opener *o = ctx;
	if (type == NB_BDEV_EVENT_REMOVE) {
		o->removed++;
		CHECK_EQ(nb_bdev_close(o->desc), 0);
	}
}

static void on_destroyed(void *ctx, int status)
{
	*(int *)ctx = status == 0 ? 1 : -1;
}

static int fill_ring(struct nb_thread *t)
{
	int n = 0;
	while (nb_thread_send_msg(t, noop, NULL) == 0)
		n++;
	CHECK_ERR(nb_thread_send_msg(t, noop, NULL), -ENOMEM);
	return n;
}

static atomic_int g_visits;
static atomic_int g_each_done;
static void visit(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&g_visits, 1);
}
static void each_done(void *ctx)
{
	(void)ctx;
	atomic_store(&g_each_done, 1);
}

static void test_control_messages_survive_full_ring(void)
{
	struct nb_thread *full = nb_thread_create("full", NULL);
	struct nb_thread *ctl = nb_thread_create("ctl", NULL);
	CHECK(full != NULL && ctl != NULL);
	char name[64];
	CHECK_EQ(nb_bdev_create("malloc:///FullRing?size_mb=1", name, sizeof(name)), 0);
	struct opener o = { 0 };
	CHECK_EQ(nb_set_thread(full), 0);
	CHECK_EQ(nb_bdev_open_ext("FullRing", 0, on_event, &o, &o.desc), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);

	/* for_each_thread visits a thread whose ring is full */
	int queued = fill_ring(full);
	CHECK(queued > 0);
	CHECK_EQ(nb_set_thread(ctl), 0);
	int threads = nb_thread_count();
	CHECK_EQ(nb_for_each_thread(visit, NULL, each_done), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	uint64_t end = nb_get_ticks() + 5 * nb_get_ticks_hz();
	while (!atomic_load(&g_each_done) && nb_get_ticks() < end) {
		nb_thread_poll(ctl, 0, 0);
		nb_thread_poll(full, 1, 0); /* slowly: the ring stays nearly full */
		while (nb_thread_send_msg(full, noop, NULL) == 0)
			;
	}
	CHECK_EQ(atomic_load(&g_each_done), 1);
	CHECK_EQ(atomic_load(&g_visits), threads);

	/* REMOVE reaches the descriptor although its thread's ring is full: destroy completes */
	int destroyed = 0;
	CHECK_EQ(nb_set_thread(ctl), 0);
	CHECK_EQ(nb_bdev_destroy("FullRing", on_destroyed, &destroyed), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	end = nb_get_ticks() + 5 * nb_get_ticks_hz();
	while (destroyed == 0 && nb_get_ticks() < end) {
		nb_thread_poll(full, 0, 0);
		nb_thread_poll(ctl, 0, 0);
		while (nb_thread_send_msg(full, noop, NULL) == 0)
			;
	}
	CHECK_EQ(o.removed, 1);
	CHECK_EQ(destroyed, 1);
	struct nb_thread *ts[2] = { full, ctl };
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(nb_thread_exit(ts[i]), 0);
		POLL_UNTIL(ts[i], nb_thread_is_exited(ts[i]) == 1);
		CHECK_EQ(nb_thread_destroy(ts[i]), 0);
	}
}

/* ---- 4. a channel asked for from its own create callback ---------------------------- */

static int g_dev;
static struct nb_io_channel *g_inner = (void *)1;
static char g_inner_msg[512];
static int g_created, g_destroyed_channels, g_unregistered;

static int nested_create(void *io_device, void *ctx)
{
	(void)ctx;
	g_created++;
	g_inner = nb_get_io_channel(io_device);
	snprintf(g_inner_msg, sizeof(g_inner_msg), "%s", nb_last_error());
	return 0;
}

static void nested_destroy(void *io_device, void *ctx)
{
	(void)io_device;
	(void)ctx;
	g_destroyed_channels++;
}

static void on_unregistered(void *io_device)
{
	(void)io_device;
	g_unregistered++;
}

static void test_get_channel_inside_create(void)
{
	struct nb_thread *t = nb_thread_create("nested", NULL);
	CHECK(t != NULL);
	CHECK_EQ(nb_io_device_register(&g_dev, nested_create, nested_destroy, 16, "nested"), 0);
	CHECK_EQ(nb_set_thread(t), 0);
	struct nb_io_channel *ch = nb_get_io_channel(&g_dev);
	CHECK(ch != NULL); /* the outer get is not disturbed by the inner one */
	CHECK_EQ(g_created, 1);
	CHECK(g_inner == NULL);
	CHECK(strstr(g_inner_msg, "inside its own create callback") != NULL);
	CHECK(nb_get_io_channel(&g_dev) == ch); /* and it is the thread's one channel */
	CHECK_EQ(nb_put_io_channel(ch), 0);
	CHECK_EQ(nb_put_io_channel(ch), 0);
	CHECK_EQ(nb_io_device_unregister(&g_dev, on_unregistered), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	POLL_UNTIL(t, g_unregistered == 1);
	CHECK_EQ(g_destroyed_channels, 1);
	CHECK_EQ(nb_thread_exit(t), 0);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	CHECK_EQ(nb_thread_destroy(t), 0);
}

/* ---- 5. a forced exit lets go of the channels it held ------------------------------- */

static void ignore_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void test_forced_exit_releases_channels(void)
{
	struct nb_thread *t = nb_thread_create("holder", NULL);
	struct nb_thread *u = nb_thread_create("cleaner", NULL);
	CHECK(t != NULL && u != NULL);
	char name[64];
	CHECK_EQ(nb_bdev_create("malloc:///Held?size_mb=1", name, sizeof(name)), 0);
	struct nb_bdev_desc *desc = NULL;
	CHECK_EQ(nb_set_thread(t), 0);
	CHECK_EQ(nb_bdev_open_ext("Held", 1, ignore_event, NULL, &desc), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(desc);
	CHECK(ch != NULL);
	CHECK_EQ(nb_set_thread(NULL), 0);
	/* The host forgets the channel and asks the thread to exit: forced after 5 s */
	CHECK_EQ(nb_thread_exit(t), 0);
	uint64_t end = nb_get_ticks() + 8 * nb_get_ticks_hz();
	while (nb_thread_is_exited(t) != 1 && nb_get_ticks() < end)
		nb_thread_poll(t, 0, 0);
	CHECK_EQ(nb_thread_is_exited(t), 1);
	CHECK_ERR(nb_put_io_channel(ch), -EBADF); /* released by the forced exit */
	CHECK_EQ(nb_set_thread(u), 0);
	CHECK_EQ(nb_bdev_close(desc), 0);
	int destroyed = 0;
	CHECK_EQ(nb_bdev_destroy("Held", on_destroyed, &destroyed), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	POLL_UNTIL(u, destroyed != 0);
	CHECK_EQ(destroyed, 1);
	CHECK_EQ(nb_thread_destroy(t), 0);
	CHECK_EQ(nb_thread_exit(u), 0);
	POLL_UNTIL(u, nb_thread_is_exited(u) == 1);
	CHECK_EQ(nb_thread_destroy(u), 0);
}

/* ---- 6. a nested poll of the same thread says so -------------------------------------- */

static int g_nested_rc = 1;
static char g_nested_msg[512];
static struct nb_poller *g_nest_poller;
static int nest_poller(void *ctx)
{
	g_nested_rc = nb_thread_poll((struct nb_thread *)ctx, 0, 0);
	snprintf(g_nested_msg, sizeof(g_nested_msg), "%s", nb_last_error());
	nb_poller_unregister(&g_nest_poller);
	return NB_POLLER_BUSY;
}

static void test_recursive_poll_message(void)
{
	struct nb_thread *t = nb_thread_create("nest", NULL);
	CHECK(t != NULL);
	CHECK_EQ(nb_set_thread(t), 0);
	g_nest_poller = nb_poller_register(nest_poller, t, 0);
	CHECK(g_nest_poller != NULL);
	CHECK_EQ(nb_set_thread(NULL), 0);
	POLL_UNTIL(t, g_nested_rc != 1);
	CHECK_EQ(g_nested_rc, -EBUSY);
	CHECK(strstr(g_nested_msg, "another OS thread") == NULL);
	CHECK(strstr(g_nested_msg, "inside a poll of the same thread") != NULL);
	CHECK_EQ(nb_thread_exit(t), 0);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	CHECK_EQ(nb_thread_destroy(t), 0);
}

static const struct {
	const char *name;
	void (*fn)(void);
} g_tests[] = {
	{ "recursive_poll", test_recursive_poll_message },
	{ "channel_in_create", test_get_channel_inside_create },
	{ "released_binding", test_released_binding },
	{ "bound_owner", test_bound_thread_has_one_owner },
	{ "reactor_owner", test_reactor_thread_has_one_owner },
	{ "send_vs_destroy", test_send_races_exit_and_destroy },
	{ "full_ring", test_control_messages_survive_full_ring },
	{ "forced_exit", test_forced_exit_releases_channels },
};

/* With an argument, runs only the test of that name. */
int main(int argc, char **argv)
{
	CHECK_EQ(nb_test_env_init(), 0);
	for (size_t i = 0; i < sizeof(g_tests) / sizeof(g_tests[0]); i++) {
		if (argc > 1 && strcmp(argv[1], g_tests[i].name) != 0)
			continue;
		printf("-- %s\n", g_tests[i].name);
		fflush(stdout);
		g_tests[i].fn();
	}
	CHECK_DONE();
}
