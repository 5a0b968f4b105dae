/* Lightweight threads in host-driven mode: messages between OS threads, pollers, io devices
 * and channels, iteration, and the error paths, through the published library. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "check.h"

#define PRODUCERS 2
#define PER_PRODUCER 200000

struct msg_state {
	uint64_t next[PRODUCERS]; /* next expected sequence number per producer */
	uint64_t received;
	int out_of_order;
};

struct msg {
	struct msg_state *state;
	int producer;
	uint64_t seq;
};

static struct msg g_msgs[PRODUCERS][PER_PRODUCER];

static void on_msg(void *ctx)
{
	struct msg *m = ctx;
	if (m->state->next[m->producer] != m->seq)
		m->state->out_of_order++;
	m->state->next[m->producer] = m->seq + 1;
	m->state->received++;
}

struct producer {
	struct nb_thread *target;
	struct msg_state *state;
	int id;
	uint64_t retries;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (uint64_t i = 0; i < PER_PRODUCER; i++) {
		struct msg *m = &g_msgs[p->id][i];
		m->state = p->state;
		m->producer = p->id;
		m->seq = i;
		int rc;
		while ((rc = nb_thread_send_msg(p->target, on_msg, m)) == -ENOMEM)
			p->retries++; /* ring full: the consumer catches up */
		if (rc != 0) {
			fprintf(stderr, "send failed: %d %s\n", rc, nb_last_error());
			exit(1);
		}
	}
	return NULL;
}

struct consumer {
	struct nb_thread *thread;
	struct msg_state *state;
};

static void *consume(void *arg)
{
	struct consumer *c = arg;
	uint64_t end = nb_get_ticks() + 30 * nb_get_ticks_hz();
	while (c->state->received < PRODUCERS * (uint64_t)PER_PRODUCER && nb_get_ticks() < end)
		nb_thread_poll(c->thread, 0, 0);
	return NULL;
}

static void test_messages_between_os_threads(void)
{
	struct nb_thread *t = nb_thread_create("consumer", NULL);
	CHECK(t != NULL);
	struct msg_state state;
	memset(&state, 0, sizeof(state));
	struct consumer c = { t, &state };
	struct producer p[PRODUCERS];
	pthread_t pt[PRODUCERS], ct;
	CHECK_EQ(pthread_create(&ct, NULL, consume, &c), 0);
	for (int i = 0; i < PRODUCERS; i++) {
		p[i] = (struct producer){ .target = t, .state = &state, .id = i };
		CHECK_EQ(pthread_create(&pt[i], NULL, produce, &p[i]), 0);
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(pt[i], NULL);
	pthread_join(ct, NULL);
	CHECK_EQ(state.received, PRODUCERS * (uint64_t)PER_PRODUCER);
	CHECK_EQ(state.out_of_order, 0);
	CHECK_EQ(nb_thread_exit(t), 0);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	CHECK_EQ(nb_thread_destroy(t), 0);
}

/* --- pollers --- */
struct poller_state {
	int runs;
	int stop_after;
	struct nb_poller *self;
};

static int count_poller(void *ctx)
{
	struct poller_state *s = ctx;
	s->runs++;
	if (s->stop_after && s->runs == s->stop_after)
		CHECK_EQ(nb_poller_unregister(&s->self), 0); /* from inside itself */
	return NB_POLLER_BUSY;
}

static void test_pollers(void)
{
	struct nb_thread *t = nb_thread_create("pollers", "0x1");
	CHECK(t != NULL);
	CHECK_NULL_ERR(nb_poller_register(count_poller, NULL, 0)); /* no current thread */
	CHECK_EQ(nb_set_thread(t), 0);
	CHECK(nb_get_current_thread() == t);
	struct poller_state active = { 0 }, timed = { 0 }, once = { .stop_after = 3 };
	struct nb_poller *pa = nb_poller_register(count_poller, &active, 0);
	struct nb_poller *pt = nb_poller_register(count_poller, &timed, 20000);
	once.self = nb_poller_register(count_poller, &once, 0);
	CHECK(pa && pt && once.self);
	CHECK_NULL_ERR(nb_poller_register(NULL, NULL, 0));
	CHECK_NULL_ERR(nb_poller_register(count_poller, NULL, UINT64_MAX));
	for (int i = 0; i < 10; i++)
		CHECK(nb_thread_poll(t, 0, 0) > 0);
	CHECK_EQ(active.runs, 10);
	CHECK_EQ(once.runs, 3);
	CHECK(once.self == NULL);
	CHECK_EQ(timed.runs, 0); /* not due yet */
	uint64_t end = nb_get_ticks() + nb_get_ticks_hz() / 5; /* 200 ms: about 10 runs */
	while (nb_get_ticks() < end)
		nb_thread_poll(t, 0, 0);
	CHECK(timed.runs >= 5 && timed.runs <= 11);
	CHECK_EQ(nb_poller_pause(pa), 0);
	int before = active.runs;
	nb_thread_poll(t, 0, 0);
	CHECK_EQ(active.runs, before);
	CHECK_EQ(nb_poller_resume(pa), 0);
	nb_thread_poll(t, 0, 0);
	CHECK_EQ(active.runs, before + 1);
	struct nb_poller *stale = pa;
	CHECK_EQ(nb_poller_unregister(&pa), 0);
	CHECK(pa == NULL);
	CHECK_ERR(nb_poller_unregister(&stale), -EBADF);
	CHECK_ERR(nb_poller_pause(stale), -EBADF);
	CHECK_ERR(nb_poller_unregister(NULL), -EINVAL);
	CHECK_ERR(nb_poller_resume(NULL), -EINVAL);
	/* Exit waits for the remaining poller. */
	CHECK_EQ(nb_thread_exit(t), 0);
	CHECK_ERR(nb_thread_exit(t), -EALREADY);
	nb_thread_poll(t, 0, 0);
	CHECK_EQ(nb_thread_is_exited(t), 0);
	CHECK_ERR(nb_thread_destroy(t), -EBUSY);
	CHECK_EQ(nb_poller_unregister(&pt), 0);
	nb_thread_poll(t, 0, 0);
	CHECK_EQ(nb_thread_is_exited(t), 1);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_destroy(t), 0);
}

