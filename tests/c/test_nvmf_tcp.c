/* The NVMe/TCP initiator against a real target (the Linux kernel's nvmet-tcp in the guest of
 * tests/vm, tests/vm/guest/nvmf_tcp.sh):
 *   test_nvmf_tcp HOST:PORT SUBNQN PARAMS OURS_FILE KERNEL_FILE
 * PARAMS is the URI's query ("" or "hdgst=1&ddgst=1"). Covers attach errors (no listener, an
 * unknown subsystem, bad parameters), identify over the fabric, data from one block to beyond
 * the in-capsule size (R2T/H2CData) and to several MiB (split commands), vectored I/O, flush
 * and write zeroes, two threads on their own I/O queues, a controller reset (a new
 * association: every queue reconnects) with I/O before and after, and data exchanged with
 * the kernel: 1 MiB written here at byte 40 MiB is saved to OURS_FILE for the script to
 * compare with what the kernel reads from the ram disk, and KERNEL_FILE (which the script
 * wrote to the ram disk at byte 48 MiB with direct I/O) is read back here. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>
#include "check.h"

static const char *g_addr, *g_nqn, *g_params;
static struct nb_thread *g_t;
static char g_name[512];

struct io_result {
	int done;
	int status;
};

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct io_result *r = arg;
	r->done++;
	r->status = status;
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void pattern(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static int rw(struct nb_thread *t, struct nb_bdev_desc *d, struct nb_io_channel *ch, int write, void *buf,
	      uint64_t off, uint64_t n)
{
	struct io_result r = { 0 };
	int rc = write ? nb_bdev_write_blocks(d, ch, buf, off, n, on_io, &r)
		       : nb_bdev_read_blocks(d, ch, buf, off, n, on_io, &r);
	if (rc != 0)
		return rc;
	POLL_UNTIL(t, r.done == 1);
	return r.done == 1 ? r.status : -ETIMEDOUT;
}

static const char *uri(const char *addr, const char *nqn, const char *params)
{
	static char u[1024];
	snprintf(u, sizeof(u), "nvmf://%s/%s%s%s", addr, nqn, params[0] ? "?" : "", params);
	return u;
}

static void test_attach_errors(void)
{
	char name[512];
	CHECK_ERR(nb_bdev_create("nvmf:///nqn.2014-08.org.example:x", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create(uri(g_addr, "not-an-nqn", ""), name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create(uri(g_addr, g_nqn, "hdgst=maybe"), name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create(uri(g_addr, g_nqn, "io_queue_depth=1"), name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create(uri(g_addr, g_nqn, "queue_size=4"), name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create(uri(g_addr, g_nqn, "name=x"), name, sizeof(name)), -EINVAL);
	/* Nobody listens there. */
	CHECK_ERR(nb_bdev_create(uri("127.0.0.1:1", g_nqn, ""), name, sizeof(name)), -ECONNREFUSED);
	printf("no listener: %s\n", nb_last_error());
	/* The target has no such subsystem: Connect is refused. */
	int rc = nb_bdev_create(uri(g_addr, "nqn.2014-08.org.example:nosuch", ""), name, sizeof(name));
	CHECK(rc < 0);
	CHECK(strstr(nb_last_error(), "Connect") != NULL);
	printf("unknown subsystem (%d): %s\n", rc, nb_last_error());
	/* A namespace the subsystem does not have. */
	char p[256];
	snprintf(p, sizeof(p), "%s%snsid=9", g_params, g_params[0] ? "&" : "");
	CHECK_ERR(nb_bdev_create(uri(g_addr, g_nqn, p), name, sizeof(name)), -ENODEV);
}

