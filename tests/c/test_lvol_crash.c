/* Crash safety of lvol stores (issue 12): a child process runs a random workload on a store on
 * a file (uring, buffered: what a SIGKILL leaves in the page cache is what the disk would hold
 * after the process dies, which is the failure this test is about; a power cut is not): creates,
 * writes and flushes, unmaps and write zeroes (whole clusters of thin volumes go back to the
 * store), snapshots, clones, resizes, deletes. It reports each acknowledged
 * operation over a pipe and the parent SIGKILLs it at a random moment. The next child checks
 * the store offline (nb_lvs_check: no problem allowed), imports it and verifies, against the
 * parent's record of what was acknowledged, that every acknowledged create exists (and every
 * acknowledged delete is gone), sizes are the acknowledged ones, and every block whose write was
 * acknowledged before a completed flush reads back that write or a later one (each 4 KiB block
 * names its volume, its index and its write's generation, and the rest of it follows from those).
 * Then it runs its own workload, and so on.
 *
 *   test_lvol_crash DIR [faults]   iterations: NB_LVOL_CRASH_ITERATIONS (default 200),
 *                                  seed: NB_LVOL_CRASH_SEED (default: the time; printed)
 *
 * With `faults` (the data-fault variant) each child also puts a fault rule on the base once it
 * has verified the store: the Nth write to the metadata region (the first cluster) fails, either
 * before it reaches the file (stage=submit: the write is lost) or after (stage=compl: it is on
 * the file, but the store is told it failed, so what it believes and what the file holds part
 * ways: a torn update as far as the store can tell). The operation it belonged to must fail with
 * -EIO (nothing acknowledged); the child then stops (says H) and is killed; the next one checks,
 * imports and verifies as after any kill, the failed operation counted as in flight.
 *
 * The model passes from parent to child over a pipe: volumes (name, size, parent, snapshot,
 * whether an operation on it was in flight at the kill) and the flushed generation per block. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "nativebdev.h"

#define MAX_VOLS 24
#define BLOCK 4096u
#define MAX_BLOCKS 1024u /* 4 MiB: the largest volume */
#define CLUSTER (1u << 20)
#define STORE_BYTES (48ull << 20)
#define OPS_PER_CHILD 120
#define MAGIC 0x4c564f4c43525348ull /* "LVOLCRSH" */

struct vol {
	char name[32];
	int used;            /* the slot holds a volume (created, or its create in flight) */
	int exists;          /* acknowledged to exist */
	int uncertain;       /* a create, delete, resize or snapshot of it was in flight */
	int snapshot;        /* read-only: a snapshot */
	int parent;          /* slot of its snapshot, or -1 */
	uint32_t blocks;     /* size in blocks, as acknowledged */
	uint64_t flushed[MAX_BLOCKS]; /* generation of the write a flush made durable, 0 none */
	uint64_t acked[MAX_BLOCKS];   /* acknowledged, not yet flushed */
};

struct model {
	int store;           /* the store was created (acknowledged) */
	uint64_t gen_base;
	struct vol v[MAX_VOLS];
};

static struct model M;
static int g_ack = -1;
static int g_faults; /* the data-fault variant */

/* ---------------------------------------------------------------- the child */

static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	if (write(g_ack, line, (size_t)n) != n)
		_exit(3);
}

static void die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say("FAIL %s (last error: %s)", msg, nb_last_error());
	_exit(1);
}

/* An operation failed. In the data-fault variant, -EIO once the child's fault rule has fired is
 * what the rule is for: the child says so and waits for its kill (the operation counts as in
 * flight); anything else is a failure of the test. */
