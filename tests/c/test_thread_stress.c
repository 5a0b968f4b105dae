/* Races, for a bounded time (about a second each): senders against exit and destroy, bdev
 * events and thread iterations against full message rings, and OS threads fighting over
 * threads (nb_set_thread, nb_thread_poll, pollers) while reactors run some of them. Each race
 * checks what the header promises: an accepted message runs, no control message is lost, a
 * thread has one owner and the others are refused with -EBUSY (never an internal error). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>
#include "check.h"
#include "send_race.h"

static uint64_t deadline_ms(int ms)
{
	return nb_get_ticks() + nb_get_ticks_hz() * (uint64_t)ms / 1000;
}

static void noop(void *ctx)
{
	(void)ctx;
}

static void destroy_thread(struct nb_thread *t)
{
	nb_thread_exit(t);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	CHECK_EQ(nb_thread_destroy(t), 0);
}

/* An error must be a refusal, never the library failing inside. */
static atomic_int g_internal_errors;
static void check_not_internal(int rc)
{
	if (rc < 0 && strncmp(nb_last_error(), "internal error: ", 16) == 0) {
		if (atomic_fetch_add(&g_internal_errors, 1) == 0)
			fprintf(stderr, "internal error: %d %s\n", rc, nb_last_error());
	}
}

/* ---- senders against exit and destroy ------------------------------------------------ */

static void race_send_exit_destroy(int ms)
{
	CHECK_EQ(send_race_run(deadline_ms(ms), 1), 0);
}

/* ---- events and iterations against full rings ----------------------------------------- */

#define OPENERS 3

struct opener {
	struct nb_thread *thread;
	struct nb_bdev_desc *desc;
	long resizes;
	int removed;
};

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)bdev;
	struct opener *o = ctx;
	if (type == NB_BDEV_EVENT_RESIZE)
		o->resizes++;
	if (type == NB_BDEV_EVENT_REMOVE) {
		o->removed++;
		CHECK_EQ(nb_bdev_close(o->desc), 0);
	}
}

struct filler {
	struct opener *o;
	atomic_int stop;
	long refused;
};

static void *fill_rings(void *arg)
{
	struct filler *f = arg;
	while (!atomic_load(&f->stop))
		for (int i = 0; i < OPENERS; i++)
			if (nb_thread_send_msg(f->o[i].thread, noop, NULL) == -ENOMEM)
				f->refused++;
	return NULL;
}

static atomic_long g_visits, g_iterations_done;
static void visit(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&g_visits, 1);
}
static void iteration_done(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&g_iterations_done, 1);
}

static void on_destroyed(void *ctx, int status)
{
	*(int *)ctx = status == 0 ? 1 : -1;
}

static void poll_openers(struct opener *o, struct nb_thread *ctl)
{
	nb_thread_poll(ctl, 0, 0);
	for (int i = 0; i < OPENERS; i++)
		nb_thread_poll(o[i].thread, 0, 0);
}