/* --- io devices and channels --- */
struct dev {
	int creates, destroys, unregistered;
	int fail_create;
};
struct chctx {
	int magic;
	struct nb_thread *owner;
};

static int ch_create(void *io_device, void *ctx_buf)
{
	struct dev *d = io_device;
	struct chctx *c = ctx_buf;
	if (d->fail_create)
		return -ENOSPC;
	CHECK_EQ(c->magic, 0); /* zeroed */
	c->magic = 0x5a5a;
	c->owner = nb_get_current_thread();
	d->creates++;
	return 0;
}

static void ch_destroy(void *io_device, void *ctx_buf)
{
	struct dev *d = io_device;
	struct chctx *c = ctx_buf;
	CHECK_EQ(c->magic, 0x5a5a);
	d->destroys++;
}

static void dev_unregistered(void *io_device)
{
	((struct dev *)io_device)->unregistered++;
}

struct walk {
	int visits, done, status;
	int wrong_thread;
};

static int visit(struct nb_io_channel *ch, void *ctx)
{
	struct walk *w = ctx;
	struct chctx *c = nb_io_channel_get_ctx(ch);
	if (c->owner != nb_get_current_thread() || nb_io_channel_get_thread(ch) != c->owner)
		w->wrong_thread++;
	w->visits++;
	return 0;
}

static void walked(void *ctx, int status)
{
	struct walk *w = ctx;
	w->done++;
	w->status = status;
}

struct counter {
	int n;
};
static void count_msg(void *ctx)
{
	((struct counter *)ctx)->n++;
}

