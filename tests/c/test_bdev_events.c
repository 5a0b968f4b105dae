/* Bdev events through the published library: REMOVE (destroy while open, on every opening
 * thread, in-flight I/O completes, new I/O fails), RESIZE, MEDIA_MANAGEMENT, and removal
 * propagating from a base bdev to its loopback alias. */
#include <errno.h>
#include <stdint.h>
#include "check.h"

struct opener {
	struct nb_thread *thread;
	struct nb_bdev_desc *desc;
	struct nb_io_channel *ch;
	int events[3];
	int wrong_thread;
	uint64_t resized_to;
	int media;
};

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	struct opener *o = ctx;
	if (nb_get_current_thread() != o->thread)
		o->wrong_thread++;
	o->events[type]++;
	if (type == NB_BDEV_EVENT_RESIZE)
		o->resized_to = nb_bdev_get_num_blocks(bdev);
	if (type == NB_BDEV_EVENT_MEDIA_MANAGEMENT) {
		struct nb_bdev_media_event ev[8];
		int n = nb_bdev_get_media_events(o->desc, ev, 8);
		for (int i = 0; i < n; i++)
			o->media += (int)ev[i].num_blocks;
	}
}

struct io_count {
	int done;
	int failed;
};

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct io_count *c = arg;
	c->done++;
	if (status)
		c->failed++;
}

static void on_destroyed(void *ctx, int status)
{
	*(int *)ctx = status == 0 ? 1 : -1;
}

static void poll_all(struct opener *o, int n, int rounds)
{
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < n; i++)
			nb_thread_poll(o[i].thread, 0, 0);
}

static void open_on(struct opener *o, const char *name, int write)
{
	CHECK_EQ(nb_set_thread(o->thread), 0);
	CHECK_EQ(nb_bdev_open_ext(name, write, on_event, o, &o->desc), 0);
	o->ch = nb_bdev_get_io_channel(o->desc);
	CHECK(o->ch != NULL);
	CHECK_EQ(nb_set_thread(NULL), 0);
}