static void test_identify(void)
{
	char expect[512];
	CHECK_EQ(nb_bdev_create(uri(g_addr, g_nqn, g_params), g_name, sizeof(g_name)), 0);
	snprintf(expect, sizeof(expect), "%s/%sn1", g_addr, g_nqn);
	CHECK(strcmp(g_name, expect) == 0);
	char again[512];
	CHECK_ERR(nb_bdev_create(uri(g_addr, g_nqn, g_params), again, sizeof(again)), -EEXIST);
	struct nb_bdev_info bi = { .info_size = sizeof(bi) };
	CHECK_EQ(nb_bdev_get_info(nb_bdev_get_by_name(g_name), &bi), 0);
	CHECK(strcmp(bi.driver, "nvme") == 0);
	CHECK_EQ(bi.block_size, 512);
	CHECK(bi.num_blocks >= (16u << 20) / 512);
	struct nb_nvme_ctrlr_info ci = { .info_size = sizeof(ci) };
	CHECK_EQ(nb_nvme_ctrlr_get_info(g_name, &ci), 0);
	CHECK(strcmp(ci.mode, "tcp") == 0);
	CHECK(strcmp(ci.state, "ready") == 0);
	CHECK(strstr(ci.model, "Linux") != NULL);
	printf("controller %s via %s: '%s' serial '%s' fw '%s', %u I/O queues of %u entries, max transfer %u KiB, "
	       "%llu blocks\n", ci.traddr, ci.mode, ci.model, ci.serial, ci.firmware, ci.io_queues,
	       ci.io_queue_entries, ci.max_transfer_bytes / 1024, (unsigned long long)bi.num_blocks);
}

