/* The bdev API through the published library: creation from URIs and every creation error,
 * look-up and properties, open/close/claims, every I/O call and its errors, io wait,
 * statistics, reset ordering, resubmission from a callback. Host-driven on one thread. */
#include <errno.h>
#include <stdint.h>
#include <sys/uio.h>
#include "check.h"

static struct nb_thread *g_t;

struct io_result {
	int done;
	int status;
	int type;
	int sct, sc;
};

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	struct io_result *r = arg;
	r->done++;
	r->status = status;
	r->type = nb_bdev_io_get_type(io);
	uint32_t cdw0;
	nb_bdev_io_get_nvme_status(io, &cdw0, &r->sct, &r->sc);
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)bdev;
	int *events = ctx;
	events[type]++;
}

static int wait_done(struct io_result *r, int want)
{
	POLL_UNTIL(g_t, r->done >= want);
	return r->status;
}

static void test_create_errors(void)
{
	char name[NB_BDEV_NAME_MAX];
	CHECK_ERR(nb_bdev_create(NULL, name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("nothing-here", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("floppy:///a?size_mb=1", name, sizeof(name)), -ENOTSUP);
	CHECK(strstr(nb_last_error(), "malloc") != NULL); /* lists the known schemes */
	CHECK_ERR(nb_bdev_create("malloc:///?size_mb=1", name, sizeof(name)), -EINVAL); /* no name */
	CHECK_ERR(nb_bdev_create("malloc:///m", name, sizeof(name)), -EINVAL);           /* no size */
	CHECK_ERR(nb_bdev_create("malloc:///m?size_mb=1&num_blocks=8", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("malloc:///m?size_mb=abc", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("malloc:///m?size_mb=0", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("malloc:///m?size_mb=-1", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("malloc:///m?size_mb=1&blk_size=1000", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("malloc:///m?size_mb=1&blk_size=256", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("malloc:///m?size_mb=1&blk_size=131072", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("malloc:///m?size=1000&blk_size=512", name, sizeof(name)), -EINVAL);
	CHECK(strstr(nb_last_error(), "multiple") != NULL);
	CHECK_ERR(nb_bdev_create("malloc:///m?size_mb=1&blksize=512", name, sizeof(name)), -EINVAL);
	CHECK(strstr(nb_last_error(), "blksize") != NULL); /* the typo is named */
	CHECK_ERR(nb_bdev_create("malloc:///m?size_mb=1&uuid=not-a-uuid", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("malloc:///m?size_mb=1&size_mb=2", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("malloc:///m?size_mb=%zz", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("null:///n?size_mb=99999999999", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("malloc:///huge?size_mb=1048576", name, sizeof(name)), -ENOMEM);
	CHECK_ERR(nb_bdev_create("bdev:///does_not_exist", name, sizeof(name)), -ENODEV);
	CHECK_ERR(nb_bdev_create("loopback:///", name, sizeof(name)), -EINVAL);
	CHECK(nb_bdev_first() == NULL); /* none of that created anything */
}

static void test_create_and_properties(void)
{
	char name[NB_BDEV_NAME_MAX];
	CHECK_EQ(nb_bdev_create("malloc:///Malloc0?size_mb=4&blk_size=4096&uuid=3f6a7c2e-1d4b-4e8a-9c1f-2b3d4e5f6a7b",
				name, sizeof(name)), 0);
	CHECK(strcmp(name, "Malloc0") == 0);
	CHECK_ERR(nb_bdev_create("malloc:///Malloc0?size_mb=4", name, sizeof(name)), -EEXIST);
	CHECK_ERR(nb_bdev_create("null:///other?size_mb=4&uuid=3f6a7c2e-1d4b-4e8a-9c1f-2b3d4e5f6a7b", name,
				 sizeof(name)), -EEXIST); /* same UUID */
	CHECK_EQ(nb_bdev_create("null:///Null0?num_blocks=1000", name, 4), 0);
	CHECK(strcmp(name, "Nul") == 0); /* truncated copy */
	CHECK_EQ(nb_bdev_create("null:///Null1?size=3M&blk_size=1024", NULL, 0), 0);

	struct nb_bdev *m = nb_bdev_get_by_name("Malloc0");
	CHECK(m != NULL);
	CHECK(nb_bdev_get_by_name("3f6a7c2e-1d4b-4e8a-9c1f-2b3d4e5f6a7b") == m); /* by UUID */
	CHECK_NULL_ERR(nb_bdev_get_by_name("nope"));
	CHECK_NULL_ERR(nb_bdev_get_by_name(NULL));
	CHECK(strcmp(nb_bdev_get_name(m), "Malloc0") == 0);
	CHECK_EQ(nb_bdev_get_block_size(m), 4096);
	CHECK_EQ(nb_bdev_get_num_blocks(m), 1024);
	CHECK_EQ(nb_bdev_get_num_blocks(nb_bdev_get_by_name("Null0")), 1000);
	CHECK_EQ(nb_bdev_get_num_blocks(nb_bdev_get_by_name("Null1")), 3072);
	CHECK_EQ(nb_bdev_io_type_supported(m, NB_BDEV_IO_TYPE_READ), 1);
	CHECK_EQ(nb_bdev_io_type_supported(m, NB_BDEV_IO_TYPE_UNMAP), 1);
	CHECK_EQ(nb_bdev_io_type_supported(m, NB_BDEV_IO_TYPE_NVME_ADMIN), 0);
	CHECK_EQ(nb_bdev_io_type_supported(m, 999), 0);
	CHECK_ERR(nb_bdev_io_type_supported(NULL, 1), -EINVAL);

	struct nb_bdev_info info;
	memset(&info, 0, sizeof(info));
	info.info_size = sizeof(info);
	CHECK_EQ(nb_bdev_get_info(m, &info), 0);
	CHECK(strcmp(info.name, "Malloc0") == 0);
	CHECK(strcmp(info.uuid, "3f6a7c2e-1d4b-4e8a-9c1f-2b3d4e5f6a7b") == 0);
	CHECK(strcmp(info.driver, "malloc") == 0);
	CHECK(strlen(info.product_name) > 0);
	CHECK_EQ(info.block_size, 4096);
	CHECK_EQ(info.num_blocks, 1024);
	CHECK_EQ(info.size_bytes, 4u << 20);
	CHECK_EQ(info.required_alignment, 1);
	CHECK(info.io_types & (1u << NB_BDEV_IO_TYPE_WRITE_ZEROES));
	CHECK_ERR(nb_bdev_get_info(m, NULL), -EINVAL);
	struct nb_bdev_info bad = { .info_size = 0 };
	CHECK_ERR(nb_bdev_get_info(m, &bad), -EINVAL);

	/* Iteration sees all three, in creation order. */
	int n = 0;
	for (struct nb_bdev *b = nb_bdev_first(); b; b = nb_bdev_next(b))
		n++;
	CHECK_EQ(n, 3);
	CHECK(nb_bdev_first() == m);
}

static void test_open_close_claim(void)
{
	static int events[3];
	struct nb_bdev_desc *d = NULL, *ro = NULL, *d2 = NULL;
	CHECK_ERR(nb_bdev_open_ext("Malloc0", 1, on_event, events, NULL), -EINVAL);
	CHECK_ERR(nb_bdev_open_ext("Malloc0", 1, NULL, events, &d), -EINVAL); /* event_cb required */
	CHECK_ERR(nb_bdev_open_ext("missing", 1, on_event, events, &d), -ENODEV);
	CHECK_ERR(nb_bdev_open_ext(NULL, 1, on_event, events, &d), -EINVAL);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_ERR(nb_bdev_open_ext("Malloc0", 1, on_event, events, &d), -EINVAL); /* no thread */
	CHECK_EQ(nb_set_thread(g_t), 0);
	CHECK_EQ(nb_bdev_open_ext("Malloc0", 1, on_event, events, &d), 0);
	CHECK_EQ(nb_bdev_open_ext("Malloc0", 0, on_event, events, &ro), 0);
	CHECK(nb_bdev_desc_get_bdev(d) == nb_bdev_get_by_name("Malloc0"));
	CHECK_ERR(nb_bdev_claim(ro, "vbdev"), -EPERM);   /* read-only */
	CHECK_EQ(nb_bdev_open_ext("Malloc0", 1, on_event, events, &d2), 0);
	CHECK_ERR(nb_bdev_claim(d, "vbdev"), -EPERM);    /* another writer is open */
	CHECK_EQ(nb_bdev_close(d2), 0);
	CHECK_EQ(nb_bdev_claim(d, "vbdev"), 0);
	CHECK_ERR(nb_bdev_claim(d, "other"), -EPERM);
	CHECK_ERR(nb_bdev_open_ext("Malloc0", 1, on_event, events, &d2), -EPERM); /* claimed */
	CHECK(strstr(nb_last_error(), "vbdev") != NULL);
	struct nb_bdev_info info = { .info_size = sizeof(info) };
	CHECK_EQ(nb_bdev_get_info(nb_bdev_get_by_name("Malloc0"), &info), 0);
	CHECK_EQ(info.claimed, 1);
	CHECK_EQ(info.open_descriptors, 2);
	CHECK_ERR(nb_bdev_release_claim(ro), -EINVAL);
	CHECK_EQ(nb_bdev_release_claim(d), 0);
	CHECK_EQ(nb_bdev_open_ext("Malloc0", 1, on_event, events, &d2), 0);
	CHECK_EQ(nb_bdev_close(d2), 0);
	CHECK_EQ(nb_bdev_close(d), 0);
	CHECK_EQ(nb_bdev_close(ro), 0);
	CHECK_ERR(nb_bdev_close(d), -EBADF);
	CHECK_ERR(nb_bdev_close(NULL), -EINVAL);
	CHECK(nb_bdev_desc_get_bdev(d) == NULL);
	CHECK_NULL_ERR(nb_bdev_get_io_channel(d));
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void test_io(void)
{
	static int events[3];
	struct nb_bdev_desc *d, *ro;
	CHECK_EQ(nb_bdev_open_ext("Malloc0", 1, on_event, events, &d), 0);
	CHECK_EQ(nb_bdev_open_ext("Malloc0", 0, on_event, events, &ro), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	CHECK(ch != NULL);
	CHECK(nb_bdev_get_io_channel(ro) == ch); /* one channel per bdev per thread */
	const uint32_t bs = 4096;
	uint8_t *w = nb_dma_malloc(4 * bs, 0, NULL), *r = nb_dma_zmalloc(4 * bs, 0, NULL);
	struct io_result res = { 0 };

	/* write, read back, compare; bytes and blocks variants */
	fill(w, 4 * bs, 1);
	CHECK_EQ(nb_bdev_write_blocks(d, ch, w, 10, 2, on_io, &res), 0);
	CHECK_EQ(res.done, 0); /* never completes inside submit */
	CHECK_EQ(wait_done(&res, 1), 0);
	CHECK_EQ(res.type, NB_BDEV_IO_TYPE_WRITE);
	CHECK_EQ(res.sct, 0);
	CHECK_EQ(res.sc, 0);
	CHECK_EQ(nb_bdev_read(ro, ch, r, 10 * bs, 2 * bs, on_io, &res), 0);
	CHECK_EQ(wait_done(&res, 2), 0);
	CHECK(memcmp(w, r, 2 * bs) == 0);

	/* vectored: three pieces of uneven size */
	fill(w, 4 * bs, 2);
	struct iovec wv[3] = { { w, 1000 }, { w + 1000, 5000 }, { w + 6000, 3 * bs - 6000 } };
	CHECK_EQ(nb_bdev_writev(d, ch, wv, 3, 100 * bs, 3 * bs, on_io, &res), 0);
	CHECK_EQ(wait_done(&res, 3), 0);
	memset(r, 0, 4 * bs);
	struct iovec rv[2] = { { r, 7 }, { r + 7, 3 * bs - 7 } };
	CHECK_EQ(nb_bdev_readv_blocks(d, ch, rv, 2, 100, 3, on_io, &res), 0);
	CHECK_EQ(wait_done(&res, 4), 0);
	CHECK(memcmp(w, r, 3 * bs) == 0);
	CHECK_EQ(nb_bdev_writev_blocks(d, ch, wv, 3, 200, 3, on_io, &res), 0);
	CHECK_EQ(wait_done(&res, 5), 0);
	CHECK_EQ(nb_bdev_readv(d, ch, rv, 2, 200 * bs, 3 * bs, on_io, &res), 0);
	CHECK_EQ(wait_done(&res, 6), 0);
	CHECK(memcmp(w, r, 3 * bs) == 0);

	/* unmap and write_zeroes read back as zeros */
	CHECK_EQ(nb_bdev_write_blocks(d, ch, w, 300, 4, on_io, &res), 0);
	CHECK_EQ(wait_done(&res, 7), 0);
	CHECK_EQ(nb_bdev_unmap_blocks(d, ch, 300, 2, on_io, &res), 0);
	CHECK_EQ(wait_done(&res, 8), 0);
	CHECK_EQ(nb_bdev_write_zeroes(d, ch, 302 * bs, bs, on_io, &res), 0);
	CHECK_EQ(wait_done(&res, 9), 0);
	CHECK_EQ(nb_bdev_read_blocks(d, ch, r, 300, 4, on_io, &res), 0);
	CHECK_EQ(wait_done(&res, 10), 0);
	for (uint32_t i = 0; i < 3 * bs; i++)
		CHECK_EQ(r[i], 0);
	CHECK(memcmp(r + 3 * bs, w + 3 * bs, bs) == 0); /* the fourth block untouched */
	CHECK_EQ(nb_bdev_unmap(d, ch, 0, bs, on_io, &res), 0);
	CHECK_EQ(nb_bdev_write_zeroes_blocks(d, ch, 1, 1, on_io, &res), 0);
	CHECK_EQ(nb_bdev_flush(d, ch, 0, 0, on_io, &res), 0);
	CHECK_EQ(nb_bdev_flush_blocks(d, ch, 0, 1024, on_io, &res), 0);
	CHECK_EQ(wait_done(&res, 14), 0);

	/* submission errors: the callback never runs */
	int before = res.done;
	CHECK_ERR(nb_bdev_read_blocks(d, ch, r, 1024, 1, on_io, &res), -EINVAL);    /* past the end */
	CHECK_ERR(nb_bdev_read_blocks(d, ch, r, 1023, 2, on_io, &res), -EINVAL);
	CHECK_ERR(nb_bdev_read_blocks(d, ch, r, UINT64_MAX, 2, on_io, &res), -EINVAL); /* overflow */
	CHECK_ERR(nb_bdev_read_blocks(d, ch, r, 0, 0, on_io, &res), -EINVAL);       /* empty */
	CHECK_ERR(nb_bdev_read(d, ch, r, 100, bs, on_io, &res), -EINVAL);           /* not block aligned */
	CHECK_ERR(nb_bdev_read(d, ch, r, 0, 100, on_io, &res), -EINVAL);
	CHECK_ERR(nb_bdev_read_blocks(d, ch, NULL, 0, 1, on_io, &res), -EINVAL);    /* NULL buffer */
	CHECK_ERR(nb_bdev_read_blocks(d, ch, r, 0, 1, NULL, &res), -EINVAL);        /* NULL callback */
	CHECK_ERR(nb_bdev_readv_blocks(d, ch, NULL, 1, 0, 1, on_io, &res), -EINVAL);
	CHECK_ERR(nb_bdev_readv_blocks(d, ch, rv, 0, 0, 1, on_io, &res), -EINVAL);  /* iovcnt 0 */
	CHECK_ERR(nb_bdev_readv_blocks(d, ch, rv, 100000, 0, 1, on_io, &res), -EINVAL);
	CHECK_ERR(nb_bdev_readv_blocks(d, ch, rv, -1, 0, 1, on_io, &res), -EINVAL);
	CHECK_ERR(nb_bdev_readv_blocks(d, ch, rv, 2, 0, 1, on_io, &res), -EINVAL);  /* length mismatch */
	struct iovec nullv[1] = { { NULL, bs } };
	CHECK_ERR(nb_bdev_readv_blocks(d, ch, nullv, 1, 0, 1, on_io, &res), -EINVAL);
	CHECK_ERR(nb_bdev_write_blocks(ro, ch, w, 0, 1, on_io, &res), -EBADF);      /* read-only */
	CHECK_ERR(nb_bdev_unmap_blocks(ro, ch, 0, 1, on_io, &res), -EBADF);
	CHECK_ERR(nb_bdev_write_blocks(NULL, ch, w, 0, 1, on_io, &res), -EINVAL);
	CHECK_ERR(nb_bdev_write_blocks(d, NULL, w, 0, 1, on_io, &res), -EINVAL);
	CHECK_ERR(nb_bdev_write_blocks((struct nb_bdev_desc *)ch, ch, w, 0, 1, on_io, &res), -EBADF);
	CHECK_ERR(nb_bdev_write_blocks(d, (struct nb_io_channel *)d, w, 0, 1, on_io, &res), -EBADF);
	CHECK_EQ(res.done, before);

	/* A channel of another bdev, and a channel used from a thread that does not own it. */
	struct nb_bdev_desc *nd;
	CHECK_EQ(nb_bdev_open_ext("Null0", 1, on_event, events, &nd), 0);
	struct nb_io_channel *nch = nb_bdev_get_io_channel(nd);
	CHECK_ERR(nb_bdev_read_blocks(d, nch, r, 0, 1, on_io, &res), -EINVAL);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_ERR(nb_bdev_read_blocks(d, ch, r, 0, 1, on_io, &res), -EINVAL);
	CHECK(strstr(nb_last_error(), "thread") != NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
	CHECK_EQ(nb_put_io_channel(nch), 0);
	CHECK_EQ(nb_bdev_close(nd), 0);

	/* Batch: three I/Os in one call; a bad fourth stops the batch there. */
	fill(w, 4 * bs, 9);
	struct nb_bdev_io_request reqs[4] = {
		{ .io_type = NB_BDEV_IO_TYPE_WRITE, .buf = w, .offset_blocks = 500, .num_blocks = 1, .cb = on_io, .cb_arg = &res },
		{ .io_type = NB_BDEV_IO_TYPE_WRITE, .iovcnt = 3, .iov = wv, .offset_blocks = 501, .num_blocks = 3, .cb = on_io, .cb_arg = &res },
		{ .io_type = NB_BDEV_IO_TYPE_FLUSH, .offset_blocks = 0, .num_blocks = 0, .cb = on_io, .cb_arg = &res },
		{ .io_type = NB_BDEV_IO_TYPE_READ, .buf = r, .offset_blocks = 5000, .num_blocks = 1, .cb = on_io, .cb_arg = &res },
	};
	before = res.done;
	CHECK_EQ(nb_bdev_submit_batch(d, ch, reqs, 4), 3);
	CHECK_EQ(wait_done(&res, before + 3), 0);
	CHECK_ERR(nb_bdev_submit_batch(d, ch, reqs + 3, 1), -EINVAL);
	CHECK_ERR(nb_bdev_submit_batch(d, ch, NULL, 1), -EINVAL);
	CHECK_ERR(nb_bdev_submit_batch(d, ch, reqs, 0), -EINVAL);
	CHECK_EQ(nb_bdev_read_blocks(d, ch, r, 500, 4, on_io, &res), 0);
	CHECK_EQ(wait_done(&res, before + 4), 0);
	CHECK(memcmp(r, w, bs) == 0 && memcmp(r + bs, w, 3 * bs) == 0);

	CHECK_EQ(nb_put_io_channel(ch), 0);
	CHECK_EQ(nb_put_io_channel(ch), 0);
	nb_thread_poll(g_t, 0, 0);
	CHECK_EQ(nb_bdev_close(d), 0);
	CHECK_EQ(nb_bdev_close(ro), 0);
	nb_dma_free(w);
	nb_dma_free(r);
}

/* --- io wait and resubmission from the callback --- */
struct chain {
	struct nb_bdev_desc *d;
	struct nb_io_channel *ch;
	uint8_t *buf;
	int left;
	int done;
	int failed;
};

static void chain_cb(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct chain *c = arg;
	if (status)
		c->failed++;
	if (--c->left > 0) {
		if (nb_bdev_read_blocks(c->d, c->ch, c->buf, (uint64_t)c->left % 1000, 1, chain_cb, c) != 0)
			c->failed++;
	} else {
		c->done = 1;
	}
}

struct waiter {
	struct nb_bdev_io_wait_entry entry;
	struct chain *c;
	int called;
};

static void io_ready(void *arg)
{
	struct waiter *w = arg;
	w->called++;
	CHECK_EQ(nb_bdev_read_blocks(w->c->d, w->c->ch, w->c->buf, 0, 1, chain_cb, w->c), 0);
}

static void test_resubmit_and_io_wait(void)
{
	static int events[3];
	struct chain c = { 0 };
	CHECK_EQ(nb_bdev_open_ext("Null0", 0, on_event, events, &c.d), 0);
	c.ch = nb_bdev_get_io_channel(c.d);
	c.buf = nb_dma_malloc(512, 0, NULL);
	c.left = 100000;
	CHECK_EQ(nb_bdev_read_blocks(c.d, c.ch, c.buf, 0, 1, chain_cb, &c), 0);
	POLL_UNTIL(g_t, c.done);
	CHECK_EQ(c.failed, 0);

	/* Exhaust the channel's pool: -ENOMEM, then io_wait calls back when one frees up. */
	struct chain many = { .d = c.d, .ch = c.ch, .buf = c.buf, .left = 1 };
	int submitted = 0, rc;
	while ((rc = nb_bdev_read_blocks(c.d, c.ch, c.buf, 0, 1, chain_cb, &many)) == 0)
		submitted++;
	CHECK_EQ(rc, -ENOMEM);
	CHECK(submitted >= 128);
	struct nb_bdev *null0 = nb_bdev_get_by_name("Null0");
	struct waiter wt = { .entry = { .bdev = null0, .cb_fn = io_ready }, .c = &many };
	wt.entry.cb_arg = &wt;
	CHECK_ERR(nb_bdev_queue_io_wait(NULL, c.ch, &wt.entry), -EINVAL);
	CHECK_ERR(nb_bdev_queue_io_wait(null0, c.ch, NULL), -EINVAL);
	CHECK_ERR(nb_bdev_queue_io_wait(nb_bdev_get_by_name("Malloc0"), c.ch, &wt.entry), -EINVAL);
	CHECK_EQ(nb_bdev_queue_io_wait(null0, c.ch, &wt.entry), 0);
	many.left = submitted + 2;
	POLL_UNTIL(g_t, wt.called == 1 && many.left <= 0);
	struct nb_bdev_io_stat st = { .stat_size = sizeof(st) };
	do {
		nb_thread_poll(g_t, 0, 0);
		CHECK_EQ(nb_bdev_channel_get_io_stat(c.ch, &st), 0);
	} while (st.queue_depth > 0);
	CHECK_EQ(many.failed, 0);
	/* Queueing a wait when I/Os are free is a misuse. */
	CHECK_ERR(nb_bdev_queue_io_wait(null0, c.ch, &wt.entry), -EINVAL);
	nb_dma_free(c.buf);
	CHECK_EQ(nb_put_io_channel(c.ch), 0);
	CHECK_EQ(nb_bdev_close(c.d), 0);
}

/* --- statistics and reset --- */
static void on_reset_stats(void *ctx, int status)
{
	*(int *)ctx = status == 0 ? 1 : -1;
}

static void test_stats_and_reset(void)
{
	static int events[3];
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_open_ext("Null1", 1, on_event, events, &d), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	uint8_t *buf = nb_dma_malloc(8192, 0, NULL);
	struct io_result res = { 0 };
	for (int i = 0; i < 10; i++)
		CHECK_EQ(nb_bdev_read_blocks(d, ch, buf, i, 2, on_io, &res), 0);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(nb_bdev_write_blocks(d, ch, buf, i, 1, on_io, &res), 0);
	CHECK_EQ(nb_bdev_unmap_blocks(d, ch, 0, 8, on_io, &res), 0);
	/* A reset submitted now waits for the 16 in flight, then completes after them. */
	struct io_result reset = { 0 };
	CHECK_EQ(nb_bdev_reset(d, ch, on_io, &reset), 0);
	CHECK_EQ(nb_bdev_reset(NULL, ch, on_io, &reset), -EINVAL);
	POLL_UNTIL(g_t, reset.done == 1);
	CHECK_EQ(res.done, 16);
	CHECK_EQ(reset.type, NB_BDEV_IO_TYPE_RESET);

	struct nb_bdev_io_stat st;
	memset(&st, 0, sizeof(st));
	st.stat_size = sizeof(st);
	struct nb_bdev *b = nb_bdev_get_by_name("Null1");
	CHECK_EQ(nb_bdev_get_io_stat(b, &st), 0);
	CHECK_EQ(st.num_read_ops, 10);
	CHECK_EQ(st.bytes_read, 10 * 2048);
	CHECK_EQ(st.num_write_ops, 5);
	CHECK_EQ(st.bytes_written, 5 * 1024);
	CHECK_EQ(st.num_unmap_ops, 1);
	CHECK_EQ(st.bytes_unmapped, 8 * 1024);
	CHECK_EQ(st.num_reset_ops, 1);
	CHECK_EQ(st.num_ops, 17);
	CHECK_EQ(st.queue_depth, 0);
	CHECK(st.ticks_rate == nb_get_ticks_hz());
	CHECK(st.max_read_latency_ticks >= st.min_read_latency_ticks);
	CHECK(st.read_latency_ticks >= st.max_read_latency_ticks);
	struct nb_bdev_io_stat cst = { .stat_size = sizeof(cst) };
	CHECK_EQ(nb_bdev_channel_get_io_stat(ch, &cst), 0);
	CHECK_EQ(cst.num_read_ops, 10);
	CHECK_ERR(nb_bdev_get_io_stat(b, NULL), -EINVAL);
	CHECK_ERR(nb_bdev_get_io_stat(NULL, &st), -EINVAL);
	double pcts[3] = { 0, 50, 100 };
	uint64_t ticks[3];
	CHECK_EQ(nb_bdev_get_latency_percentiles(b, ch, pcts, ticks, 3), 0);
	CHECK(ticks[0] <= ticks[1] && ticks[1] <= ticks[2]);
	CHECK_EQ(nb_bdev_get_latency_percentiles(b, NULL, pcts, ticks, 3), 0);
	double badp[1] = { 101 };
	CHECK_ERR(nb_bdev_get_latency_percentiles(b, ch, badp, ticks, 1), -EINVAL);
	CHECK_ERR(nb_bdev_get_latency_percentiles(b, ch, pcts, ticks, 0), -EINVAL);

	/* Stats survive the channel going away, and reset to zero on request. */
	CHECK_EQ(nb_put_io_channel(ch), 0);
	nb_thread_poll(g_t, 0, 0);
	CHECK_EQ(nb_bdev_get_io_stat(b, &st), 0);
	CHECK_EQ(st.num_read_ops, 10);
	int reset_done = 0;
	CHECK_EQ(nb_bdev_reset_io_stat(b, on_reset_stats, &reset_done), 0);
	POLL_UNTIL(g_t, reset_done == 1);
	CHECK_EQ(nb_bdev_get_io_stat(b, &st), 0);
	CHECK_EQ(st.num_read_ops, 0);
	CHECK_EQ(st.num_ops, 0);
	nb_dma_free(buf);
	CHECK_EQ(nb_bdev_close(d), 0);
}

static void on_destroyed(void *ctx, int status)
{
	*(int *)ctx = status == 0 ? 1 : -1;
}

static void test_destroy_all(void)
{
	const char *names[] = { "Malloc0", "Null0", "Null1" };
	for (int i = 0; i < 3; i++) {
		int done = 0;
		CHECK_EQ(nb_bdev_destroy(names[i], on_destroyed, &done), 0);
		POLL_UNTIL(g_t, done == 1);
		CHECK_NULL_ERR(nb_bdev_get_by_name(names[i]));
	}
	CHECK_ERR(nb_bdev_destroy("Malloc0", NULL, NULL), -ENODEV);
	CHECK_ERR(nb_bdev_destroy(NULL, NULL, NULL), -EINVAL);
	CHECK(nb_bdev_first() == NULL);
}

int main(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("test", NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
	test_create_errors();
	test_create_and_properties();
	test_open_close_claim();
	test_io();
	test_resubmit_and_io_wait();
	test_stats_and_reset();
	test_destroy_all();
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(g_t), 0);
	POLL_UNTIL(g_t, nb_thread_is_exited(g_t) == 1);
	CHECK_EQ(nb_thread_destroy(g_t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