static void close_on(struct opener *o)
{
	CHECK_EQ(nb_set_thread(o->thread), 0);
	CHECK_EQ(nb_put_io_channel(o->ch), 0);
	CHECK_EQ(nb_bdev_close(o->desc), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
}

static void test_remove(struct opener *o)
{
	char name[64];
	CHECK_EQ(nb_bdev_create("malloc:///Gone?size_mb=4", name, sizeof(name)), 0);
	open_on(&o[0], "Gone", 1);
	open_on(&o[1], "Gone", 0);
	char *buf = nb_dma_malloc(512, 0, NULL);
	struct io_count inflight = { 0 };
	CHECK_EQ(nb_set_thread(o[0].thread), 0);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(nb_bdev_write_blocks(o[0].desc, o[0].ch, buf, i, 1, on_io, &inflight), 0);
	int destroyed = 0;
	CHECK_EQ(nb_bdev_destroy("Gone", on_destroyed, &destroyed), 0); /* cb on thread 0 */
	/* New I/O on the removing bdev: refused at once. */
	CHECK_ERR(nb_bdev_read_blocks(o[0].desc, o[0].ch, buf, 0, 1, on_io, &inflight), -ENODEV);
	CHECK_NULL_ERR(nb_bdev_get_by_name("Gone"));
	struct nb_bdev_desc *late;
	CHECK_ERR(nb_bdev_open_ext("Gone", 0, on_event, &o[0], &late), -ENODEV);
	CHECK_EQ(nb_set_thread(NULL), 0);
	poll_all(o, 2, 5);
	/* Every descriptor heard REMOVE on its own thread; the in-flight writes completed. */
	CHECK_EQ(o[0].events[NB_BDEV_EVENT_REMOVE], 1);
	CHECK_EQ(o[1].events[NB_BDEV_EVENT_REMOVE], 1);
	CHECK_EQ(o[0].wrong_thread + o[1].wrong_thread, 0);
	CHECK_EQ(inflight.done, 8);
	CHECK_EQ(inflight.failed, 0);
	/* Not destroyed while descriptors are open. */
	CHECK_EQ(destroyed, 0);
	close_on(&o[1]);
	poll_all(o, 2, 5);
	CHECK_EQ(destroyed, 0);
	close_on(&o[0]);
	poll_all(o, 2, 5);
	CHECK_EQ(destroyed, 1);
	nb_dma_free(buf);
}

/* A descriptor whose opening thread exited without closing it: nothing can ever close it
 * there, so the removal closes it on the thread's behalf and completes. */
static void test_remove_after_opener_exited(struct opener *o)
{
	char name[64];
	CHECK_EQ(nb_bdev_create("null:///Orphaned?num_blocks=64", name, sizeof(name)), 0);
	struct nb_thread *gone = nb_thread_create("gone", NULL);
	CHECK(gone != NULL);
	struct opener orphan = { .thread = gone };
	CHECK_EQ(nb_set_thread(gone), 0);
	CHECK_EQ(nb_bdev_open_ext("Orphaned", 0, on_event, &orphan, &orphan.desc), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(gone), 0);
	POLL_UNTIL(gone, nb_thread_is_exited(gone) == 1);
	int destroyed = 0;
	CHECK_EQ(nb_set_thread(o[0].thread), 0);
	CHECK_EQ(nb_bdev_destroy("Orphaned", on_destroyed, &destroyed), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	poll_all(o, 1, 10);
	CHECK_EQ(destroyed, 1);
	CHECK_EQ(orphan.events[NB_BDEV_EVENT_REMOVE], 0); /* its thread is gone: no callback ran */
	CHECK_EQ(nb_thread_destroy(gone), 0);
}

static void test_resize_and_media(struct opener *o)
{
	char name[64];
	CHECK_EQ(nb_bdev_create("null:///Grow?num_blocks=1000", name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_create("malloc:///Mal?num_blocks=1000", name, sizeof(name)), 0);
	open_on(&o[0], "Grow", 1);
	open_on(&o[1], "Grow", 0);
	CHECK_EQ(nb_bdev_resize("Grow", 5000), 0);
	poll_all(o, 2, 3);
	CHECK_EQ(o[0].events[NB_BDEV_EVENT_RESIZE], 1);
	CHECK_EQ(o[1].events[NB_BDEV_EVENT_RESIZE], 1);
	CHECK_EQ(o[0].resized_to, 5000);
	CHECK_ERR(nb_bdev_resize("Grow", 0), -EINVAL);
	CHECK_ERR(nb_bdev_resize("Nope", 10), -ENODEV);
	/* I/O past the old end now works. */
	struct io_count c = { 0 };
	char *buf = nb_dma_malloc(512, 0, NULL);
	CHECK_EQ(nb_set_thread(o[0].thread), 0);
	CHECK_EQ(nb_bdev_read_blocks(o[0].desc, o[0].ch, buf, 4000, 1, on_io, &c), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	poll_all(o, 2, 3);
	CHECK_EQ(c.done, 1);
	/* Malloc shrinks and grows back, not beyond what it was created with. */
	CHECK_EQ(nb_bdev_resize("Mal", 500), 0);
	CHECK_EQ(nb_bdev_get_num_blocks(nb_bdev_get_by_name("Mal")), 500);
	CHECK_EQ(nb_bdev_resize("Mal", 1000), 0);
	CHECK_ERR(nb_bdev_resize("Mal", 1001), -ENOSPC);

	struct nb_bdev *grow = nb_bdev_get_by_name("Grow");
	CHECK_EQ(nb_bdev_notify_media_management(grow, 10, 5), 0);
	CHECK_ERR(nb_bdev_notify_media_management(grow, 4999, 5), -EINVAL);
	CHECK_ERR(nb_bdev_notify_media_management(NULL, 0, 1), -EINVAL);
	poll_all(o, 2, 3);
	CHECK_EQ(o[0].events[NB_BDEV_EVENT_MEDIA_MANAGEMENT] + o[1].events[NB_BDEV_EVENT_MEDIA_MANAGEMENT], 2);
	CHECK_EQ(o[0].media + o[1].media, 5); /* the one range, taken by whoever read first */
	CHECK_ERR(nb_bdev_get_media_events(o[0].desc, NULL, 1), -EINVAL);

	close_on(&o[0]);
	close_on(&o[1]);
	nb_dma_free(buf);
	CHECK_EQ(nb_set_thread(o[0].thread), 0);
	CHECK_EQ(nb_bdev_destroy("Grow", NULL, NULL), 0);
	CHECK_EQ(nb_bdev_destroy("Mal", NULL, NULL), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	poll_all(o, 2, 5);
}

static void test_loopback_follows_base(struct opener *o)
{
	char name[64];
	CHECK_EQ(nb_bdev_create("malloc:///Base?size_mb=4", name, sizeof(name)), 0);
	CHECK_ERR(nb_bdev_create("loopback:///Base", name, sizeof(name)), -EINVAL); /* needs a thread */
	CHECK_EQ(nb_set_thread(o[0].thread), 0);
	CHECK_EQ(nb_bdev_create("loopback:///Base", name, sizeof(name)), 0);
	CHECK(strcmp(name, "Base_loop") == 0);
	CHECK_EQ(nb_bdev_create("bdev:///Base?name=Alias2", name, sizeof(name)), 0);
	CHECK_ERR(nb_bdev_create("bdev:///Base?name=Alias2", name, sizeof(name)), -EEXIST);
	CHECK_ERR(nb_bdev_create("bdev:///Base?colour=red", name, sizeof(name)), -EINVAL);
	CHECK_EQ(nb_set_thread(NULL), 0);
	open_on(&o[1], "Base_loop", 1);

	/* Data written through the alias is in the base. */
	char *w = nb_dma_malloc(512, 0, NULL), *r = nb_dma_zmalloc(512, 0, NULL);
	memset(w, 0x6b, 512);
	struct io_count c = { 0 };
	CHECK_EQ(nb_set_thread(o[1].thread), 0);
	CHECK_EQ(nb_bdev_write_blocks(o[1].desc, o[1].ch, w, 7, 1, on_io, &c), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	poll_all(o, 2, 3);
	CHECK_EQ(c.done, 1);
	open_on(&o[0], "Base", 0);
	CHECK_EQ(nb_set_thread(o[0].thread), 0);
	CHECK_EQ(nb_bdev_read_blocks(o[0].desc, o[0].ch, r, 7, 1, on_io, &c), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	poll_all(o, 2, 3);
	CHECK_EQ(c.done, 2);
	CHECK(memcmp(w, r, 512) == 0);

	/* Destroying the base removes the aliases: their holders hear REMOVE. */
	int destroyed = 0;
	memset(o[1].events, 0, sizeof(o[1].events));
	CHECK_EQ(nb_set_thread(o[0].thread), 0);
	CHECK_EQ(nb_bdev_destroy("Base", on_destroyed, &destroyed), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	poll_all(o, 2, 5);
	CHECK_EQ(o[1].events[NB_BDEV_EVENT_REMOVE], 1);
	CHECK_NULL_ERR(nb_bdev_get_by_name("Alias2"));
	close_on(&o[1]);
	close_on(&o[0]);
	poll_all(o, 2, 10);
	CHECK_EQ(destroyed, 1);
	CHECK(nb_bdev_first() == NULL);
	nb_dma_free(w);
	nb_dma_free(r);
}

int main(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	struct opener o[2];
	memset(o, 0, sizeof(o));
	o[0].thread = nb_thread_create("t0", NULL);
	o[1].thread = nb_thread_create("t1", NULL);
	test_remove(o);
	test_remove_after_opener_exited(o);
	memset(o[0].events, 0, sizeof(o[0].events));
	memset(o[1].events, 0, sizeof(o[1].events));
	test_resize_and_media(o);
	test_loopback_follows_base(o);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(nb_thread_exit(o[i].thread), 0);
		POLL_UNTIL(o[i].thread, nb_thread_is_exited(o[i].thread) == 1);
		CHECK_EQ(nb_thread_destroy(o[i].thread), 0);
	}
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
