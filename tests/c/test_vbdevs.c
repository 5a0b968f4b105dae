/* SPDK's error and delay bdevs through the published library. */
#include <errno.h>
#include <stdint.h>
#include "check.h"

static struct nb_thread *g_t;

struct result {
	int done, status;
	uint64_t at;
};

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct result *r = arg;
	r->done++;
	r->status = status;
	r->at = nb_get_ticks();
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

struct dev {
	struct nb_bdev_desc *d;
	struct nb_io_channel *ch;
};

static struct dev open_dev(const char *name)
{
	struct dev v;
	CHECK_EQ(nb_bdev_open_ext(name, 1, on_event, NULL, &v.d), 0);
	v.ch = nb_bdev_get_io_channel(v.d);
	CHECK(v.ch != NULL);
	return v;
}

static void close_dev(struct dev v)
{
	CHECK_EQ(nb_put_io_channel(v.ch), 0);
	CHECK_EQ(nb_bdev_close(v.d), 0);
}

static int io(struct dev v, int write, void *buf, uint64_t block, struct result *r)
{
	memset(r, 0, sizeof(*r));
	int rc = write ? nb_bdev_write_blocks(v.d, v.ch, buf, block, 1, on_io, r)
		       : nb_bdev_read_blocks(v.d, v.ch, buf, block, 1, on_io, r);
	if (rc != 0)
		return rc;
	POLL_UNTIL(g_t, r->done == 1);
	return r->status;
}

static void test_error_bdev(void)
{
	char name[64];
	CHECK_EQ(nb_bdev_create("malloc:///M0?size_mb=4", name, sizeof(name)), 0);
	CHECK_ERR(nb_bdev_create("error:///nope", name, sizeof(name)), -ENODEV);
	CHECK_EQ(nb_bdev_create("error:///M0", name, sizeof(name)), 0);
	CHECK(strcmp(name, "EE_M0") == 0);
	CHECK_ERR(nb_bdev_error_inject("M0", 0, NB_BDEV_ERROR_FAILURE, 1), -ENODEV); /* not an error bdev */
	CHECK_ERR(nb_bdev_error_inject("EE_M0", 99, NB_BDEV_ERROR_FAILURE, 1), -EINVAL);
	CHECK_ERR(nb_bdev_error_inject("EE_M0", 0, 9, 1), -EINVAL);
	CHECK_ERR(nb_bdev_error_inject("EE_M0", 0, NB_BDEV_ERROR_FAILURE, 0), -EINVAL);
	CHECK_ERR(nb_bdev_error_inject("EE_M0", NB_BDEV_IO_TYPE_WRITE, NB_BDEV_ERROR_CORRUPT_DATA, 1), -EINVAL);
	CHECK_ERR(nb_bdev_error_inject(NULL, 0, 1, 1), -EINVAL);

	struct dev v = open_dev("EE_M0");
	uint8_t *w = nb_dma_malloc(512, 0, NULL), *r = nb_dma_malloc(512, 0, NULL);
	memset(w, 0x77, 512);
	struct result res;
	CHECK_EQ(io(v, 1, w, 3, &res), 0);

	CHECK_EQ(nb_bdev_error_inject("EE_M0", NB_BDEV_IO_TYPE_READ, NB_BDEV_ERROR_FAILURE, 2), 0);
	CHECK_EQ(io(v, 1, w, 4, &res), 0); /* writes untouched */
	CHECK_EQ(io(v, 0, r, 3, &res), -EIO);
	CHECK_EQ(io(v, 0, r, 3, &res), -EIO);
	CHECK_EQ(io(v, 0, r, 3, &res), 0); /* the two are spent */
	CHECK(memcmp(w, r, 512) == 0);

	CHECK_EQ(nb_bdev_error_inject("EE_M0", 0, NB_BDEV_ERROR_NOMEM, 1), 0);
	CHECK_EQ(io(v, 1, w, 5, &res), -ENOMEM);

	CHECK_EQ(nb_bdev_error_inject("EE_M0", NB_BDEV_IO_TYPE_READ, NB_BDEV_ERROR_CORRUPT_DATA, 1), 0);
	CHECK_EQ(io(v, 0, r, 3, &res), 0);
	CHECK(memcmp(w, r, 512) != 0);

	/* pending: never completes until a reset, which cancels it. */
	CHECK_EQ(nb_bdev_error_inject("EE_M0", NB_BDEV_IO_TYPE_READ, NB_BDEV_ERROR_PENDING, 1), 0);
	struct result pend = { 0 }, reset = { 0 };
	CHECK_EQ(nb_bdev_read_blocks(v.d, v.ch, r, 3, 1, on_io, &pend), 0);
	for (int i = 0; i < 100; i++)
		nb_thread_poll(g_t, 0, 0);
	CHECK_EQ(pend.done, 0);
	CHECK_EQ(nb_bdev_reset(v.d, v.ch, on_io, &reset), 0);
	POLL_UNTIL(g_t, reset.done == 1 && pend.done == 1);
	CHECK_EQ(pend.status, -ECANCELED);
	/* The error bdev's own injections are not the host's rules. */
	CHECK_EQ(nb_fault_list(NULL, 0), 0);

	close_dev(v);
	nb_dma_free(w);
	nb_dma_free(r);
	CHECK_EQ(nb_bdev_destroy("EE_M0", NULL, NULL), 0);
	CHECK_EQ(nb_bdev_destroy("M0", NULL, NULL), 0);
	POLL_UNTIL(g_t, nb_bdev_first() == NULL);
}

static void test_delay_bdev(void)
{
	char name[64];
	CHECK_EQ(nb_bdev_create("null:///N0?size_mb=4", name, sizeof(name)), 0);
	CHECK_ERR(nb_bdev_create("delay:///N0?avg_read_us=100&p99_read_us=50", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("delay:///N0?avg_read_us=-4", name, sizeof(name)), -EINVAL);
	CHECK_EQ(nb_bdev_create("delay:///N0?avg_read_us=20000&p99_read_us=20000&avg_write_us=5000", name, sizeof(name)), 0);
	CHECK(strcmp(name, "N0_delay") == 0);
	struct dev v = open_dev("N0_delay");
	uint8_t *buf = nb_dma_malloc(512, 0, NULL);
	struct result res;
	uint64_t hz = nb_get_ticks_hz();
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = nb_get_ticks();
		CHECK_EQ(io(v, 0, buf, 0, &res), 0);
		CHECK(res.at - t0 >= hz * 20 / 1000);
		t0 = nb_get_ticks();
		CHECK_EQ(io(v, 1, buf, 0, &res), 0);
		CHECK(res.at - t0 >= hz * 5 / 1000);
		CHECK(res.at - t0 < hz * 20 / 1000 + hz / 10);
	}
	/* The base is as fast as ever. */
	struct dev b = open_dev("N0");
	uint64_t t0 = nb_get_ticks();
	CHECK_EQ(io(b, 0, buf, 0, &res), 0);
	CHECK(res.at - t0 < hz * 5 / 1000);
	close_dev(b);
	close_dev(v);
	nb_dma_free(buf);
	CHECK_EQ(nb_bdev_destroy("N0", NULL, NULL), 0); /* takes the delay bdev with it */
	POLL_UNTIL(g_t, nb_bdev_first() == NULL);
}

int main(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("vbdevs", NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
	test_error_bdev();
	test_delay_bdev();
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(g_t), 0);
	POLL_UNTIL(g_t, nb_thread_is_exited(g_t) == 1);
	CHECK_EQ(nb_thread_destroy(g_t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
