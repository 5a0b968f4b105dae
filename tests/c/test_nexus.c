/* The nexus through the published library: create over URIs, write through it, fault a child
 * with an injected error (its event before the write's completion, the write succeeding),
 * bring it back (a partial rebuild), add and remove children, list states, and the errors;
 * rebuild pause, resume, stop and start, the rate limit and the history;
 * raid0, concat and split by URI, their data read back. */
#include <errno.h>
#include <stdint.h>
#include "check.h"

static struct nb_thread *g_t;

struct result {
	int done, status;
};

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct result *r = arg;
	r->done++;
	r->status = status;
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

/* What happened, in order: child events and I/O completions. */
static char g_order[512];

static void on_child(const char *nexus, const char *child, int state, int reason, int synced, void *ctx)
{
	(void)nexus;
	(void)ctx;
	char line[128];
	snprintf(line, sizeof(line), "[%s %d %d %d]", child, state, reason, synced);
	strncat(g_order, line, sizeof(g_order) - strlen(g_order) - 1);
}

static void on_io_logged(struct nb_bdev_io *io, int status, void *arg)
{
	on_io(io, status, arg);
	char line[32];
	snprintf(line, sizeof(line), "[done %d]", status);
	strncat(g_order, line, sizeof(g_order) - strlen(g_order) - 1);
}

struct dev {
	struct nb_bdev_desc *d;
	struct nb_io_channel *ch;
};

static struct dev open_dev(const char *name, int write)
{
	struct dev v;
	CHECK_EQ(nb_bdev_open_ext(name, write, on_event, NULL, &v.d), 0);
	v.ch = nb_bdev_get_io_channel(v.d);
	CHECK(v.ch != NULL);
	return v;
}

static void close_dev(struct dev v)
{
	CHECK_EQ(nb_put_io_channel(v.ch), 0);
	CHECK_EQ(nb_bdev_close(v.d), 0);
	nb_thread_poll(g_t, 0, 0);
}

static int rw(struct dev v, int write, void *buf, uint64_t block, uint64_t blocks)
{
	struct result r = {0};
	int rc = write ? nb_bdev_write_blocks(v.d, v.ch, buf, block, blocks, on_io, &r)
		       : nb_bdev_read_blocks(v.d, v.ch, buf, block, blocks, on_io, &r);
	if (rc != 0)
		return rc;
	POLL_UNTIL(g_t, r.done == 1);
	return r.status;
}

static int destroyed;

static void on_destroyed(void *ctx, int status)
{
	(void)ctx;
	(void)status;
	destroyed++;
}

static void destroy(const char *name)
{
	int before = destroyed;
	CHECK_EQ(nb_bdev_destroy(name, on_destroyed, NULL), 0);
	POLL_UNTIL(g_t, destroyed == before + 1);
}

enum { BLOCKS = 8192 }; /* 4 MiB of 512-byte blocks: 64 segments of 64 KiB */

/* The whole content of `name`, read through a read-only descriptor. */
static uint8_t *content(const char *name)
{
	struct dev v = open_dev(name, 0);
	uint8_t *b = nb_dma_malloc((size_t)BLOCKS * 512, 0, NULL);
	CHECK(b != NULL);
	CHECK_EQ(rw(v, 0, b, 0, BLOCKS), 0);
	close_dev(v);
	return b;
}

static struct nb_nexus_child_info *child_of(struct nb_nexus_child_info *all, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(all[i].name, name) == 0)
			return &all[i];
	return NULL;
}