static void test_data(struct nb_bdev_desc *d, struct nb_io_channel *ch)
{
	size_t max = 5u << 20;
	uint8_t *w = malloc(max + 4096), *r = malloc(max + 4096);
	CHECK(w != NULL && r != NULL);
	/* One block; a page at an odd buffer offset; 16 KiB (the kernel target's in-capsule
	 * limit); 20 KiB and 128 KiB (R2T); 1 MiB; 5 MiB (split at the maximum transfer). */
	struct { size_t bytes, buf_off; uint64_t lba; } cases[] = {
		{ 512, 0, 0 }, { 4096, 3, 9 }, { 16 << 10, 0, 100 }, { 20 << 10, 1, 200 },
		{ 128 << 10, 0, 1000 }, { 1 << 20, 2048, 5003 }, { 5u << 20, 4, 20000 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *wb = w + cases[i].buf_off, *rb = r + cases[i].buf_off;
		pattern(wb, cases[i].bytes, (uint32_t)i + 7);
		memset(rb, 0, cases[i].bytes);
		CHECK_EQ(rw(g_t, d, ch, 1, wb, cases[i].lba, cases[i].bytes / 512), 0);
		CHECK_EQ(rw(g_t, d, ch, 0, rb, cases[i].lba, cases[i].bytes / 512), 0);
		CHECK(memcmp(wb, rb, cases[i].bytes) == 0);
	}
	free(w);
	free(r);
}

static void test_vectored(struct nb_bdev_desc *d, struct nb_io_channel *ch)
{
	uint8_t *a = malloc(64 << 10), *flat = malloc(64 << 10);
	CHECK(a != NULL && flat != NULL);
	struct iovec iov[4] = { { a + 7, 512 }, { a + 8192, 8192 }, { a + 20000, 12288 }, { a + 40000, 2048 } };
	size_t total = 512 + 8192 + 12288 + 2048, pos = 0;
	pattern(flat, total, 99);
	for (int i = 0; i < 4; i++) {
		memcpy(iov[i].iov_base, flat + pos, iov[i].iov_len);
		pos += iov[i].iov_len;
	}
	struct io_result res = { 0 };
	CHECK_EQ(nb_bdev_writev_blocks(d, ch, iov, 4, 3000, total / 512, on_io, &res), 0);
	POLL_UNTIL(g_t, res.done == 1);
	CHECK_EQ(res.status, 0);
	for (int i = 0; i < 4; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
	res.done = 0;
	CHECK_EQ(nb_bdev_readv_blocks(d, ch, iov, 4, 3000, total / 512, on_io, &res), 0);
	POLL_UNTIL(g_t, res.done == 1);
	CHECK_EQ(res.status, 0);
	pos = 0;
	for (int i = 0; i < 4; i++) {
		CHECK(memcmp(iov[i].iov_base, flat + pos, iov[i].iov_len) == 0);
		pos += iov[i].iov_len;
	}
	free(a);
	free(flat);
}

static void test_flush_zeroes(struct nb_bdev_desc *d, struct nb_io_channel *ch)
{
	struct io_result r = { 0 };
	CHECK_EQ(nb_bdev_flush_blocks(d, ch, 0, 8, on_io, &r), 0);
	POLL_UNTIL(g_t, r.done == 1);
	CHECK_EQ(r.status, 0);
	uint8_t *b = malloc(8192);
	CHECK(b != NULL);
	pattern(b, 8192, 5);
	CHECK_EQ(rw(g_t, d, ch, 1, b, 7000, 16), 0);
	if (nb_bdev_io_type_supported(nb_bdev_get_by_name(g_name), NB_BDEV_IO_TYPE_WRITE_ZEROES)) {
		r.done = 0;
		CHECK_EQ(nb_bdev_write_zeroes_blocks(d, ch, 7000, 16, on_io, &r), 0);
		POLL_UNTIL(g_t, r.done == 1);
		CHECK_EQ(r.status, 0);
		CHECK_EQ(rw(g_t, d, ch, 0, b, 7000, 16), 0);
		for (int i = 0; i < 8192; i++)
			CHECK_EQ(b[i], 0);
		printf("write zeroes: read back as zeroes\n");
	}
	free(b);
}

/* Another thread, another I/O queue (its own connection), writing and reading its own range. */
struct worker {
	int rc;
	uint64_t lba;
};

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct nb_thread *t = nb_thread_create("second", NULL);
	nb_set_thread(t);
	struct nb_bdev_desc *d;
	wk->rc = nb_bdev_open_ext(g_name, 1, on_event, NULL, &d);
	if (wk->rc != 0)
		return NULL;
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	uint8_t *w = malloc(64 << 10), *r = malloc(64 << 10);
	for (int i = 0; i < 32 && wk->rc == 0; i++) {
		pattern(w, 64 << 10, 1000 + i);
		wk->rc = rw(t, d, ch, 1, w, wk->lba + i * 128, 128);
		if (wk->rc == 0)
			wk->rc = rw(t, d, ch, 0, r, wk->lba + i * 128, 128);
		if (wk->rc == 0 && memcmp(w, r, 64 << 10) != 0)
			wk->rc = -EILSEQ;
	}
	free(w);
	free(r);
	nb_put_io_channel(ch);
	nb_thread_poll(t, 0, 0);
	nb_bdev_close(d);
	nb_thread_exit(t);
	while (!nb_thread_is_exited(t))
		nb_thread_poll(t, 0, 0);
	nb_set_thread(NULL);
	nb_thread_destroy(t);
	return NULL;
}

static void test_two_threads(struct nb_bdev_desc *d, struct nb_io_channel *ch)
{
	struct worker wk = { .rc = -1, .lba = 12000 };
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, worker_main, &wk), 0);
	uint8_t *w = malloc(64 << 10), *r = malloc(64 << 10);
	for (int i = 0; i < 32; i++) {
		pattern(w, 64 << 10, 2000 + i);
		CHECK_EQ(rw(g_t, d, ch, 1, w, 16000 + i * 128, 128), 0);
		CHECK_EQ(rw(g_t, d, ch, 0, r, 16000 + i * 128, 128), 0);
		CHECK(memcmp(w, r, 64 << 10) == 0);
	}
	pthread_join(th, NULL);
	CHECK_EQ(wk.rc, 0);
	free(w);
	free(r);
	printf("two threads, two I/O queues: both ranges read back\n");
}

/* A bdev reset resets the controller: over a fabric that is a new association (admin
 * connection, Connect, enable) and every I/O queue connects again; I/O goes on. */