static void op_failed(const char *what, const char *bdev, int rc)
{
	if (g_faults && rc == -EIO) {
		struct nb_fault_rule_info info[4];
		int n = nb_fault_list(info, 4);
		uint64_t fired = 0;
		for (int i = 0; i < n && i < 4; i++)
			fired += info[i].fired;
		if (fired > 0) {
			say("H %s %s %d", what, bdev, rc);
			for (;;)
				pause();
		}
	}
	die("%s %s: %d", what, bdev, rc);
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

static void fill_block(uint64_t *b, const char *name, uint32_t block, uint64_t gen)
{
	uint64_t x = name_hash(name) ^ ((uint64_t)block << 40) ^ gen ^ 0x9e3779b97f4a7c15ull;
	b[0] = MAGIC;
	b[1] = name_hash(name);
	b[2] = block;
	b[3] = gen;
	for (unsigned i = 4; i < BLOCK / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = x;
	}
}

struct io_wait {
	int pending;
	int status;
};

static struct nb_thread *T;

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct io_wait *w = arg;
	if (status != 0)
		w->status = status;
	w->pending--;
}

static void on_done(void *ctx, int status)
{
	struct io_wait *w = ctx;
	if (status != 0)
		w->status = status;
	w->pending--;
}

static void wait_for(struct io_wait *w)
{
	while (w->pending > 0)
		nb_thread_poll(T, 0, 0);
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void full_name(char *out, size_t n, const struct vol *v)
{
	snprintf(out, n, "pool/%s", v->name);
}

static void verify_volume(struct vol *v, void *buf)
{
	char bdev[64];
	full_name(bdev, sizeof(bdev), v);
	struct nb_bdev *b = nb_bdev_get_by_name(bdev);
	if (!v->uncertain && !v->exists) {
		if (b)
			die("%s exists, but its delete was acknowledged", bdev);
		return;
	}
	if (!b) {
		if (v->uncertain) {
			say("E %s 0 0", v->name);
			v->used = v->exists = v->uncertain = 0;
			return;
		}
		die("%s was acknowledged created and is not there", bdev);
	}
	uint32_t blocks = (uint32_t)(nb_bdev_get_num_blocks(b) * nb_bdev_get_block_size(b) / BLOCK);
	if (v->uncertain) {
		say("E %s 1 %u", v->name, blocks);
		v->exists = 1;
		v->uncertain = 0;
		v->blocks = blocks;
	} else if (blocks != v->blocks) {
		die("%s has %u blocks, %u acknowledged", bdev, blocks, v->blocks);
	}
	struct nb_bdev_desc *desc;
	if (nb_bdev_open_ext(bdev, 0, on_event, NULL, &desc) != 0)
		die("open %s", bdev);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(desc);
	uint64_t *data = buf;
	for (uint32_t i = 0; i < blocks && i < MAX_BLOCKS; i++) {
		if (v->flushed[i] == 0)
			continue;
		struct io_wait w = { 1, 0 };
		if (nb_bdev_read(desc, ch, buf, (uint64_t)i * BLOCK, BLOCK, on_io, &w) != 0)
			die("read %s block %u", bdev, i);
		wait_for(&w);
		if (w.status != 0)
			die("read %s block %u: %d", bdev, i, w.status);
		uint64_t want[BLOCK / 8];
		if (data[0] != MAGIC || data[1] != name_hash(v->name) || data[2] != i)
			die("%s block %u (flushed generation %llu) holds something else (magic %llx, block %llu)",
			    bdev, i, (unsigned long long)v->flushed[i], (unsigned long long)data[0],
			    (unsigned long long)data[2]);
		if (data[3] < v->flushed[i])
			die("%s block %u reads generation %llu, older than the flushed %llu", bdev, i,
			    (unsigned long long)data[3], (unsigned long long)v->flushed[i]);
		fill_block(want, v->name, i, data[3]);
		if (memcmp(want, data, BLOCK) != 0)
			die("%s block %u generation %llu is torn", bdev, i, (unsigned long long)data[3]);
	}
	nb_put_io_channel(ch);
	nb_bdev_close(desc);
}

static int pick(int (*fits)(const struct vol *))
{
	int n = 0, slots[MAX_VOLS];
	for (int i = 0; i < MAX_VOLS; i++)
		if (M.v[i].used && M.v[i].exists && fits(&M.v[i]))
			slots[n++] = i;
	return n == 0 ? -1 : slots[rnd() % (uint64_t)n];
}

static int writable(const struct vol *v) { return !v->snapshot; }
static int is_snapshot(const struct vol *v) { return v->snapshot; }

static int has_clones(int slot)
{
	for (int i = 0; i < MAX_VOLS; i++)
		if (M.v[i].used && M.v[i].exists && M.v[i].parent == slot)
			return 1;
	return 0;
}

static int deletable(const struct vol *v)
{
	return !has_clones((int)(v - M.v));
}

static int free_slot(void)
{
	for (int i = 0; i < MAX_VOLS; i++)
		if (!M.v[i].used)
			return i;
	return -1;
}

static void op_create(uint64_t gen)
{
	int s = free_slot();
	if (s < 0)
		return;
	struct vol *v = &M.v[s];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "v%llu", (unsigned long long)gen);
	uint32_t mib = 1 + (uint32_t)(rnd() % 4);
	say("B C %d %s", s, v->name);
	char uri[160], name[64];
	snprintf(uri, sizeof(uri), "lvol:///%s?size=%uM&thin=1&lvs=lvs%%3A%%2F%%2F%%2Fpool", v->name, mib);
	int rc = nb_bdev_create(uri, name, sizeof(name));
	if (rc == -ENOSPC) {
		say("N %d", s);
		return;
	}
	if (rc != 0)
		op_failed("create", uri, rc);
	v->used = v->exists = 1;
	v->parent = -1;
	v->blocks = mib * (CLUSTER / BLOCK);
	say("C %d %s %u", s, v->name, v->blocks);
}