static void test_nexus(void)
{
	char name[64];
	CHECK_EQ(nb_bdev_create("malloc:///A?size_mb=4", name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_create("error:///A", name, sizeof(name)), 0);
	const char *children[] = {"EE_A", "malloc:///B?size_mb=4"};
	CHECK_EQ(nb_nexus_create("N", 0, children, 2), 0);
	CHECK_ERR(nb_nexus_create("N", 0, children, 2), -EEXIST);
	CHECK_EQ(nb_nexus_set_event_cb("N", on_child, NULL), 0);

	struct nb_nexus_child_info info[4];
	CHECK_EQ(nb_nexus_list_children("N", info, 4), 2);
	CHECK(strcmp(info[0].name, "EE_A") == 0 && strcmp(info[1].name, "B") == 0);
	CHECK_EQ(info[0].state, NB_NEXUS_CHILD_OPEN);
	CHECK_EQ(info[1].synced, 1);

	struct dev v = open_dev("N", 1);
	uint8_t *w = nb_dma_malloc((size_t)BLOCKS * 512, 0, NULL);
	for (size_t i = 0; i < (size_t)BLOCKS * 512; i++)
		w[i] = (uint8_t)(i * 7 + i / 512);
	CHECK_EQ(rw(v, 1, w, 0, BLOCKS), 0);

	/* A write fails on EE_A: the child is retired, its event first, the write succeeds. */
	CHECK_EQ(nb_bdev_error_inject("EE_A", NB_BDEV_IO_TYPE_WRITE, NB_BDEV_ERROR_FAILURE, 1), 0);
	g_order[0] = '\0';
	struct result r = {0};
	memset(w + 200 * 512, 0xab, 16 * 512);
	CHECK_EQ(nb_bdev_write_blocks(v.d, v.ch, w + 200 * 512, 200, 16, on_io_logged, &r), 0);
	POLL_UNTIL(g_t, r.done == 1);
	CHECK_EQ(r.status, 0);
	CHECK(strcmp(g_order, "[EE_A 3 4 1][done 0]") == 0);
	CHECK_EQ(nb_nexus_list_children("N", info, 4), 2);
	CHECK_EQ(info[0].state, NB_NEXUS_CHILD_FAULTED);
	CHECK_EQ(info[0].reason, NB_NEXUS_FAULT_IO_ERROR);
	/* Two more segments written while it is out. */
	memset(w + 3000 * 512, 0xcd, 512);
	CHECK_EQ(rw(v, 1, w + 3000 * 512, 3000, 1), 0);

	/* The last healthy child is never faulted or removed. */
	CHECK_ERR(nb_nexus_fault_child("N", "B", NB_NEXUS_FAULT_ADMIN_FAILED), -EBUSY);
	CHECK_ERR(nb_nexus_remove_child("N", "B"), -EBUSY);

	/* Back online: a partial rebuild of the segments written meanwhile (2), then synced. */
	CHECK_EQ(nb_nexus_online_child("N", "EE_A"), 0);
	CHECK_EQ(nb_nexus_list_children("N", info, 4), 2);
	CHECK_EQ(info[0].state, NB_NEXUS_CHILD_OPEN);
	CHECK_EQ(info[0].synced, 0);
	CHECK_EQ(info[0].rebuilding, 1);
	POLL_UNTIL(g_t, nb_nexus_list_children("N", info, 4) == 2 && info[0].synced == 1);
	CHECK_EQ(info[0].rebuilding, 0);

	/* A third child, added by URI: a full rebuild. */
	CHECK_EQ(nb_nexus_add_child("N", "malloc:///C?size_mb=4"), 0);
	CHECK_ERR(nb_nexus_add_child("N", "B"), -EEXIST);
	CHECK_EQ(nb_nexus_list_children("N", info, 4), 3);
	POLL_UNTIL(g_t, nb_nexus_list_children("N", info, 4) == 3 && child_of(info, 3, "C")->synced == 1);
	close_dev(v);

	uint8_t *a = content("EE_A"), *b = content("B"), *c = content("C");
	CHECK(memcmp(a, w, (size_t)BLOCKS * 512) == 0);
	CHECK(memcmp(b, w, (size_t)BLOCKS * 512) == 0);
	CHECK(memcmp(c, w, (size_t)BLOCKS * 512) == 0);
	nb_dma_free(a);
	nb_dma_free(b);
	nb_dma_free(c);

	CHECK_EQ(nb_nexus_fault_child("N", "C", NB_NEXUS_FAULT_OFFLINE), 0);
	CHECK_ERR(nb_nexus_fault_child("N", "C", 99), -EINVAL);
	CHECK_ERR(nb_nexus_online_child("N", "nosuch"), -ENOENT);
	CHECK_EQ(nb_nexus_remove_child("N", "C"), 0);
	POLL_UNTIL(g_t, nb_nexus_list_children("N", info, 4) == 2);
	CHECK_ERR(nb_nexus_list_children("A", info, 4), -ENODEV); /* not a nexus */
	CHECK_ERR(nb_nexus_destroy("A", NULL, NULL), -ENODEV);
	int before = destroyed;
	CHECK_EQ(nb_nexus_destroy("N", on_destroyed, NULL), 0);
	POLL_UNTIL(g_t, destroyed == before + 1);
	/* B was made by the nexus and went with it; EE_A was not. */
	POLL_UNTIL(g_t, nb_bdev_get_by_name("B") == NULL);
	CHECK(nb_bdev_get_by_name("EE_A") != NULL);
	destroy("EE_A");
	destroy("A");
	nb_dma_free(w);
}

/* Pause holds a rebuild, resume finishes it; stop leaves the child open and out of sync until
 * a rebuild is started again; a rate limit slows the copy; the history has each rebuild. */
static void test_rebuild_controls(void)
{
	char name[64];
	CHECK_EQ(nb_bdev_create("malloc:///P?size_mb=4", name, sizeof(name)), 0);
	const char *children[] = {"P"};
	CHECK_EQ(nb_nexus_create("NP", 0, children, 1), 0);
	struct dev v = open_dev("NP", 1);
	uint8_t *w = nb_dma_malloc((size_t)BLOCKS * 512, 0, NULL);
	for (size_t i = 0; i < (size_t)BLOCKS * 512; i++)
		w[i] = (uint8_t)(i * 11 + i / 4096);
	CHECK_EQ(rw(v, 1, w, 0, BLOCKS), 0);

	struct nb_nexus_child_info info[4];
	CHECK_EQ(nb_nexus_set_rebuild_verify("NP", 1), 0); /* Q's copy is read back and compared */
	CHECK_ERR(nb_nexus_set_rebuild_verify("NP", 7), -EINVAL);
	CHECK_EQ(nb_nexus_add_child("NP", "malloc:///Q?size_mb=4"), 0);
	CHECK_EQ(nb_nexus_set_rebuild_verify("NP", 0), 0);
	CHECK_EQ(nb_nexus_rebuild_pause("NP", "Q"), 0);
	for (int i = 0; i < 500; i++)
		nb_thread_poll(g_t, 0, 0);
	CHECK_EQ(nb_nexus_list_children("NP", info, 4), 2);
	CHECK_EQ(info[1].rebuilding, 1);
	CHECK_EQ(info[1].rebuild_blocks_done, 0); /* paused before it started: nothing copied */
	CHECK_EQ(nb_nexus_rebuild_resume("NP", "Q"), 0);
	POLL_UNTIL(g_t, nb_nexus_list_children("NP", info, 4) == 2 && info[1].synced == 1);

	/* A slow rebuild, stopped: Q2 stays open and out of sync; started again without the limit. */
	CHECK_EQ(nb_nexus_set_rebuild_rate("NP", 1 << 20), 0);
	CHECK_EQ(nb_nexus_add_child("NP", "malloc:///Q2?size_mb=4"), 0);
	POLL_UNTIL(g_t, nb_nexus_list_children("NP", info, 4) == 3 && info[2].rebuild_blocks_done > 0);
	CHECK(info[2].rebuild_blocks_done < BLOCKS);
	CHECK_EQ(nb_nexus_rebuild_stop("NP", "Q2"), 0);
	POLL_UNTIL(g_t, nb_nexus_list_children("NP", info, 4) == 3 && info[2].rebuilding == 0);
	CHECK_EQ(info[2].state, NB_NEXUS_CHILD_OPEN);
	CHECK_EQ(info[2].synced, 0);
	CHECK_ERR(nb_nexus_rebuild_pause("NP", "Q2"), -ENOENT);
	CHECK_ERR(nb_nexus_rebuild_start("NP", "P"), -EINVAL); /* in sync */
	CHECK_EQ(nb_nexus_set_rebuild_rate("NP", 0), 0);
	CHECK_EQ(nb_nexus_rebuild_start("NP", "Q2"), 0);
	CHECK_ERR(nb_nexus_rebuild_start("NP", "Q2"), -EEXIST);
	POLL_UNTIL(g_t, nb_nexus_list_children("NP", info, 4) == 3 && info[2].synced == 1);
	close_dev(v);
	uint8_t *q = content("Q"), *q2 = content("Q2");
	CHECK(memcmp(q, w, (size_t)BLOCKS * 512) == 0);
	CHECK(memcmp(q2, w, (size_t)BLOCKS * 512) == 0);
	nb_dma_free(q);
	nb_dma_free(q2);

	struct nb_nexus_rebuild_record h[4];
	CHECK_EQ(nb_nexus_rebuild_history("NP", NULL, 0), 3);
	CHECK_EQ(nb_nexus_rebuild_history("NP", h, 4), 3);
	CHECK(strcmp(h[0].child, "Q") == 0 && strcmp(h[0].source, "P") == 0);
	CHECK_EQ(h[0].state, NB_NEXUS_REBUILD_COMPLETED);
	CHECK_EQ(h[0].blocks_copied, BLOCKS);
	CHECK_EQ(h[0].partial, 0);
	CHECK(strcmp(h[1].child, "Q2") == 0);
	CHECK_EQ(h[1].state, NB_NEXUS_REBUILD_STOPPED);
	CHECK(h[1].blocks_copied > 0 && h[1].blocks_copied < h[1].blocks_total);
	CHECK_EQ(h[2].state, NB_NEXUS_REBUILD_COMPLETED);
	CHECK(h[0].start_us > 1700000000ULL * 1000000 && h[0].end_us >= h[0].start_us);
	CHECK(h[2].start_us >= h[1].end_us);
	destroy("NP");
	POLL_UNTIL(g_t, nb_bdev_get_by_name("Q") == NULL && nb_bdev_get_by_name("Q2") == NULL);
	destroy("P");
	nb_dma_free(w);
}

static void test_raid_and_split(void)
{
	char name[64];
	CHECK_EQ(nb_bdev_create("malloc:///R1?size_mb=2", name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_create("malloc:///R2?size_mb=2", name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_create("raid0:///R?strip_size_kb=8&base_bdevs=R1,R2", name, sizeof(name)), 0);
	CHECK_ERR(nb_bdev_create("raid0:///X?strip_size_kb=3&base_bdevs=R1", name, sizeof(name)), -EINVAL);
	struct dev v = open_dev("R", 1);
	uint8_t *w = nb_dma_malloc(64 * 512, 0, NULL), *back = nb_dma_malloc(64 * 512, 0, NULL);
	for (int i = 0; i < 64 * 512; i++)
		w[i] = (uint8_t)(i * 13);
	CHECK_EQ(rw(v, 1, w, 10, 64), 0); /* across 5 strips of 16 blocks */
	CHECK_EQ(rw(v, 0, back, 10, 64), 0);
	CHECK(memcmp(w, back, 64 * 512) == 0);
	close_dev(v);
	/* Block 10 is strip 0 of R1; block 16 is strip 0 of R2. */
	struct dev r1 = open_dev("R1", 0), r2 = open_dev("R2", 0);
	CHECK_EQ(rw(r1, 0, back, 10, 6), 0);
	CHECK(memcmp(back, w, 6 * 512) == 0);
	CHECK_EQ(rw(r2, 0, back, 0, 16), 0);
	CHECK(memcmp(back, w + 6 * 512, 16 * 512) == 0);
	close_dev(r1);
	close_dev(r2);
	destroy("R");
	CHECK_EQ(nb_bdev_create("concat:///K?strip_size_kb=4&base_bdevs=R1,R2", name, sizeof(name)), 0);
	destroy("K");
	CHECK_EQ(nb_bdev_create("split:///R1?split_count=2", name, sizeof(name)), 0);
	CHECK(strcmp(name, "R1p0") == 0);
	CHECK(nb_bdev_get_by_name("R1p1") != NULL);
	destroy("R1"); /* the parts go with their base */
	POLL_UNTIL(g_t, nb_bdev_get_by_name("R1p0") == NULL && nb_bdev_get_by_name("R1p1") == NULL);
	destroy("R2");
	nb_dma_free(w);
	nb_dma_free(back);
}

int main(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("nexus", NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
	test_nexus();
	test_rebuild_controls();
	test_raid_and_split();
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(g_t), 0);
	POLL_UNTIL(g_t, nb_thread_is_exited(g_t) == 1);
	CHECK_EQ(nb_thread_destroy(g_t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