static void race_events_full_rings(int ms)
{
	struct opener o[OPENERS] = { 0 };
	struct nb_thread *ctl = nb_thread_create("ctl", NULL);
	CHECK(ctl != NULL);
	char name[64];
	CHECK_EQ(nb_bdev_create("null:///Stress?num_blocks=1000", name, sizeof(name)), 0);
	for (int i = 0; i < OPENERS; i++) {
		o[i].thread = nb_thread_create("opener", NULL);
		CHECK(o[i].thread != NULL);
		CHECK_EQ(nb_set_thread(o[i].thread), 0);
		CHECK_EQ(nb_bdev_open_ext("Stress", 0, on_event, &o[i], &o[i].desc), 0);
	}
	CHECK_EQ(nb_set_thread(NULL), 0);
	int threads = nb_thread_count();
	struct filler f = { .o = o };
	pthread_t pt;
	CHECK_EQ(pthread_create(&pt, NULL, fill_rings, &f), 0);
	long resizes = 0, iterations = 0;
	uint64_t end = deadline_ms(ms);
	while (nb_get_ticks() < end) {
		CHECK_EQ(nb_bdev_resize("Stress", 1001 + (uint64_t)(resizes % 50)), 0);
		resizes++;
		if (resizes % 8 == 0) {
			CHECK_EQ(nb_set_thread(ctl), 0);
			CHECK_EQ(nb_for_each_thread(visit, NULL, iteration_done), 0);
			CHECK_EQ(nb_set_thread(NULL), 0);
			iterations++;
		}
		poll_openers(o, ctl);
	}
	/* Everything sent is delivered though the rings stayed full */
	uint64_t settle = deadline_ms(5000);
	for (;;) {
		long got = 0;
		for (int i = 0; i < OPENERS; i++)
			got += o[i].resizes;
		if ((got == resizes * OPENERS && atomic_load(&g_iterations_done) == iterations) ||
		    nb_get_ticks() > settle)
			break;
		poll_openers(o, ctl);
	}
	for (int i = 0; i < OPENERS; i++)
		CHECK_EQ(o[i].resizes, resizes);
	CHECK_EQ(atomic_load(&g_iterations_done), iterations);
	CHECK_EQ(atomic_load(&g_visits), iterations * threads);
	int destroyed = 0;
	CHECK_EQ(nb_set_thread(ctl), 0);
	CHECK_EQ(nb_bdev_destroy("Stress", on_destroyed, &destroyed), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	settle = deadline_ms(5000);
	while (destroyed == 0 && nb_get_ticks() < settle)
		poll_openers(o, ctl);
	atomic_store(&f.stop, 1);
	pthread_join(pt, NULL);
	CHECK_EQ(destroyed, 1);
	for (int i = 0; i < OPENERS; i++)
		CHECK_EQ(o[i].removed, 1);
	printf("events vs full rings: %ld resizes x %d descriptors, %ld iterations, %ld sends refused "
	       "(ring full)\n", resizes, OPENERS, iterations, f.refused);
	for (int i = 0; i < OPENERS; i++)
		destroy_thread(o[i].thread);
	destroy_thread(ctl);
}

/* ---- OS threads fighting over threads, with reactors ----------------------------------- */

#define FIGHTERS 3
#define SHARED 2

static struct nb_thread *g_reactor_threads[2];
static struct nb_thread *g_shared[SHARED];
static atomic_int g_stop;
static atomic_long g_owned, g_refused, g_wrong_errno;

static int idle_poller(void *ctx)
{
	(void)ctx;
	return NB_POLLER_IDLE;
}

static void *fighter(void *arg)
{
	long id = (long)arg;
	unsigned seed = (unsigned)id * 7919u + 1;
	while (!atomic_load(&g_stop)) {
		/* A reactor's thread: always refused */
		struct nb_thread *rt = g_reactor_threads[rand_r(&seed) % 2];
		int rc = nb_set_thread(rt);
		check_not_internal(rc);
		if (rc != -EBUSY)
			atomic_fetch_add(&g_wrong_errno, 1);
		rc = nb_thread_poll(rt, 0, 0);
		check_not_internal(rc);
		if (rc != -EBUSY)
			atomic_fetch_add(&g_wrong_errno, 1);
		/* A host-driven thread the fighters share: one owner at a time */
		struct nb_thread *t = g_shared[rand_r(&seed) % SHARED];
		rc = nb_set_thread(t);
		check_not_internal(rc);
		if (rc == 0) {
			atomic_fetch_add(&g_owned, 1);
			struct nb_poller *p = nb_poller_register(idle_poller, NULL, (rand_r(&seed) % 2) * 100);
			if (p == NULL)
				atomic_fetch_add(&g_wrong_errno, 1);
			check_not_internal(nb_thread_poll(t, 0, 0));
			if (p != NULL && nb_poller_pause(p) != 0)
				atomic_fetch_add(&g_wrong_errno, 1);
			if (p != NULL && nb_poller_unregister(&p) != 0)
				atomic_fetch_add(&g_wrong_errno, 1);
			CHECK_EQ(nb_set_thread(NULL), 0);
		} else if (rc == -EBUSY) {
			atomic_fetch_add(&g_refused, 1);
			rc = nb_thread_poll(t, 0, 0); /* may win if the owner just let go */
			check_not_internal(rc);
			if (rc < 0 && rc != -EBUSY)
				atomic_fetch_add(&g_wrong_errno, 1);
		} else {
			atomic_fetch_add(&g_wrong_errno, 1);
		}
	}
	return NULL;
}

struct reg_ctx {
	atomic_long ran;
};

static void register_and_drop(void *ctx)
{
	struct reg_ctx *c = ctx;
	struct nb_poller *p = nb_poller_register(idle_poller, NULL, 0);
	if (p != NULL)
		nb_poller_unregister(&p);
	atomic_fetch_add(&c->ran, 1);
}

static void race_owners_with_reactors(int ms)
{
	for (int i = 0; i < SHARED; i++) {
		/* a core no reactor runs on: host-driven while reactors run */
		g_shared[i] = nb_thread_create("shared", "0x2");
		CHECK(g_shared[i] != NULL);
	}
	CHECK_EQ(nb_reactors_start("0x1"), 0);
	for (int i = 0; i < 2; i++) {
		g_reactor_threads[i] = nb_thread_create("reactor-run", NULL);
		CHECK(g_reactor_threads[i] != NULL);
		uint64_t end = deadline_ms(5000);
		while (nb_thread_poll(g_reactor_threads[i], 0, 0) != -EBUSY && nb_get_ticks() < end)
			;
	}
	pthread_t pt[FIGHTERS];
	for (long i = 0; i < FIGHTERS; i++)
		CHECK_EQ(pthread_create(&pt[i], NULL, fighter, (void *)i), 0);
	struct reg_ctx rc = { 0 };
	long sent = 0;
	uint64_t end = deadline_ms(ms);
	while (nb_get_ticks() < end) {
		/* The reactor's threads register and drop pollers meanwhile (on their own thread) */
		for (int i = 0; i < 2; i++)
			if (nb_thread_send_msg(g_reactor_threads[i], register_and_drop, &rc) == 0)
				sent++;
		usleep(200);
	}
	atomic_store(&g_stop, 1);
	for (int i = 0; i < FIGHTERS; i++)
		pthread_join(pt[i], NULL);
	uint64_t settle = deadline_ms(5000);
	while (atomic_load(&rc.ran) != sent && nb_get_ticks() < settle)
		usleep(1000);
	CHECK_EQ(nb_reactors_stop(), 0);
	printf("owners vs reactors: %ld bindings won, %ld refused, %ld reactor messages\n",
	       atomic_load(&g_owned), atomic_load(&g_refused), sent);
	CHECK_EQ(atomic_load(&rc.ran), sent);
	CHECK_EQ(atomic_load(&g_wrong_errno), 0);
	CHECK(atomic_load(&g_owned) > 0);
	for (int i = 0; i < 2; i++)
		destroy_thread(g_reactor_threads[i]);
	for (int i = 0; i < SHARED; i++)
		destroy_thread(g_shared[i]);
}

/* With an argument ("send", "events" or "owners"), runs only that race. */
int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	CHECK_EQ(nb_test_env_init(), 0);
	if (only == NULL || strcmp(only, "send") == 0)
		race_send_exit_destroy(1000);
	if (only == NULL || strcmp(only, "events") == 0)
		race_events_full_rings(1000);
	if (only == NULL || strcmp(only, "owners") == 0)
		race_owners_with_reactors(1500);
	CHECK_EQ(atomic_load(&g_internal_errors), 0);
	CHECK_EQ(nb_thread_count(), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