static void op_write(uint64_t *gen, void *bufs)
{
	int s = pick(writable);
	if (s < 0)
		return;
	struct vol *v = &M.v[s];
	char bdev[64];
	full_name(bdev, sizeof(bdev), v);
	struct nb_bdev_desc *desc;
	if (nb_bdev_open_ext(bdev, 1, on_event, NULL, &desc) != 0)
		die("open %s", bdev);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(desc);
	int n = 1 + (int)(rnd() % 8);
	uint32_t blocks[8];
	uint64_t gens[8];
	struct io_wait w = { 0, 0 };
	for (int k = 0; k < n; k++) {
		/* one write per block in a batch: two in flight to one block land in either order */
		int dup;
		do {
			blocks[k] = (uint32_t)(rnd() % v->blocks);
			dup = 0;
			for (int j = 0; j < k; j++)
				dup |= blocks[j] == blocks[k];
		} while (dup);
		gens[k] = ++*gen;
		uint64_t *b = (uint64_t *)((char *)bufs + (size_t)k * BLOCK);
		fill_block(b, v->name, blocks[k], gens[k]);
		w.pending++;
		int rc = nb_bdev_write(desc, ch, b, (uint64_t)blocks[k] * BLOCK, BLOCK, on_io, &w);
		if (rc != 0)
			die("write %s", bdev);
	}
	wait_for(&w);
	if (w.status == -ENOSPC) {
		/* a full store fails the write and keeps the data that was there */
	} else if (w.status != 0) {
		op_failed("write", bdev, w.status);
	} else {
		for (int k = 0; k < n; k++)
			say("W %d %u %llu", s, blocks[k], (unsigned long long)gens[k]);
	}
	if (rnd() % 2 == 0) {
		struct io_wait f = { 1, 0 };
		if (nb_bdev_flush(desc, ch, 0, (uint64_t)v->blocks * BLOCK, on_io, &f) != 0)
			die("flush %s", bdev);
		wait_for(&f);
		if (f.status != 0)
			op_failed("flush", bdev, f.status);
		say("F %d", s);
	}
	nb_put_io_channel(ch);
	nb_bdev_close(desc);
}