static void test_reset(struct nb_bdev_desc *d, struct nb_io_channel *ch)
{
	struct nb_nvme_ctrlr_info ci = { .info_size = sizeof(ci) };
	CHECK_EQ(nb_nvme_ctrlr_get_info(g_name, &ci), 0);
	uint64_t before = ci.resets;
	uint8_t *w = malloc(32768), *r = malloc(32768);
	pattern(w, 32768, 31);
	CHECK_EQ(rw(g_t, d, ch, 1, w, 9000, 64), 0);
	struct io_result res = { 0 };
	CHECK_EQ(nb_bdev_reset(d, ch, on_io, &res), 0);
	POLL_UNTIL(g_t, res.done == 1);
	CHECK_EQ(res.done, 1);
	CHECK_EQ(res.status, 0);
	CHECK_EQ(nb_nvme_ctrlr_get_info(g_name, &ci), 0);
	CHECK_EQ(ci.resets, before + 1);
	CHECK(strcmp(ci.state, "ready") == 0);
	CHECK_EQ(rw(g_t, d, ch, 0, r, 9000, 64), 0);
	CHECK(memcmp(w, r, 32768) == 0);
	pattern(w, 32768, 32);
	CHECK_EQ(rw(g_t, d, ch, 1, w, 9000, 64), 0);
	CHECK_EQ(rw(g_t, d, ch, 0, r, 9000, 64), 0);
	CHECK(memcmp(w, r, 32768) == 0);
	free(w);
	free(r);
	printf("controller reset over the fabric: reconnected, data intact\n");
}

/* Data exchanged with the kernel's view of the same ram disk. */
static void test_kernel_exchange(struct nb_bdev_desc *d, struct nb_io_channel *ch, const char *ours,
				 const char *kernel)
{
	size_t n = 1u << 20;
	uint8_t *b = malloc(n), *k = malloc(n);
	pattern(b, n, 4242);
	CHECK_EQ(rw(g_t, d, ch, 1, b, (40u << 20) / 512, n / 512), 0);
	FILE *f = fopen(ours, "wb");
	CHECK(f != NULL);
	CHECK_EQ(fwrite(b, 1, n, f), n);
	fclose(f);
	f = fopen(kernel, "rb");
	CHECK(f != NULL);
	CHECK_EQ(fread(k, 1, n, f), n);
	fclose(f);
	CHECK_EQ(rw(g_t, d, ch, 0, b, (48u << 20) / 512, n / 512), 0);
	CHECK(memcmp(b, k, n) == 0);
	printf("read what the kernel wrote at 48 MiB: identical; wrote 1 MiB at 40 MiB for the kernel to read\n");
	free(b);
	free(k);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s HOST:PORT SUBNQN PARAMS OURS_FILE KERNEL_FILE\n", argv[0]);
		return 2;
	}
	g_addr = argv[1];
	g_nqn = argv[2];
	g_params = argv[3];
	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("main", NULL);
	CHECK(g_t != NULL);
	nb_set_thread(g_t);
	test_attach_errors();
	test_identify();
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_open_ext(g_name, 1, on_event, NULL, &d), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	CHECK(ch != NULL);
	test_data(d, ch);
	test_vectored(d, ch);
	test_flush_zeroes(d, ch);
	test_two_threads(d, ch);
	test_reset(d, ch);
	test_kernel_exchange(d, ch, argv[4], argv[5]);
	nb_put_io_channel(ch);
	nb_thread_poll(g_t, 0, 0);
	nb_bdev_close(d);
	CHECK_EQ(nb_bdev_destroy(g_name, NULL, NULL), 0);
	POLL_UNTIL(g_t, nb_bdev_get_by_name(g_name) == NULL);
	nb_thread_exit(g_t);
	while (!nb_thread_is_exited(g_t))
		nb_thread_poll(g_t, 0, 0);
	nb_set_thread(NULL);
	nb_thread_destroy(g_t);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
