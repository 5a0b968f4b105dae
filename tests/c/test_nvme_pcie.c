/* The user-space NVMe driver against a real controller (QEMU's emulated one, in the guest of
 * tests/vm): test_nvme_pcie BDF vfio|uio. The controller must already be bound to vfio-pci or
 * uio_pci_generic. Covers probe, attach errors, identify, data integrity at sizes from one
 * block to beyond the maximum transfer, vectored I/O through PRP lists, flush, write_zeroes,
 * deallocate, admin and I/O passthrough, two threads on their own queue pairs, a controller
 * reset in the middle of writes (no acknowledged write lost), and detach / re-attach. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>
#include "check.h"

static const char *g_bdf;
static const char *g_mode;
static struct nb_thread *g_t;
static char g_ns1[64], g_ns2[64];

struct io_result {
	int done;
	int status;
	uint32_t cdw0;
	int sct, sc;
};

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	struct io_result *r = arg;
	r->done++;
	r->status = status;
	nb_bdev_io_get_nvme_status(io, &r->cdw0, &r->sct, &r->sc);
}

static int g_remove_events;
static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)bdev;
	(void)ctx;
	if (type == NB_BDEV_EVENT_REMOVE)
		g_remove_events++;
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
	return r.status;
}

static const char *uri(const char *path_tail, const char *params)
{
	static char u[256];
	snprintf(u, sizeof(u), "pcie:///%s%s%s%s", g_bdf, path_tail, params[0] ? "?" : "", params);
	return u;
}

static void test_probe(void)
{
	int n = nb_nvme_probe(NULL, 0);
	CHECK(n >= 1);
	struct nb_nvme_probe_info infos[8];
	CHECK_EQ(nb_nvme_probe(infos, 8), n);
	int found = 0;
	for (int i = 0; i < n && i < 8; i++) {
		if (strcmp(infos[i].traddr, g_bdf) != 0)
			continue;
		found = 1;
		CHECK_EQ(infos[i].vendor_id, 0x1b36); /* Red Hat: QEMU's NVMe controller */
		CHECK_EQ(infos[i].attachable, 1);
		CHECK_EQ(infos[i].attached, 0);
		CHECK(strcmp(infos[i].driver, strcmp(g_mode, "vfio") == 0 ? "vfio-pci" : "uio_pci_generic") == 0);
	}
	CHECK(found);
	CHECK_ERR(nb_nvme_probe(NULL, 1), -EINVAL);
	CHECK_ERR(nb_nvme_probe(infos, -1), -EINVAL);
}

static int attached_controllers(void)
{
	struct nb_nvme_probe_info info[8];
	int n = nb_nvme_probe(info, 8), attached = 0;
	for (int i = 0; i < n && i < 8; i++)
		attached += info[i].attached;
	return attached;
}