/* An unmap or a write zeroes of up to two clusters at a random block: what it covered is not
 * checked after (an unmap reads zeros or the snapshot's data), the rest of the volume is. */
static void op_zero(void)
{
	int s = pick(writable);
	if (s < 0)
		return;
	struct vol *v = &M.v[s];
	uint32_t first = (uint32_t)(rnd() % v->blocks);
	if (rnd() % 2)
		first -= first % (CLUSTER / BLOCK); /* often whole clusters */
	uint32_t count = 1 + (uint32_t)(rnd() % (2 * CLUSTER / BLOCK));
	if (count > v->blocks - first)
		count = v->blocks - first;
	int unmap = (int)(rnd() % 2);
	char bdev[64];
	full_name(bdev, sizeof(bdev), v);
	struct nb_bdev_desc *desc;
	if (nb_bdev_open_ext(bdev, 1, on_event, NULL, &desc) != 0)
		die("open %s", bdev);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(desc);
	/* the blocks it covers are forgotten before it is submitted: they may change from now on */
	say("Z %d %u %u", s, first, count);
	struct io_wait w = { 1, 0 };
	int rc = unmap ? nb_bdev_unmap(desc, ch, (uint64_t)first * BLOCK, (uint64_t)count * BLOCK, on_io, &w)
		       : nb_bdev_write_zeroes(desc, ch, (uint64_t)first * BLOCK, (uint64_t)count * BLOCK, on_io, &w);
	if (rc != 0)
		die("%s %s", unmap ? "unmap" : "write zeroes", bdev);
	wait_for(&w);
	if (w.status != 0 && w.status != -ENOSPC)
		op_failed(unmap ? "unmap" : "write zeroes", bdev, w.status);
	for (uint32_t i = first; i < first + count; i++)
		v->flushed[i] = v->acked[i] = 0;
	nb_put_io_channel(ch);
	nb_bdev_close(desc);
}

static void op_snapshot(uint64_t gen)
{
	int s = pick(writable), t = free_slot();
	if (s < 0 || t < 0)
		return;
	struct vol *v = &M.v[s], *snap = &M.v[t];
	memset(snap, 0, sizeof(*snap));
	snprintf(snap->name, sizeof(snap->name), "s%llu", (unsigned long long)gen);
	say("B S %d %d %s", s, t, snap->name);
	char bdev[64], name[64];
	full_name(bdev, sizeof(bdev), v);
	int rc = nb_lvol_snapshot(bdev, snap->name, name, sizeof(name));
	if (rc == -EBUSY || rc == -ENOSPC) {
		say("N %d", t);
		return;
	}
	if (rc != 0)
		op_failed("snapshot", bdev, rc);
	snap->used = snap->exists = snap->snapshot = 1;
	snap->parent = v->parent;
	snap->blocks = v->blocks;
	v->parent = t;
	say("S %d %d %s", s, t, snap->name);
}

static void op_clone(uint64_t gen)
{
	int s = pick(is_snapshot), t = free_slot();
	if (s < 0 || t < 0)
		return;
	struct vol *snap = &M.v[s], *c = &M.v[t];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "c%llu", (unsigned long long)gen);
	say("B K %d %d %s", s, t, c->name);
	char bdev[64], name[64];
	full_name(bdev, sizeof(bdev), snap);
	int rc = nb_lvol_clone(bdev, c->name, name, sizeof(name));
	if (rc == -ENOSPC) {
		say("N %d", t);
		return;
	}
	if (rc != 0)
		op_failed("clone", bdev, rc);
	c->used = c->exists = 1;
	c->parent = s;
	c->blocks = snap->blocks;
	say("K %d %d %s", s, t, c->name);
}

