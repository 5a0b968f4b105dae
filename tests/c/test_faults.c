/* Fault injection and descriptor timeouts through the published library: every method
 * (status, status-nvme, data, delay, timeout) and condition (op, range, count, every,
 * probability, window) observed by a caller; rule listing and removal; URI errors. */
#include <errno.h>
#include <stdint.h>
#include "check.h"

static struct nb_thread *g_t;
static struct nb_bdev_desc *g_d;
static struct nb_io_channel *g_ch;
static uint8_t *g_w, *g_r;

struct result {
	int done, status, sct, sc;
	uint64_t done_at;
};

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	struct result *r = arg;
	r->done++;
	r->status = status;
	r->done_at = nb_get_ticks();
	uint32_t cdw0;
	nb_bdev_io_get_nvme_status(io, &cdw0, &r->sct, &r->sc);
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static int timeouts;
static void on_timeout(void *ctx, struct nb_bdev_io *io)
{
	(void)ctx;
	if (nb_bdev_io_get_type(io) > 0)
		timeouts++;
}

static int read1(uint64_t block, struct result *r)
{
	memset(r, 0, sizeof(*r));
	int rc = nb_bdev_read_blocks(g_d, g_ch, g_r, block, 1, on_io, r);
	if (rc != 0)
		return rc;
	if (getenv("FAULT_DEBUG"))
		fprintf(stderr, "read1(%llu)\n", (unsigned long long)block);
	POLL_UNTIL(g_t, r->done == 1);
	return r->status;
}

static int write1(uint64_t block)
{
	struct result r = { 0 };
	int rc = nb_bdev_write_blocks(g_d, g_ch, g_w, block, 1, on_io, &r);
	if (rc != 0)
		return rc;
	POLL_UNTIL(g_t, r.done == 1);
	return r.status;
}