static void test_attach_errors(void)
{
	char name[256];
	CHECK_ERR(nb_bdev_create("pcie:///zz:00.0/1", name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create("pcie:///0000:00:1f.8/1", name, sizeof(name)), -EINVAL); /* function 8 */
	CHECK_ERR(nb_bdev_create("pcie:///0000:7f:1f.7/1", name, sizeof(name)), -ENODEV); /* no such device */
	CHECK(strstr(nb_last_error(), "no PCI device") != NULL);
	CHECK_ERR(nb_bdev_create(uri("/0", ""), name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create(uri("/1/2", ""), name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create(uri("/1", "mode=dpdk"), name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create(uri("/1", "queue_size=4"), name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create(uri("", "name=x"), name, sizeof(name)), -EINVAL);
	/* The other access method than the bound driver. */
	CHECK_ERR(nb_bdev_create(uri("/1", strcmp(g_mode, "vfio") == 0 ? "mode=uio" : "mode=vfio"), name, sizeof(name)), -EBUSY);
	CHECK(strstr(nb_last_error(), "bound to") != NULL);
	/* A namespace the controller does not have: the controller attaches, then detaches again. */
	CHECK_ERR(nb_bdev_create(uri("/9", ""), name, sizeof(name)), -ENODEV);
	CHECK(strstr(nb_last_error(), "no active namespace 9") != NULL);
	CHECK_EQ(attached_controllers(), 0);
}

static void test_identify(void)
{
	char name[256];
	char params[32];
	snprintf(params, sizeof(params), "mode=%s", g_mode);
	CHECK_EQ(nb_bdev_create(uri("/1", params), name, sizeof(name)), 0);
	snprintf(g_ns1, sizeof(g_ns1), "%sn1", g_bdf);
	CHECK(strcmp(name, g_ns1) == 0);
	CHECK_ERR(nb_bdev_create(uri("/1", ""), name, sizeof(name)), -EEXIST);
	CHECK_EQ(nb_bdev_create(uri("/2", "name=second"), name, sizeof(name)), 0);
	snprintf(g_ns2, sizeof(g_ns2), "second");

	struct nb_bdev_info bi = { .info_size = sizeof(bi) };
	CHECK_EQ(nb_bdev_get_info(nb_bdev_get_by_name(g_ns1), &bi), 0);
	CHECK(strcmp(bi.product_name, "QEMU NVMe Ctrl") == 0);
	CHECK(strcmp(bi.driver, "nvme") == 0);
	CHECK_EQ(bi.block_size, 512);
	CHECK_EQ(bi.num_blocks, (256u << 20) / 512);
	CHECK(bi.io_types & (1u << NB_BDEV_IO_TYPE_NVME_ADMIN));
	CHECK(bi.io_types & (1u << NB_BDEV_IO_TYPE_WRITE_ZEROES));
	CHECK(bi.io_types & (1u << NB_BDEV_IO_TYPE_UNMAP));
	CHECK_EQ(nb_bdev_get_info(nb_bdev_get_by_name("second"), &bi), 0);
	CHECK_EQ(bi.num_blocks, (64u << 20) / 512);

	struct nb_nvme_ctrlr_info ci = { .info_size = sizeof(ci) };
	CHECK_EQ(nb_nvme_ctrlr_get_info(g_ns1, &ci), 0);
	CHECK(strcmp(ci.model, "QEMU NVMe Ctrl") == 0);
	CHECK(strcmp(ci.serial, "deadbeef") == 0);
	CHECK(strcmp(ci.traddr, g_bdf) == 0);
	CHECK(strcmp(ci.mode, g_mode) == 0);
	CHECK(strcmp(ci.state, "ready") == 0);
	CHECK_EQ(ci.nsid, 1);
	CHECK(ci.num_namespaces >= 2);
	CHECK(ci.io_queues >= 2);
	CHECK(ci.max_transfer_bytes >= 128 * 1024);
	printf("controller %s via %s: '%s' serial '%s' fw '%s', %u I/O queues of %u entries, max transfer %u KiB\n",
	       ci.traddr, ci.mode, ci.model, ci.serial, ci.firmware, ci.io_queues, ci.io_queue_entries,
	       ci.max_transfer_bytes / 1024);
	CHECK_ERR(nb_nvme_ctrlr_get_info("nope", &ci), -ENODEV);
	CHECK_ERR(nb_nvme_ctrlr_get_info(g_ns1, NULL), -EINVAL);
}

static void test_data(struct nb_bdev_desc *d, struct nb_io_channel *ch)
{
	size_t max = 3u << 20;
	uint8_t *w = nb_dma_malloc(max + 4096, 4096, NULL);
	uint8_t *r = nb_dma_malloc(max + 4096, 4096, NULL);
	CHECK(w != NULL && r != NULL);
	/* One block, a page, 128 KiB, 1 MiB from an offset inside a page (PRP lists, split at
	 * the maximum transfer), 3 MiB. */
	struct { size_t bytes, buf_off; uint64_t lba; } cases[] = {
		{ 512, 0, 0 }, { 4096, 512, 9 }, { 128 << 10, 0, 1000 }, { 1 << 20, 2048, 5003 }, { 3u << 20, 4, 20000 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *wb = w + cases[i].buf_off, *rb = r + cases[i].buf_off;
		pattern(wb, cases[i].bytes, (uint32_t)i + 7);
		memset(rb, 0, cases[i].bytes);
		CHECK_EQ(rw(g_t, d, ch, 1, wb, cases[i].lba, cases[i].bytes / 512), 0);
		CHECK_EQ(rw(g_t, d, ch, 0, rb, cases[i].lba, cases[i].bytes / 512), 0);
		CHECK(memcmp(wb, rb, cases[i].bytes) == 0);
	}
	/* The last block and past the end. */
	uint64_t last = (256u << 20) / 512 - 1;
	CHECK_EQ(rw(g_t, d, ch, 1, w, last, 1), 0);
	CHECK_ERR(rw(g_t, d, ch, 1, w, last, 2), -EINVAL);
	/* Buffers the controller cannot reach or address. */
	uint8_t *heap = aligned_alloc(4096, 4096);
	CHECK_ERR(rw(g_t, d, ch, 0, heap, 0, 8), -EINVAL);
	CHECK(strstr(nb_last_error(), "nb_dma_malloc") != NULL);
	free(heap);
	CHECK_ERR(rw(g_t, d, ch, 0, r + 1, 0, 1), -EINVAL);
	nb_dma_free(w);
	nb_dma_free(r);
}

static void test_vectored(struct nb_bdev_desc *d, struct nb_io_channel *ch)
{
	uint8_t *a = nb_dma_malloc(64 << 10, 4096, NULL);
	uint8_t *b = nb_dma_malloc(64 << 10, 4096, NULL);
	CHECK(a != NULL && b != NULL);
	/* 512 bytes ending a page, 8 KiB, 12 KiB, 2 KiB: 7 PRP entries, so a PRP list. */
	struct iovec iov[4] = {
		{ a + 4096 - 512, 512 }, { a + 8192, 8192 }, { a + 20480, 12288 }, { a + 36864, 2048 },
	};
	size_t total = 512 + 8192 + 12288 + 2048;
	uint8_t *flat = b;
	pattern(flat, total, 99);
	size_t pos = 0;
	for (int i = 0; i < 4; i++) {
		memcpy(iov[i].iov_base, flat + pos, iov[i].iov_len);
		pos += iov[i].iov_len;
	}
	struct io_result res = { 0 };
	CHECK_EQ(nb_bdev_writev_blocks(d, ch, iov, 4, 3000, total / 512, on_io, &res), 0);
	POLL_UNTIL(g_t, res.done == 1);
	CHECK_EQ(res.status, 0);
	uint8_t *back = b + 32768;
	CHECK_EQ(rw(g_t, d, ch, 0, back, 3000, total / 512), 0);
	CHECK(memcmp(back, flat, total) == 0);
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
	/* Iovecs that meet inside a page cannot be described with PRPs. */
	struct iovec bad[2] = { { a, 1024 }, { a + 8192, 3072 } };
	CHECK_ERR(nb_bdev_writev_blocks(d, ch, bad, 2, 0, 8, on_io, &res), -EINVAL);
	CHECK(strstr(nb_last_error(), "page") != NULL);
	nb_dma_free(a);
	nb_dma_free(b);
}

static int simple(struct nb_bdev_desc *d, struct nb_io_channel *ch, int type, uint64_t off, uint64_t n)
{
	struct io_result r = { 0 };
	int rc;
	switch (type) {
	case NB_BDEV_IO_TYPE_FLUSH: rc = nb_bdev_flush_blocks(d, ch, off, n, on_io, &r); break;
	case NB_BDEV_IO_TYPE_UNMAP: rc = nb_bdev_unmap_blocks(d, ch, off, n, on_io, &r); break;
	case NB_BDEV_IO_TYPE_WRITE_ZEROES: rc = nb_bdev_write_zeroes_blocks(d, ch, off, n, on_io, &r); break;
	default: rc = nb_bdev_reset(d, ch, on_io, &r); break;
	}
	if (rc != 0)
		return rc;
	POLL_UNTIL(g_t, r.done == 1);
	return r.status;
}

static void test_flush_zeroes_unmap(struct nb_bdev_desc *d, struct nb_io_channel *ch)
{
	size_t bytes = 256 << 10;
	uint8_t *w = nb_dma_malloc(bytes, 4096, NULL), *r = nb_dma_malloc(bytes, 4096, NULL);
	CHECK(w != NULL && r != NULL);
	pattern(w, bytes, 5);
	CHECK_EQ(rw(g_t, d, ch, 1, w, 40000, bytes / 512), 0);
	CHECK_EQ(simple(d, ch, NB_BDEV_IO_TYPE_FLUSH, 0, 0), 0);
	/* 70000 blocks: more than one write-zeroes command holds (65536). */
	CHECK_EQ(simple(d, ch, NB_BDEV_IO_TYPE_WRITE_ZEROES, 40000, 70000), 0);
	CHECK_EQ(rw(g_t, d, ch, 0, r, 40000, bytes / 512), 0);
	for (size_t i = 0; i < bytes; i++)
		CHECK(r[i] == 0 || (fprintf(stderr, "byte %zu not zero\n", i), 0));
	CHECK_EQ(rw(g_t, d, ch, 1, w, 120000, bytes / 512), 0);
	CHECK_EQ(simple(d, ch, NB_BDEV_IO_TYPE_UNMAP, 120000, bytes / 512), 0);
	CHECK_EQ(rw(g_t, d, ch, 0, r, 120000, bytes / 512), 0); /* readable after deallocate */
	CHECK_EQ(simple(d, ch, NB_BDEV_IO_TYPE_RESET, 0, 0), 0);
	CHECK_EQ(rw(g_t, d, ch, 0, r, 120000, 8), 0);
	nb_dma_free(w);
	nb_dma_free(r);
}

static int passthru(struct nb_bdev_desc *d, struct nb_io_channel *ch, int admin, struct nb_nvme_cmd *cmd, void *buf,
		    size_t n, struct io_result *r)
{
	memset(r, 0, sizeof(*r));
	int rc = admin ? nb_bdev_nvme_admin_passthru(d, ch, cmd, buf, n, on_io, r)
		       : nb_bdev_nvme_io_passthru(d, ch, cmd, buf, n, on_io, r);
	if (rc != 0)
		return rc;
	POLL_UNTIL(g_t, r->done == 1);
	return r->status;
}

static void test_passthru(struct nb_bdev_desc *d, struct nb_io_channel *ch, struct nb_bdev_desc *ro)
{
	uint8_t *buf = nb_dma_zmalloc(4096, 4096, NULL), *w = nb_dma_malloc(4096, 4096, NULL);
	struct io_result r;
	struct nb_nvme_cmd cmd = { .opc = 0x06, .cdw10 = 1 }; /* identify controller */
	CHECK_EQ(passthru(d, ch, 1, &cmd, buf, 4096, &r), 0);
	CHECK(memcmp(buf + 24, "QEMU NVMe Ctrl", 14) == 0);
	CHECK(memcmp(buf + 4, "deadbeef", 8) == 0);
	/* Get features, number of queues: the answer is in cdw0. */
	struct nb_nvme_cmd gf = { .opc = 0x0A, .cdw10 = 0x07 };
	CHECK_EQ(passthru(d, ch, 1, &gf, NULL, 0, &r), 0);
	CHECK(r.cdw0 != 0);
	/* A failing command: the NVMe status comes back with -EIO. */
	struct nb_nvme_cmd badcns = { .opc = 0x06, .cdw10 = 0xEE };
	CHECK_EQ(passthru(d, ch, 1, &badcns, buf, 4096, &r), -EIO);
	CHECK_EQ(r.sct, 0);
	CHECK_EQ(r.sc, 0x02); /* invalid field */
	/* Queue management belongs to the driver. */
	struct nb_nvme_cmd mkq = { .opc = 0x01 };
	CHECK_ERR(passthru(d, ch, 1, &mkq, NULL, 0, &r), -EPERM);
	/* Buffers: DMA memory only, both or neither of buffer and length. */
	uint8_t heap[4096];
	CHECK_ERR(passthru(d, ch, 1, &cmd, heap, 4096, &r), -EINVAL);
	CHECK_ERR(passthru(d, ch, 1, &cmd, buf, 0, &r), -EINVAL);
	CHECK_ERR(passthru(d, ch, 1, NULL, buf, 4096, &r), -EINVAL);
	CHECK_ERR(passthru(ro, ch, 1, &cmd, buf, 4096, &r), -EBADF); /* passthrough needs a writable descriptor */
	/* I/O passthrough: write then read block 77 with raw NVM commands (nsid filled in). */
	pattern(w, 4096, 77);
	struct nb_nvme_cmd wr = { .opc = 0x01, .cdw10 = 77, .cdw12 = 7 };
	CHECK_EQ(passthru(d, ch, 0, &wr, w, 4096, &r), 0);
	memset(buf, 0, 4096);
	CHECK_EQ(rw(g_t, d, ch, 0, buf, 77, 8), 0);
	CHECK(memcmp(buf, w, 4096) == 0);
	struct nb_nvme_cmd rd = { .opc = 0x02, .cdw10 = 77, .cdw12 = 7 };
	memset(buf, 0, 4096);
	CHECK_EQ(passthru(d, ch, 0, &rd, buf, 4096, &r), 0);
	CHECK(memcmp(buf, w, 4096) == 0);
	struct nb_nvme_cmd oob = { .opc = 0x02, .cdw10 = 0xFFFFFFF0, .cdw11 = 0xFF, .cdw12 = 0 };
	CHECK_EQ(passthru(d, ch, 0, &oob, buf, 512, &r), -EIO);
	CHECK_EQ(r.sc, 0x80); /* LBA out of range */
	nb_dma_free(buf);
	nb_dma_free(w);
}

/* Namespace Attachment (admin 0x15) of namespace 2 to or from this controller. */
static int ns2_attachment(struct nb_bdev_desc *d, struct nb_io_channel *ch, int detach)
{
	uint8_t *buf = nb_dma_zmalloc(4096, 4096, NULL);
	struct io_result r;
	struct nb_nvme_cmd id = { .opc = 0x06, .cdw10 = 1 };
	CHECK_EQ(passthru(d, ch, 1, &id, buf, 4096, &r), 0);
	uint16_t cntlid = *(uint16_t *)(buf + 78);
	memset(buf, 0, 4096);
	((uint16_t *)buf)[0] = 1; /* controller list: one id */
	((uint16_t *)buf)[1] = cntlid;
	struct nb_nvme_cmd att = { .opc = 0x15, .nsid = 2, .cdw10 = detach ? 1 : 0 };
	int rc = passthru(d, ch, 1, &att, buf, 4096, &r);
	nb_dma_free(buf);
	return rc;
}

/* Namespace 2 detached on the device: the controller's namespace-change event hot-removes its
 * bdev (REMOVE to the descriptor); attached again, it can be opened again. */
static void test_namespace_hot_remove(struct nb_bdev_desc *d, struct nb_io_channel *ch)
{
	struct nb_bdev_desc *d2;
	CHECK_EQ(nb_bdev_open_ext("second", 0, on_event, NULL, &d2), 0);
	g_remove_events = 0;
	CHECK_EQ(ns2_attachment(d, ch, 1), 0);
	POLL_UNTIL(g_t, g_remove_events == 1);
	CHECK_EQ(nb_bdev_close(d2), 0);
	POLL_UNTIL(g_t, nb_bdev_get_by_name("second") == NULL);
	char name[64];
	CHECK_ERR(nb_bdev_create(uri("/2", "name=second"), name, sizeof(name)), -ENODEV);
	CHECK_EQ(ns2_attachment(d, ch, 0), 0);
	/* The attach event is handled by the controller's admin thread: the namespace becomes
	 * known to it shortly after. */
	int rc = -1;
	for (int i = 0; i < 500 && rc != 0; i++) {
		rc = nb_bdev_create(uri("/2", "name=second"), name, sizeof(name));
		if (rc != 0)
			usleep(10000);
	}
	CHECK_EQ(rc, 0);
	struct nb_bdev_info bi = { .info_size = sizeof(bi) };
	CHECK_EQ(nb_bdev_get_info(nb_bdev_get_by_name("second"), &bi), 0);
	CHECK_EQ(bi.num_blocks, (64u << 20) / 512);
	printf("namespace 2 detached (bdev hot-removed) and attached again\n");
}

struct worker {
	const char *bdev;
	uint64_t base;
	int ok;
};

/* A thread of its own: its own nb_thread, channel and so its own queue pair. */
static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct nb_thread *t = nb_thread_create("worker", NULL);
	CHECK(t != NULL);
	nb_set_thread(t);
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_open_ext(wk->bdev, 1, on_event, NULL, &d), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	CHECK(ch != NULL);
	uint8_t *w = nb_dma_malloc(64 << 10, 4096, NULL), *r = nb_dma_malloc(64 << 10, 4096, NULL);
	for (int i = 0; i < 64; i++) {
		pattern(w, 64 << 10, (uint32_t)(wk->base + i));
		CHECK_EQ(rw(t, d, ch, 1, w, wk->base + i * 128, 128), 0);
		CHECK_EQ(rw(t, d, ch, 0, r, wk->base + i * 128, 128), 0);
		CHECK(memcmp(w, r, 64 << 10) == 0);
	}
	nb_dma_free(w);
	nb_dma_free(r);
	nb_put_io_channel(ch);
	nb_thread_poll(t, 0, 0);
	nb_bdev_close(d);
	nb_thread_exit(t);
	while (nb_thread_poll(t, 0, 0) >= 0 && !nb_thread_is_exited(t))
		;
	nb_set_thread(NULL);
	nb_thread_destroy(t);
	wk->ok = 1;
	return NULL;
}

static void test_two_threads(void)
{
	struct worker a = { g_ns1, 200000, 0 }, b = { g_ns1, 300000, 0 };
	pthread_t ta, tb;
	CHECK_EQ(pthread_create(&ta, NULL, worker_main, &a), 0);
	CHECK_EQ(pthread_create(&tb, NULL, worker_main, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(a.ok && b.ok);
}

/* Writes with a unique pattern per block range at queue depth 32; a controller reset
 * starts half-way. Every write must succeed and every block read back must be what was
 * acknowledged. */
#define RESET_IOS 2048
#define RESET_QD 32
static struct io_result g_reset_res[RESET_IOS];

static void test_reset_mid_io(struct nb_bdev_desc *d, struct nb_io_channel *ch)
{
	const uint64_t base = 400000, blocks = 8; /* 4 KiB each */
	uint8_t *bufs = nb_dma_malloc(RESET_IOS * 4096, 4096, NULL);
	CHECK(bufs != NULL);
	struct nb_nvme_ctrlr_info ci = { .info_size = sizeof(ci) };
	CHECK_EQ(nb_nvme_ctrlr_get_info(g_ns1, &ci), 0);
	uint64_t resets_before = ci.resets;
	memset(g_reset_res, 0, sizeof(g_reset_res));
	int submitted = 0, completed = 0, reset_at = -1;
	while (completed < RESET_IOS) {
		while (submitted < RESET_IOS && submitted - completed < RESET_QD) {
			uint8_t *b = bufs + (size_t)submitted * 4096;
			pattern(b, 4096, 0x5000 + submitted);
			CHECK_EQ(nb_bdev_write_blocks(d, ch, b, base + submitted * blocks, blocks, on_io, &g_reset_res[submitted]), 0);
			submitted++;
			if (submitted == RESET_IOS / 2) {
				CHECK_EQ(nb_nvme_ctrlr_reset(g_ns1), 0);
				reset_at = submitted;
			}
		}
		nb_thread_poll(g_t, 0, 0);
		completed = 0;
		for (int i = 0; i < submitted; i++)
			completed += g_reset_res[i].done;
	}
	CHECK(reset_at > 0);
	for (int i = 0; i < RESET_IOS; i++) {
		CHECK_EQ(g_reset_res[i].done, 1);
		CHECK_EQ(g_reset_res[i].status, 0);
	}
	POLL_UNTIL(g_t, nb_nvme_ctrlr_get_info(g_ns1, &ci) == 0 && ci.resets > resets_before && strcmp(ci.state, "ready") == 0);
	uint8_t *r = nb_dma_malloc(4096, 4096, NULL), *expect = malloc(4096);
	for (int i = 0; i < RESET_IOS; i++) {
		pattern(expect, 4096, 0x5000 + i);
		CHECK_EQ(rw(g_t, d, ch, 0, r, base + i * blocks, blocks), 0);
		if (memcmp(r, expect, 4096) != 0) {
			fprintf(stderr, "write %d (blocks %llu+%llu) was acknowledged but reads back differently\n", i,
				(unsigned long long)(base + i * blocks), (unsigned long long)blocks);
			CHECK(0);
		}
	}
	printf("reset in the middle of %d writes at QD %d: all acknowledged, all read back (resets %llu -> %llu)\n",
	       RESET_IOS, RESET_QD, (unsigned long long)resets_before, (unsigned long long)ci.resets);
	free(expect);
	nb_dma_free(r);
	nb_dma_free(bufs);
}

static void test_detach_reattach(void)
{
	CHECK_EQ(nb_bdev_destroy(g_ns1, NULL, NULL), 0);
	POLL_UNTIL(g_t, nb_bdev_get_by_name(g_ns1) == NULL);
	for (int i = 0; i < 100; i++)
		nb_thread_poll(g_t, 0, 0);
	CHECK_EQ(attached_controllers(), 1); /* namespace 2 still holds the controller */
	CHECK_EQ(nb_bdev_destroy("second", NULL, NULL), 0);
	POLL_UNTIL(g_t, attached_controllers() == 0); /* the last namespace detached it */
	/* Whole controller: every namespace, names BDFnN, comma-separated. */
	char names[256], expect[256];
	CHECK_EQ(nb_bdev_create(uri("", ""), names, sizeof(names)), 0);
	snprintf(expect, sizeof(expect), "%sn1,%sn2", g_bdf, g_bdf);
	CHECK(strcmp(names, expect) == 0);
	CHECK(nb_bdev_get_by_name(g_ns1) != NULL);
	CHECK_EQ(nb_bdev_destroy(g_ns1, NULL, NULL), 0);
	snprintf(expect, sizeof(expect), "%sn2", g_bdf);
	CHECK_EQ(nb_bdev_destroy(expect, NULL, NULL), 0);
	POLL_UNTIL(g_t, attached_controllers() == 0);
}

/* Run as an unprivileged user (tests/vm/guest/nvme_common.sh): the device file cannot be
 * opened, and the error says so and what is needed. */
static int test_unprivileged(void)
{
	CHECK(getuid() != 0);
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.name = "unprivileged";
	opts.log_level = NB_LOG_WARN;
	opts.hugepages = NB_HUGEPAGES_OFF;
	opts.dma_pool_size = 2u << 20;
	CHECK_EQ(nb_env_init(&opts), 0);
	CHECK(nb_nvme_probe(NULL, 0) >= 1); /* sysfs is readable by anyone */
	char name[64];
	CHECK_ERR(nb_bdev_create(uri("/1", ""), name, sizeof(name)), -EACCES);
	CHECK(strstr(nb_last_error(), strcmp(g_mode, "vfio") == 0 ? "VFIO needs root" : "UIO needs root") != NULL);
	printf("unprivileged attach refused: %s\n", nb_last_error());
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4 || (strcmp(argv[2], "vfio") != 0 && strcmp(argv[2], "uio") != 0) ||
	    (argc == 4 && strcmp(argv[3], "--unprivileged") != 0)) {
		fprintf(stderr, "usage: %s BDF vfio|uio [--unprivileged]\n", argv[0]);
		return 2;
	}
	g_bdf = argv[1];
	g_mode = argv[2];
	if (argc == 4)
		return test_unprivileged();
	test_probe();
	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("main", NULL);
	CHECK(g_t != NULL);
	nb_set_thread(g_t);
	test_attach_errors();
	test_identify();

	struct nb_bdev_desc *d, *ro;
	CHECK_EQ(nb_bdev_open_ext(g_ns1, 1, on_event, NULL, &d), 0);
	CHECK_EQ(nb_bdev_open_ext(g_ns1, 0, on_event, NULL, &ro), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	CHECK(ch != NULL);
	test_data(d, ch);
	test_vectored(d, ch);
	test_flush_zeroes_unmap(d, ch);
	test_passthru(d, ch, ro);
	test_two_threads();
	test_reset_mid_io(d, ch);
	test_namespace_hot_remove(d, ch);
	nb_put_io_channel(ch);
	nb_thread_poll(g_t, 0, 0);
	nb_bdev_close(ro);
	nb_bdev_close(d);
	test_detach_reattach();
	nb_thread_exit(g_t);
	while (!nb_thread_is_exited(g_t))
		nb_thread_poll(g_t, 0, 0);
	nb_set_thread(NULL);
	nb_thread_destroy(g_t);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