static void op_resize(void)
{
	int s = pick(writable);
	if (s < 0)
		return;
	struct vol *v = &M.v[s];
	uint32_t mib = 1 + (uint32_t)(rnd() % 4);
	say("B R %d", s);
	char bdev[64];
	full_name(bdev, sizeof(bdev), v);
	int rc = nb_lvol_resize(bdev, (uint64_t)mib << 20);
	if (rc == -EBUSY || rc == -ENOSPC) {
		say("A %d", s);
		return;
	}
	if (rc != 0)
		op_failed("resize", bdev, rc);
	v->blocks = mib * (CLUSTER / BLOCK);
	say("R %d %u", s, v->blocks);
}

static void op_delete(void)
{
	int s = pick(deletable);
	if (s < 0)
		return;
	struct vol *v = &M.v[s];
	say("B X %d", s);
	char bdev[64];
	full_name(bdev, sizeof(bdev), v);
	struct io_wait w = { 1, 0 };
	int rc = nb_lvol_delete(bdev, on_done, &w);
	if (rc != 0)
		op_failed("delete", bdev, rc);
	wait_for(&w);
	if (w.status != 0)
		op_failed("delete", bdev, w.status);
	v->exists = 0;
	say("X %d", s);
}

static void print_problem(void *ctx, const char *kind, const char *message)
{
	(void)ctx;
	fprintf(stderr, "  %s: %s\n", kind, message);
}

static int run_child(const char *file, int model_fd, uint64_t seed)
{
	rng_state = seed | 1;
	char *p = (char *)&M;
	for (size_t got = 0; got < sizeof(M);) {
		ssize_t n = read(model_fd, p + got, sizeof(M) - got);
		if (n <= 0)
			return 4;
		got += (size_t)n;
	}
	close(model_fd);
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.log_level = getenv("NB_LVOL_CRASH_VERBOSE") ? NB_LOG_INFO : NB_LOG_WARN;
	if (nb_env_init(&opts) != 0)
		die("nb_env_init");
	/* made before this process has a current thread: examine leaves the store alone */
	char uri[512], name[64];
	snprintf(uri, sizeof(uri), "uring://%s?direct=0&name=base", file);
	if (nb_bdev_create(uri, name, sizeof(name)) != 0)
		die("create %s", uri);
	if (!(T = nb_thread_create("crash", NULL)))
		die("nb_thread_create");
	nb_set_thread(T);
	if (M.store) {
		int problems = nb_lvs_check("base", NULL, NULL);
		if (problems != 0) {
			fprintf(stderr, "test_lvol_crash: the checker's findings on the store as killed:\n");
			nb_lvs_check("base", print_problem, NULL);
			die("nb_lvs_check found %d problems on the store as the kill left it", problems);
		}
	}
	int rc = nb_bdev_create("lvs:///pool?mode=create_import&cluster_size=1M&disk=bdev%3A%2F%2F%2Fbase",
				name, sizeof(name));
	if (rc != 0)
		die("bring up the store");
	say("L");
	void *bufs = nb_dma_zmalloc(8 * BLOCK, BLOCK, NULL);
	if (!bufs)
		die("nb_dma_zmalloc");
	for (int i = 0; i < MAX_VOLS; i++)
		if (M.v[i].used)
			verify_volume(&M.v[i], bufs);
	say("READY");
	if (g_faults) {
		/* the metadata region is inside the first cluster (48 clusters: masks and md pages) */
		unsigned every = 1 + (unsigned)(rnd() % 12);
		const char *stage = rnd() % 2 ? "submit" : "compl";
		snprintf(uri, sizeof(uri), "inject://base?op=write&stage=%s&method=status&offset=0&num_blk=%u"
			 "&every=%u&count=1", stage, CLUSTER / BLOCK, every);
		if (nb_fault_inject(uri) <= 0)
			die("nb_fault_inject %s", uri);
	}
	uint64_t gen = M.gen_base;
	for (int op = 0; op < OPS_PER_CHILD; op++) {
		unsigned r = (unsigned)(rnd() % 100);
		int live = 0;
		for (int i = 0; i < MAX_VOLS; i++)
			live += M.v[i].used && M.v[i].exists;
		if (r < 12 || live == 0)
			op_create(++gen);
		else if (r < 62)
			op_write(&gen, bufs);
		else if (r < 70)
			op_zero();
		else if (r < 78)
			op_snapshot(++gen);
		else if (r < 84)
			op_clone(++gen);
		else if (r < 90)
			op_resize();
		else
			op_delete();
	}
	say("DONE");
	for (;;)
		pause(); /* waits for its SIGKILL: an orderly exit is not what is tested */
}