static void test_channels(void)
{
	static struct dev d;
	struct nb_thread *a = nb_thread_create("a", NULL), *b = nb_thread_create("b", NULL);
	CHECK(a && b);
	CHECK_EQ(nb_io_device_register(&d, ch_create, ch_destroy, sizeof(struct chctx), "dev"), 0);
	CHECK_ERR(nb_io_device_register(&d, ch_create, ch_destroy, 16, "dev"), -EEXIST);
	CHECK_ERR(nb_io_device_register(NULL, ch_create, ch_destroy, 16, "x"), -EINVAL);
	CHECK_ERR(nb_io_device_register((void *)8, ch_create, ch_destroy, UINT32_MAX, "x"), -EINVAL);
	CHECK_NULL_ERR(nb_get_io_channel(&d)); /* no current thread */

	CHECK_EQ(nb_set_thread(a), 0);
	struct nb_io_channel *ca = nb_get_io_channel(&d);
	struct nb_io_channel *ca2 = nb_get_io_channel(&d);
	CHECK(ca != NULL && ca == ca2);
	CHECK_EQ(d.creates, 1);
	CHECK(nb_io_channel_get_thread(ca) == a);
	CHECK_EQ(nb_set_thread(b), 0);
	struct nb_io_channel *cb = nb_get_io_channel(&d);
	CHECK(cb != NULL && cb != ca);
	CHECK_EQ(d.creates, 2);
	CHECK_ERR(nb_put_io_channel(ca), -EINVAL); /* ca belongs to a, we are b */
	CHECK_NULL_ERR(nb_get_io_channel((void *)0x1234)); /* not registered */

	/* for_each_channel from b: visits a's and b's channels, each on its own thread. */
	struct walk w = { 0 };
	CHECK_EQ(nb_for_each_channel(&d, visit, &w, walked), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	for (int i = 0; i < 10 && !w.done; i++) {
		nb_thread_poll(a, 0, 0);
		nb_thread_poll(b, 0, 0);
	}
	CHECK_EQ(w.done, 1);
	CHECK_EQ(w.visits, 2);
	CHECK_EQ(w.wrong_thread, 0);
	CHECK_EQ(w.status, 0);

	/* for_each_thread. */
	struct counter cnt = { 0 };
	struct counter fin = { 0 };
	CHECK_ERR(nb_for_each_thread(count_msg, &cnt, count_msg), -EINVAL); /* no thread */
	CHECK_EQ(nb_set_thread(a), 0);
	CHECK_EQ(nb_for_each_thread(count_msg, &cnt, NULL), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	for (int i = 0; i < 10; i++) {
		nb_thread_poll(a, 0, 0);
		nb_thread_poll(b, 0, 0);
	}
	CHECK_EQ(cnt.n, 2);
	(void)fin;

	/* Puts: a's channel has two references. */
	CHECK_EQ(nb_set_thread(a), 0);
	CHECK_EQ(nb_put_io_channel(ca), 0);
	CHECK_EQ(nb_put_io_channel(ca), 0);
	CHECK_ERR(nb_put_io_channel(ca), -EINVAL); /* no reference left */
	/* A get before the deferred destroy runs reuses the channel. */
	CHECK(nb_get_io_channel(&d) == ca);
	CHECK_EQ(nb_set_thread(NULL), 0);
	nb_thread_poll(a, 0, 0);
	CHECK_EQ(d.destroys, 0);
	CHECK_EQ(nb_set_thread(a), 0);
	CHECK_EQ(nb_io_device_unregister(&d, dev_unregistered), 0);
	CHECK_ERR(nb_io_device_unregister(&d, dev_unregistered), -ENOENT);
	CHECK_NULL_ERR(nb_get_io_channel(&d)); /* unregistering: no new channels */
	CHECK_EQ(nb_put_io_channel(ca), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	nb_thread_poll(a, 0, 0);
	CHECK_EQ(d.destroys, 1);
	CHECK_ERR(nb_put_io_channel(ca), -EBADF); /* stale now */
	CHECK(nb_io_channel_get_ctx(ca) == NULL);
	CHECK_EQ(d.unregistered, 0); /* b still holds one */
	CHECK_EQ(nb_set_thread(b), 0);
	CHECK_EQ(nb_put_io_channel(cb), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	nb_thread_poll(b, 0, 0);
	CHECK_EQ(d.destroys, 2);
	nb_thread_poll(a, 0, 0); /* the unregister callback runs on a */
	CHECK_EQ(d.unregistered, 1);

	/* A create callback that fails. */
	static struct dev f = { .fail_create = 1 };
	CHECK_EQ(nb_io_device_register(&f, ch_create, ch_destroy, 8, "failing"), 0);
	CHECK_EQ(nb_set_thread(a), 0);
	CHECK_NULL_ERR(nb_get_io_channel(&f));
	CHECK_EQ(nb_io_device_unregister(&f, NULL), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);

	struct nb_thread *ts[2] = { a, b };
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(nb_thread_exit(ts[i]), 0);
		POLL_UNTIL(ts[i], nb_thread_is_exited(ts[i]) == 1);
		CHECK_EQ(nb_thread_destroy(ts[i]), 0);
	}
}

/* --- error paths --- */
static atomic_int g_other_busy;

static void *poll_forever(void *arg)
{
	struct nb_thread *t = arg;
	uint64_t end = nb_get_ticks() + nb_get_ticks_hz() / 2;
	while (nb_get_ticks() < end)
		if (nb_thread_poll(t, 0, 0) == -EBUSY)
			atomic_fetch_add(&g_other_busy, 1);
	return NULL;
}

static int slow_poller(void *ctx)
{
	(void)ctx;
	uint64_t end = nb_get_ticks() + nb_get_ticks_hz() / 1000;
	while (nb_get_ticks() < end)
		;
	return NB_POLLER_BUSY;
}

static void test_errors(void)
{
	struct nb_thread *t = nb_thread_create("errs", NULL);
	char name[8];
	CHECK_EQ(nb_thread_get_name(t, name, sizeof(name)), 4);
	CHECK(strcmp(name, "errs") == 0);
	CHECK_EQ(nb_thread_get_name(t, name, 3), 4);
	CHECK(strcmp(name, "er") == 0);
	CHECK_ERR(nb_thread_send_msg(t, NULL, NULL), -EINVAL);
	CHECK_ERR(nb_thread_send_msg(NULL, count_msg, NULL), -EINVAL);
	CHECK_ERR(nb_thread_poll(NULL, 0, 0), -EINVAL);
	CHECK_ERR(nb_thread_poll((struct nb_thread *)(uintptr_t)0x12345678, 0, 0), -EBADF);
	CHECK_NULL_ERR(nb_thread_create("bad", "0xQ"));
	CHECK_NULL_ERR(nb_thread_create("bad", "[9-2]"));
	CHECK_ERR(nb_set_thread((struct nb_thread *)(uintptr_t)-1), -EBADF);
	CHECK_EQ(nb_thread_is_exited(t), 0);
	CHECK_ERR(nb_thread_destroy(t), -EBUSY);

	/* Two OS threads polling one thread: one of them is refused, nothing races. */
	CHECK_EQ(nb_set_thread(t), 0);
	struct nb_poller *slow = nb_poller_register(slow_poller, NULL, 0);
	CHECK(slow != NULL);
	CHECK_EQ(nb_set_thread(NULL), 0);
	pthread_t other;
	CHECK_EQ(pthread_create(&other, NULL, poll_forever, t), 0);
	int busy = 0;
	uint64_t end = nb_get_ticks() + nb_get_ticks_hz() / 4;
	while (nb_get_ticks() < end)
		busy += nb_thread_poll(t, 0, 0) == -EBUSY;
	pthread_join(other, NULL);
	/* The claim is not fair: one side may win every time, but some poll must be refused. */
	CHECK(busy + atomic_load(&g_other_busy) > 0);
	CHECK_EQ(nb_set_thread(t), 0);
	CHECK_EQ(nb_poller_unregister(&slow), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);

	CHECK_EQ(nb_thread_exit(t), 0);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	CHECK_ERR(nb_thread_send_msg(t, count_msg, NULL), -EIO);
	CHECK_EQ(nb_thread_destroy(t), 0);
	/* Stale handle after destroy. */
	CHECK_ERR(nb_thread_destroy(t), -EBADF);
	CHECK_ERR(nb_thread_exit(t), -EBADF);
	CHECK_ERR(nb_thread_poll(t, 0, 0), -EBADF);
	CHECK_ERR(nb_thread_send_msg(t, count_msg, NULL), -EBADF);
	CHECK_ERR(nb_thread_is_exited(t), -EBADF);
}

int main(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	test_messages_between_os_threads();
	test_pollers();
	test_channels();
	test_errors();
	CHECK_EQ(nb_thread_count(), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