static void test_uri_errors(void)
{
	CHECK_ERR(nb_fault_inject(NULL), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://Nope?op=read"), -ENODEV);
	CHECK_ERR(nb_fault_inject("malloc:///F0?op=read"), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://?op=read"), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://F0?op=scribble"), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://F0?stage=later"), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://F0?method=explode"), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://F0?method=status-nvme-9-1"), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://F0?method=delay-abc"), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://F0?method=data&op=write&stage=compl"), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://F0?method=data&op=read"), -EINVAL); /* needs stage=compl */
	CHECK_ERR(nb_fault_inject("inject://F0?probability=2"), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://F0?every=0"), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://F0?begin_at=10&end_at=5"), -EINVAL);
	/* A range past 2^64 blocks would match nothing; count=0 would (in SPDK's error bdev)
	 * fire on no I/O, so it is refused rather than read as "no limit". */
	CHECK_ERR(nb_fault_inject("inject://F0?offset=18446744073709551615&num_blk=2"), -EINVAL);
	CHECK(strstr(nb_last_error(), "2^64") != NULL);
	CHECK_ERR(nb_fault_inject("inject://F0?offset=1&num_blk=18446744073709551615"), -EINVAL);
	CHECK_ERR(nb_fault_inject("inject://F0?count=0"), -EINVAL);
	CHECK(strstr(nb_last_error(), "count") != NULL);
	CHECK_ERR(nb_fault_inject("inject://F0?colour=red"), -EINVAL);
	CHECK(strstr(nb_last_error(), "colour") != NULL);
	CHECK_EQ(nb_fault_list(NULL, 0), 0);
	CHECK_ERR(nb_fault_remove(12345), -ENOENT);
}

static void test_status_and_conditions(void)
{
	struct result r;
	/* Reads fail, writes do not; count=2 stops after two. */
	int id = nb_fault_inject("inject://F0?op=read&method=status&count=2");
	CHECK(id > 0);
	CHECK_EQ(write1(0), 0);
	CHECK_EQ(read1(0, &r), -EIO);
	CHECK_EQ(r.sct, 0);
	CHECK_EQ(r.sc, 6); /* generic / internal device error */
	CHECK_EQ(read1(0, &r), -EIO);
	CHECK_EQ(read1(0, &r), 0);
	struct nb_fault_rule_info info[4];
	CHECK_EQ(nb_fault_list(info, 4), 1);
	CHECK_EQ(info[0].id, id);
	CHECK_EQ(info[0].fired, 2);
	CHECK_EQ(info[0].matched, 3);
	CHECK(strcmp(info[0].bdev, "F0") == 0);
	CHECK(strstr(info[0].uri, "count=2") != NULL);
	CHECK_EQ(nb_fault_remove(id), 0);

	/* A chosen errno, every 3rd, only in blocks 100..109, at completion. */
	id = nb_fault_inject("inject://F0?op=read&stage=compl&errno=61&every=3&offset=100&num_blk=10");
	CHECK(id > 0);
	int fails = 0;
	for (int i = 0; i < 9; i++)
		fails += read1(105, &r) == -61;
	CHECK_EQ(fails, 3);
	for (int i = 0; i < 9; i++)
		CHECK_EQ(read1(50, &r), 0); /* outside the range */
	CHECK_EQ(nb_fault_remove(id), 0);

	/* NVMe status. */
	id = nb_fault_inject("inject://F0?op=write&method=status-nvme-0x2-0x81");
	CHECK(id > 0);
	memset(&r, 0, sizeof(r));
	CHECK_EQ(nb_bdev_write_blocks(g_d, g_ch, g_w, 1, 1, on_io, &r), 0);
	POLL_UNTIL(g_t, r.done == 1);
	CHECK_EQ(r.status, -EIO);
	CHECK_EQ(r.sct, 2);    /* media errors */
	CHECK_EQ(r.sc, 0x81);  /* unrecovered read error */
	CHECK_EQ(nb_fault_remove(id), 0);

	/* probability 0 never fires; 1 always; a window in the future not yet. */
	id = nb_fault_inject("inject://F0?op=read&probability=0");
	for (int i = 0; i < 20; i++)
		CHECK_EQ(read1(0, &r), 0);
	CHECK_EQ(nb_fault_remove(id), 0);
	id = nb_fault_inject("inject://F0?op=read&begin_at=60000");
	CHECK_EQ(read1(0, &r), 0);
	CHECK_EQ(nb_fault_remove(id), 0);
	id = nb_fault_inject("inject://F0?op=read&probability=0.5");
	fails = 0;
	for (int i = 0; i < 400; i++)
		fails += read1(0, &r) != 0;
	CHECK(fails > 120 && fails < 280);
	CHECK_EQ(nb_fault_clear("F0"), 1);
	CHECK_EQ(nb_fault_list(info, 4), 0);
}

static void test_data_and_delay(void)
{
	struct result r;
	memset(g_w, 0x3c, 4096);
	CHECK_EQ(write1(7), 0);
	int id = nb_fault_inject("inject://F0?op=read&stage=compl&method=data");
	CHECK_EQ(read1(7, &r), 0); /* succeeds... */
	CHECK(memcmp(g_w, g_r, 512) != 0); /* ...with corrupted data */
	CHECK_EQ(nb_fault_remove(id), 0);
	CHECK_EQ(read1(7, &r), 0);
	CHECK(memcmp(g_w, g_r, 512) == 0);

	/* delay-30000: the completion comes at least 30 ms after submission, at both stages. */
	const char *delays[] = { "inject://F0?op=read&method=delay-30000",
				 "inject://F0?op=read&stage=compl&method=delay-30000" };
	for (int k = 0; k < 2; k++) {
		id = nb_fault_inject(delays[k]);
		uint64_t t0 = nb_get_ticks();
		CHECK_EQ(read1(7, &r), 0);
		CHECK(r.done_at - t0 >= nb_get_ticks_hz() * 30 / 1000);
		CHECK(memcmp(g_w, g_r, 512) == 0);
		CHECK_EQ(nb_fault_remove(id), 0);
	}
}

static void test_timeout_method(void)
{
	struct result r = { 0 }, reset = { 0 };
	/* method=timeout: never completes on its own; a reset releases it with -ECANCELED. */
	int id = nb_fault_inject("inject://F0?op=read&method=timeout&count=1");
	CHECK_EQ(nb_bdev_read_blocks(g_d, g_ch, g_r, 0, 1, on_io, &r), 0);
	for (int i = 0; i < 200; i++)
		nb_thread_poll(g_t, 0, 0);
	CHECK_EQ(r.done, 0);
	CHECK_EQ(nb_bdev_reset(g_d, g_ch, on_io, &reset), 0);
	POLL_UNTIL(g_t, reset.done == 1);
	CHECK_EQ(r.done, 1);
	CHECK_EQ(r.status, -ECANCELED);
	CHECK_EQ(reset.status, 0);
	CHECK_EQ(nb_fault_remove(id), 0);

	/* With a descriptor timeout: the callback runs, and abort completes it -ETIMEDOUT. */
	CHECK_ERR(nb_bdev_set_timeout(g_d, 1000, 0, NULL, NULL), -EINVAL);
	CHECK_ERR(nb_bdev_set_timeout(NULL, 1000, 1, on_timeout, NULL), -EINVAL);
	CHECK_EQ(nb_bdev_set_timeout(g_d, 20000, 1, on_timeout, NULL), 0);
	id = nb_fault_inject("inject://F0?op=read&stage=compl&method=timeout&count=1");
	memset(&r, 0, sizeof(r));
	uint64_t t0 = nb_get_ticks();
	CHECK_EQ(nb_bdev_read_blocks(g_d, g_ch, g_r, 0, 1, on_io, &r), 0);
	POLL_UNTIL(g_t, r.done == 1);
	CHECK_EQ(r.status, -ETIMEDOUT);
	CHECK_EQ(timeouts, 1);
	CHECK(r.done_at - t0 >= nb_get_ticks_hz() * 20 / 1000);
	/* Fast I/O does not time out. */
	CHECK_EQ(read1(0, &r), 0);
	CHECK_EQ(timeouts, 1);
	CHECK_EQ(nb_bdev_set_timeout(g_d, 0, 0, NULL, NULL), 0);
	CHECK_EQ(nb_fault_remove(id), 0);
}

int main(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("faults", NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
	char name[64];
	CHECK_EQ(nb_bdev_create("malloc:///F0?size_mb=4", name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_open_ext("F0", 1, on_event, NULL, &g_d), 0);
	g_ch = nb_bdev_get_io_channel(g_d);
	g_w = nb_dma_zmalloc(4096, 0, NULL);
	g_r = nb_dma_zmalloc(4096, 0, NULL);
	test_uri_errors();
	test_status_and_conditions();
	test_data_and_delay();
	test_timeout_method();
	/* Rules go with their bdev. */
	CHECK(nb_fault_inject("inject://F0?op=read") > 0);
	nb_dma_free(g_w);
	nb_dma_free(g_r);
	CHECK_EQ(nb_put_io_channel(g_ch), 0);
	CHECK_EQ(nb_bdev_close(g_d), 0);
	CHECK_EQ(nb_bdev_destroy("F0", NULL, NULL), 0);
	nb_thread_poll(g_t, 0, 0);
	CHECK_EQ(nb_fault_list(NULL, 0), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(g_t), 0);
	POLL_UNTIL(g_t, nb_thread_is_exited(g_t) == 1);
	CHECK_EQ(nb_thread_destroy(g_t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