/* ---------------------------------------------------------------- the parent */

static int g_inflight = -1, g_inflight2 = -1; /* slots an unacknowledged operation touched */

/* acknowledged operations by their letter, and in-flight ones resolved after a kill (E) */
static long g_tally[128];

static void apply(char *line)
{
	g_tally[(unsigned char)line[0] & 127]++;
	int s, t;
	unsigned u;
	unsigned long long g;
	char nm[32];
	struct vol *v;
	switch (line[0]) {
	case 'B':
		g_inflight = g_inflight2 = -1;
		if (sscanf(line, "B C %d %31s", &s, nm) == 2) {
			v = &M.v[s];
			memset(v, 0, sizeof(*v));
			snprintf(v->name, sizeof(v->name), "%s", nm);
			v->used = 1;
			v->parent = -1;
			g_inflight = s;
		} else if (sscanf(line, "B S %d %d %31s", &s, &t, nm) == 3 ||
			   sscanf(line, "B K %d %d %31s", &s, &t, nm) == 3) {
			v = &M.v[t];
			memset(v, 0, sizeof(*v));
			snprintf(v->name, sizeof(v->name), "%s", nm);
			v->used = 1;
			v->parent = line[2] == 'S' ? M.v[s].parent : s;
			v->snapshot = line[2] == 'S';
			v->blocks = M.v[s].blocks;
			g_inflight = t;
			g_inflight2 = line[2] == 'S' ? s : -1;
		} else if (sscanf(line, "B %*c %d", &s) == 1) {
			g_inflight = s;
		}
		break;
	case 'N': /* refused (full, busy): the slot stays free */
		sscanf(line, "N %d", &s);
		M.v[s].used = 0;
		g_inflight = g_inflight2 = -1;
		break;
	case 'A':
		g_inflight = g_inflight2 = -1;
		break;
	case 'C':
		sscanf(line, "C %d %31s %u", &s, nm, &u);
		M.v[s].exists = 1;
		M.v[s].blocks = u;
		g_inflight = -1;
		break;
	case 'S':
		sscanf(line, "S %d %d", &s, &t);
		M.v[t].exists = 1;
		M.v[s].parent = t;
		g_inflight = g_inflight2 = -1;
		break;
	case 'K':
		sscanf(line, "K %d %d", &s, &t);
		M.v[t].exists = 1;
		g_inflight = -1;
		break;
	case 'R':
		sscanf(line, "R %d %u", &s, &u);
		v = &M.v[s];
		for (unsigned i = u; i < MAX_BLOCKS; i++)
			v->flushed[i] = v->acked[i] = 0;
		v->blocks = u;
		g_inflight = -1;
		break;
	case 'X':
		sscanf(line, "X %d", &s);
		M.v[s].exists = 0;
		M.v[s].used = 0;
		g_inflight = -1;
		break;
	case 'Z':
		sscanf(line, "Z %d %u %u", &s, &u, &t);
		for (unsigned i = u; i < u + (unsigned)t && i < MAX_BLOCKS; i++)
			M.v[s].flushed[i] = M.v[s].acked[i] = 0;
		break;
	case 'W':
		sscanf(line, "W %d %u %llu", &s, &u, &g);
		M.v[s].acked[u] = g;
		break;
	case 'F':
		sscanf(line, "F %d", &s);
		v = &M.v[s];
		for (unsigned i = 0; i < MAX_BLOCKS; i++)
			if (v->acked[i]) {
				v->flushed[i] = v->acked[i];
				v->acked[i] = 0;
			}
		break;
	case 'E': /* what a child found of a volume whose operation was in flight */
		sscanf(line, "E %31s %d %u", nm, &t, &u);
		for (s = 0; s < MAX_VOLS; s++) {
			v = &M.v[s];
			if (!v->used || strcmp(v->name, nm) != 0)
				continue;
			v->uncertain = 0;
			if (!t) {
				v->used = v->exists = 0;
				for (int i = 0; i < MAX_VOLS; i++)
					if (M.v[i].used && M.v[i].parent == s)
						M.v[i].parent = v->parent; /* a snapshot that did not happen */
			} else {
				v->exists = 1;
				for (unsigned i = u; i < MAX_BLOCKS; i++)
					v->flushed[i] = 0;
				v->blocks = u;
			}
		}
		break;
	}
}

/* After the kill: what was acknowledged but not flushed may or may not be there (not checked);
 * the slots of an operation in flight are checked for what they hold, not what they should. */
static void after_kill(void)
{
	for (int i = 0; i < MAX_VOLS; i++)
		memset(M.v[i].acked, 0, sizeof(M.v[i].acked));
	if (g_inflight >= 0)
		M.v[g_inflight].uncertain = 1;
	if (g_inflight2 >= 0)
		M.v[g_inflight2].uncertain = 1;
	/* a snapshot in flight: its volume is a clone of it or not, depending on which it reached */
	if (g_inflight >= 0 && g_inflight2 >= 0 && M.v[g_inflight2].parent != g_inflight)
		M.v[g_inflight2].parent = g_inflight;
	g_inflight = g_inflight2 = -1;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One child: feed it the model, apply its acknowledgements, kill it after `kill_after` of them
 * (plus a random few hundred microseconds, so it dies inside its next operation). */
static int iteration(const char *file, uint64_t seed, int it, int kill_after, unsigned delay_us)
{
	int to_child[2], from_child[2];
	if (pipe(to_child) != 0 || pipe(from_child) != 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		close(to_child[1]);
		close(from_child[0]);
		g_ack = from_child[1];
		_exit(run_child(file, to_child[0], seed));
	}
	close(to_child[0]);
	close(from_child[1]);
	M.gen_base = (uint64_t)it * 1000000;
	if (write(to_child[1], &M, sizeof(M)) != (ssize_t)sizeof(M))
		return -1;
	close(to_child[1]);
	char buf[8192];
	size_t have = 0;
	int acks = 0, ready = 0, failed = 0;
	int64_t deadline = now_us() + 60 * 1000000ll;
	for (;;) {
		struct pollfd pfd = { from_child[0], POLLIN, 0 };
		int left = (int)((deadline - now_us()) / 1000);
		if (left <= 0 || poll(&pfd, 1, left) <= 0) {
			fprintf(stderr, "iteration %d: the child said nothing for 60 s\n", it);
			failed = 1;
			break;
		}
		ssize_t n = read(from_child[0], buf + have, sizeof(buf) - have - 1);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		char *line = buf, *nl;
		int stop = 0;
		while ((nl = strchr(line, '\n'))) {
			*nl = 0;
			if (strncmp(line, "FAIL", 4) == 0) {
				fprintf(stderr, "iteration %d (seed %llu): %s\n", it, (unsigned long long)seed, line);
				failed = 1;
			} else if (strcmp(line, "READY") == 0) {
				ready = 1;
			} else if (strcmp(line, "DONE") == 0) {
				stop = 1;
			} else if (line[0] == 'H') { /* a fault failed an operation: the child waits for us */
				apply(line);
				stop = 1;
			} else if (strcmp(line, "L") == 0) {
				M.store = 1;
			} else {
				apply(line);
				if (ready && line[0] != 'E' && ++acks >= kill_after)
					stop = 1;
			}
			line = nl + 1;
		}
		have = strlen(line);
		memmove(buf, line, have);
		if (stop || failed)
			break;
	}
	if (!failed && delay_us)
		usleep(delay_us);
	kill(pid, SIGKILL);
	/* what it said before it died (acknowledgements after our stop point count too) */
	for (;;) {
		ssize_t n = read(from_child[0], buf + have, sizeof(buf) - have - 1);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = 0;
			if (strncmp(line, "FAIL", 4) == 0) {
				fprintf(stderr, "iteration %d (seed %llu): %s\n", it, (unsigned long long)seed, line);
				failed = 1;
			} else if (strcmp(line, "READY") && strcmp(line, "DONE") && strcmp(line, "L")) {
				apply(line);
			} else if (strcmp(line, "L") == 0) {
				M.store = 1;
			}
			line = nl + 1;
		}
		have = strlen(line);
		memmove(buf, line, have);
	}
	close(from_child[0]);
	int status;
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		failed = 1;
	after_kill();
	return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 2 && !(argc == 3 && strcmp(argv[2], "faults") == 0)) {
		fprintf(stderr, "usage: %s DIR [faults]\n", argv[0]);
		return 2;
	}
	g_faults = argc == 3;
	const char *e = getenv("NB_LVOL_CRASH_ITERATIONS");
	int iterations = e ? atoi(e) : 200;
	e = getenv("NB_LVOL_CRASH_SEED");
	uint64_t seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL);
	mkdir(argv[1], 0755);
	char dir[4096], file[4200];
	if (!realpath(argv[1], dir)) {
		perror(argv[1]);
		return 2;
	}
	snprintf(file, sizeof(file), "%s/crash.img", dir); /* uring:// takes an absolute path */
	setvbuf(stdout, NULL, _IOLBF, 0);
	int fd = open(file, O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)STORE_BYTES) != 0) {
		perror(file);
		return 2;
	}
	close(fd);
	printf("test_lvol_crash: %d iterations%s, seed %llu (NB_LVOL_CRASH_SEED to repeat)\n", iterations,
	       g_faults ? " with metadata write faults" : "", (unsigned long long)seed);
	rng_state = seed | 1;
	int64_t start = now_us();
	for (int it = 0; it < iterations; it++) {
		int kill_after = (int)(rnd() % 40);
		unsigned delay = (unsigned)(rnd() % 3000);
		if (iteration(file, seed + (uint64_t)it * 7919, it, kill_after, delay) != 0) {
			fprintf(stderr, "test_lvol_crash: iteration %d failed (seed %llu)\n", it,
				(unsigned long long)seed);
			return 1;
		}
	}
	/* the last store as it was killed: one more check and verification */
	if (iteration(file, seed ^ 0x5555, iterations, 0, 0) != 0)
		return 1;
	printf("test_lvol_crash: acknowledged %ld creates, %ld writes, %ld flushes, %ld unmaps or write zeroes "
	       "(submitted), %ld snapshots, %ld clones, %ld resizes, %ld deletes; %ld refused (full or busy); "
	       "%ld in flight at a kill, resolved\n",
	       g_tally['C'], g_tally['W'], g_tally['F'], g_tally['Z'], g_tally['S'], g_tally['K'], g_tally['R'],
	       g_tally['X'],
	       g_tally['N'] + g_tally['A'], g_tally['E']);
	if (g_faults)
		printf("test_lvol_crash: %ld operations failed by a metadata write fault, then killed\n",
		       g_tally['H']);
	printf("test_lvol_crash: %d kills, every acknowledged create and flushed write found, the checker "
	       "clean each time (%.1f s)\n", iterations, (double)(now_us() - start) / 1e6);
	return 0;
}
