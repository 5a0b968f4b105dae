/* bdevperf: SPDK's bdevperf, on libnativebdev. Same options with the same meaning, same
 * summary table.
 *
 *   bdevperf -q DEPTH -o SIZE -w WORKLOAD -t SECONDS [-M READ%] [-m COREMASK] [-c|--json CONFIG]
 *            [-T BDEV]... [-C] [-f] [-k SECONDS [-X]] [-S PERIOD [-P N]] [-F THETA] [-U] [-l|-ll]
 *            [-j JOBFILE] [-z [-r RPC_SOCKET]]
 *   extensions (SPDK has no such options): [-b URI]... [--fault inject://...]...
 *            [--results-json FILE|-] [--hot-remove MS]
 *
 * Workloads: read randread write randwrite rw randrw verify unmap write_zeroes flush reset.
 * The bdevs come from the SPDK JSON config (-c, loaded, never written) and from -b URIs; -T
 * picks some, else every bdev no module has claimed. As in SPDK, one job per bdev, the jobs
 * spread over the cores of the mask in turn; -C gives every core a job on every bdev. Each job
 * runs on its own lightweight thread, pinned to its core by a reactor, and covers its own
 * slice of the bdev. A job stops at its first failed I/O unless -f. Exit status is non-zero if
 * any I/O failed or a verify read did not match what was written. With -z, bdevperf serves the
 * library's JSON-RPC methods and perform_tests on the -r socket until a signal: each
 * perform_tests runs over the bdevs there are then (made by -c/-b or over RPC) and is answered
 * with the results. */
#include <math.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include "nativebdev.h"
#include "bdevperf_rpc.h"

#define MAX_BDEVS 64
#define MAX_JOBS 1024

enum workload { W_READ, W_RANDREAD, W_WRITE, W_RANDWRITE, W_RW, W_RANDRW, W_VERIFY, W_UNMAP,
		W_WRITE_ZEROES, W_FLUSH, W_RESET };
static const char *workload_names[] = { "read", "randread", "write", "randwrite", "rw", "randrw",
					"verify", "unmap", "write_zeroes", "flush", "reset" };

static struct {
	int depth;
	uint64_t io_size;
	int workload;
	int rwmix;
	int seconds;
	const char *core_mask;
	const char *uris[MAX_BDEVS];
	int nuris;
	const char *config;             /* -c/--json: an SPDK JSON config to load */
	const char *jobfile;            /* -j: SPDK's fio-like job file */
	int every_core;                 /* -C */
	int continue_on_failure;        /* -f */
	int abort_timeouts;             /* -X */
	int period_s;                   /* -S PERIOD */
	int ema_period;                 /* -P N */
	double zipf_theta;              /* -F THETA */
	int unique_writes;              /* -U */
	const char *targets[MAX_BDEVS]; /* -T: only these bdevs get jobs */
	int ntargets;
	const char *faults[MAX_BDEVS];  /* -F: inject:// rules added after the bdevs exist */
	int nfaults;
	double timeout_s;               /* -k: per-I/O timeout; overdue I/O counts in TO/s */
	int hot_remove_ms;              /* --hot-remove: destroy the bdevs this far into the run */
	int latency;                    /* -l 1, -ll 2 */
	const char *json;               /* --results-json */
	int wait_for_tests;             /* -z: run when the perform_tests RPC comes */
	const char *rpc_addr;           /* -r: its Unix socket */
} g_opt = { .depth = 0, .io_size = 0, .workload = -1, .rwmix = -1, .seconds = 0, .core_mask = "0x1" };

/* SPDK bdevperf's latency cut-offs, in percent. */
#define NPCTS 15
static const double g_pcts[NPCTS] = { 1, 10, 25, 50, 75, 90, 95, 98, 99, 99.5, 99.9, 99.99, 99.999, 99.9999,
				      99.99999 };

struct slot {
	struct job *job;
	char *buf;
	char *rbuf;       /* verify: the read-back buffer */
	uint64_t offset;  /* blocks */
	uint64_t index;   /* verify: the I/O's place in the job's range, held in job->busy */
	uint64_t seed;
	int reading;      /* verify: this slot is in its read-back phase */
};

struct job {
	char bdev[NB_BDEV_NAME_MAX];
	int core;
	struct nb_thread *thread;
	struct nb_bdev_desc *desc;
	struct nb_io_channel *ch;
	struct nb_poller *reset_poller;
	struct slot *slots;
	uint64_t block_size, io_blocks, first_block, num_ios, next_seq;
	uint8_t *busy;    /* verify: one bit per I/O of the range, set while a slot works on it */
	uint64_t rng;
	uint64_t unique;  /* -U: stamped into each write */
	double zipf_zetan, zipf_eta, zipf_alpha, zipf_second; /* -F: Gray et al.'s constants */
	int draining;     /* a failure stopped the job (no -f) */
	uint64_t start_ticks, end_ticks;
	_Atomic uint64_t completed;
	_Atomic uint64_t failed;
	_Atomic uint64_t timeouts;
	uint64_t verify_errors;
	int outstanding;
	int setup_rc;
	atomic_int finished;
	/* results, read on the job's thread before its channel is put */
	struct nb_bdev_io_stat stat;
	uint64_t pct_ticks[NPCTS];
};

static struct job g_jobs[MAX_JOBS];
static int g_njobs;
static atomic_int g_stop;
static uint64_t g_hz;

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int is_write(int w)
{
	return w == W_WRITE || w == W_RANDWRITE || w == W_RW || w == W_RANDRW || w == W_VERIFY ||
	       w == W_UNMAP || w == W_WRITE_ZEROES || w == W_FLUSH || w == W_RESET;
}

static void fill_pattern(struct job *j, struct slot *s)
{
	uint64_t *w = (uint64_t *)s->buf;
	for (uint64_t i = 0; i < g_opt.io_size / 8; i++)
		w[i] = s->seed ^ (s->offset * 0x9e3779b97f4a7c15ull) ^ i;
	(void)j;
}

static void on_io(struct nb_bdev_io *io, int status, void *arg);

/* Counters written by the job's own thread and read by the main thread for -S: a plain
 * increment (a relaxed load and store compile to mov/add/mov), never a locked add, which
 * would cost more than the whole I/O on the null bdev. */
static inline void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

/* Gray et al., "Quickly generating billion-record synthetic databases" (SIGMOD 1994): the
 * rank of a zipf-distributed draw over [0, n) from one uniform number, as SPDK's zipf does. */
static void zipf_init(struct job *j)
{
	double theta = g_opt.zipf_theta, n = (double)j->num_ios, zeta2 = 1 + pow(0.5, theta);
	j->zipf_zetan = 0;
	for (uint64_t i = 1; i <= j->num_ios; i++)
		j->zipf_zetan += 1.0 / pow((double)i, theta);
	j->zipf_alpha = 1.0 / (1.0 - theta);
	j->zipf_eta = (1.0 - pow(2.0 / n, 1.0 - theta)) / (1.0 - zeta2 / j->zipf_zetan);
	j->zipf_second = zeta2;
}

static uint64_t zipf_next(struct job *j)
{
	double u = (double)(xorshift(&j->rng) >> 11) * (1.0 / 9007199254740992.0), uz = u * j->zipf_zetan;
	if (uz < 1.0)
		return 0;
	if (uz < j->zipf_second)
		return 1;
	uint64_t r = (uint64_t)((double)j->num_ios * pow(j->zipf_eta * u - j->zipf_eta + 1.0, j->zipf_alpha));
	return r < j->num_ios ? r : j->num_ios - 1;
}

static uint64_t next_offset(struct job *j, int random)
{
	uint64_t n;
	if (random && g_opt.zipf_theta > 0) {
		n = zipf_next(j);
	} else if (random) {
		/* Lemire's multiply-shift maps a 64-bit random number onto [0, num_ios) without a
		 * 64-bit division (tens of cycles). */
		n = (uint64_t)(((unsigned __int128)xorshift(&j->rng) * j->num_ios) >> 64);
	} else {
		n = j->next_seq++;
		if (j->next_seq == j->num_ios)
			j->next_seq = 0;
	}
	return j->first_block + n * j->io_blocks;
}

/* Verify and reset: the next I/O of the range that no other slot is working on, as SPDK's
 * bdevperf skips the offsets its outstanding bit array holds. Without it a slot lapped by the
 * others (a slow I/O at a queue depth near the range's size) has its write and read-back
 * overlapped by another slot's write, and a correct device "fails" verify. The range holds
 * at least depth I/Os (checked at set-up), so one is always free. */
static uint64_t next_verify_offset(struct job *j, struct slot *s)
{
	if (s->index != UINT64_MAX)
		j->busy[s->index >> 3] &= (uint8_t)~(1u << (s->index & 7));
	uint64_t n = j->next_seq;
	while (j->busy[n >> 3] & (1u << (n & 7)))
		n = n + 1 == j->num_ios ? 0 : n + 1;
	j->next_seq = n + 1 == j->num_ios ? 0 : n + 1;
	j->busy[n >> 3] |= (uint8_t)(1u << (n & 7));
	s->index = n;
	return j->first_block + n * j->io_blocks;
}

/* -U: every block of every write differs from all others (a counter in its first 8 bytes). */
static inline void stamp_unique(struct job *j, struct slot *s)
{
	if (!g_opt.unique_writes)
		return;
	for (uint64_t b = 0; b < j->io_blocks; b++)
		memcpy(s->buf + b * j->block_size, &(uint64_t){ j->unique++ }, 8);
}

static int submit(struct slot *s)
{
	struct job *j = s->job;
	int w = g_opt.workload;
	int random = w == W_RANDREAD || w == W_RANDWRITE || w == W_RANDRW;
	if (w == W_VERIFY || w == W_RESET) {
		if (s->reading)
			return nb_bdev_read_blocks(j->desc, j->ch, s->rbuf, s->offset, j->io_blocks, on_io, s);
		s->offset = next_verify_offset(j, s);
		s->seed = xorshift(&j->rng);
		fill_pattern(j, s);
		return nb_bdev_write_blocks(j->desc, j->ch, s->buf, s->offset, j->io_blocks, on_io, s);
	}
	s->offset = next_offset(j, random);
	switch (w) {
	case W_READ:
	case W_RANDREAD:
		return nb_bdev_read_blocks(j->desc, j->ch, s->buf, s->offset, j->io_blocks, on_io, s);
	case W_WRITE:
	case W_RANDWRITE:
		stamp_unique(j, s);
		return nb_bdev_write_blocks(j->desc, j->ch, s->buf, s->offset, j->io_blocks, on_io, s);
	case W_RW:
	case W_RANDRW:
		if ((int)(((xorshift(&j->rng) >> 32) * 100) >> 32) < g_opt.rwmix)
			return nb_bdev_read_blocks(j->desc, j->ch, s->buf, s->offset, j->io_blocks, on_io, s);
		stamp_unique(j, s);
		return nb_bdev_write_blocks(j->desc, j->ch, s->buf, s->offset, j->io_blocks, on_io, s);
	case W_UNMAP:
		return nb_bdev_unmap_blocks(j->desc, j->ch, s->offset, j->io_blocks, on_io, s);
	case W_WRITE_ZEROES:
		return nb_bdev_write_zeroes_blocks(j->desc, j->ch, s->offset, j->io_blocks, on_io, s);
	default:
		return nb_bdev_flush_blocks(j->desc, j->ch, s->offset, j->io_blocks, on_io, s);
	}
}

static void free_slots(struct job *j)
{
	for (int i = 0; j->slots && i < g_opt.depth; i++) {
		nb_dma_free(j->slots[i].buf);
		nb_dma_free(j->slots[i].rbuf);
	}
	free(j->slots);
	j->slots = NULL;
	free(j->busy);
	j->busy = NULL;
}

static void job_finish(struct job *j)
{
	j->end_ticks = nb_get_ticks();
	memset(&j->stat, 0, sizeof(j->stat));
	j->stat.stat_size = sizeof(j->stat);
	nb_bdev_channel_get_io_stat(j->ch, &j->stat);
	nb_bdev_get_latency_percentiles(nb_bdev_desc_get_bdev(j->desc), j->ch, g_pcts, j->pct_ticks, NPCTS);
	if (j->reset_poller)
		nb_poller_unregister(&j->reset_poller);
	free_slots(j);
	nb_put_io_channel(j->ch);
	nb_bdev_close(j->desc);
	atomic_store(&j->finished, 1);
}

/* SPDK's bdevperf ends a job at its first failure (its status is then "failed") unless -f. */
static void stop_on_failure(struct job *j, int status)
{
	if (g_opt.continue_on_failure || j->draining)
		return;
	j->draining = 1;
	fprintf(stderr, "bdevperf: %s: I/O failed (%d): stopping the job (-f continues after failures)\n", j->bdev,
		status);
}

static int verify(struct job *j, struct slot *s)
{
	fill_pattern(j, s);
	if (memcmp(s->buf, s->rbuf, g_opt.io_size) == 0)
		return 1;
	uint64_t i = 0;
	while (i < g_opt.io_size && s->buf[i] == s->rbuf[i])
		i++;
	if (j->verify_errors++ < 10)
		fprintf(stderr, "bdevperf: verify failed on %s at offset %" PRIu64 " (block %" PRIu64
			", byte %" PRIu64 " of the I/O): wrote 0x%02x, read 0x%02x\n",
			j->bdev, s->offset * j->block_size + i, s->offset, i, (unsigned char)s->buf[i],
			(unsigned char)s->rbuf[i]);
	bump(&j->failed);
	return 0;
}

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct slot *s = arg;
	struct job *j = s->job;
	j->outstanding--;
	if (status == -ETIMEDOUT) {
		s->reading = 0; /* counted by on_timeout */
	} else if (status != 0) {
		bump(&j->failed);
		s->reading = 0;
		stop_on_failure(j, status);
	} else if (g_opt.workload == W_VERIFY || g_opt.workload == W_RESET) {
		if (s->reading) {
			if (!verify(j, s))
				stop_on_failure(j, -EILSEQ);
			bump(&j->completed);
		}
		s->reading = !s->reading;
	} else {
		bump(&j->completed);
	}
	if ((j->draining || atomic_load_explicit(&g_stop, memory_order_relaxed)) && !s->reading) {
		if (j->outstanding == 0)
			job_finish(j);
		return;
	}
	int rc = submit(s);
	if (rc == 0) {
		j->outstanding++;
	} else {
		bump(&j->failed);
		if (j->outstanding == 0)
			job_finish(j);
	}
}

static void on_reset(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct job *j = arg;
	j->outstanding--;
	if (status != 0) {
		bump(&j->failed);
		stop_on_failure(j, status);
	}
	if ((j->draining || atomic_load(&g_stop)) && j->outstanding == 0)
		job_finish(j);
}

static int reset_tick(void *arg)
{
	struct job *j = arg;
	if (atomic_load(&g_stop) || j->draining)
		return NB_POLLER_IDLE;
	if (nb_bdev_reset(j->desc, j->ch, on_reset, j) == 0)
		j->outstanding++;
	return NB_POLLER_BUSY;
}

static void on_timeout(void *ctx, struct nb_bdev_io *io)
{
	(void)io;
	bump(&((struct job *)ctx)->timeouts);
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	struct job *j = ctx;
	if (type == NB_BDEV_EVENT_REMOVE) {
		fprintf(stderr, "bdevperf: %s is being removed: stopping its job\n", nb_bdev_get_name(bdev));
		atomic_store(&g_stop, 1);
	}
	(void)j;
}

/* Runs on the main thread before the job's thread starts, as SPDK's bdevperf_construct_job
 * allocates its tasks: a buffer allocation that grows the DMA pool maps and pins the new
 * region (64 MiB: 24-170 ms here), which must not stall the reactor the job runs on. */
static int alloc_slots(struct job *j)
{
	j->slots = calloc(g_opt.depth, sizeof(struct slot));
	if (!j->slots)
		return -ENOMEM;
	if (g_opt.workload == W_VERIFY || g_opt.workload == W_RESET) {
		j->busy = calloc(j->num_ios / 8 + 1, 1);
		if (!j->busy)
			return -ENOMEM;
	}
	for (int i = 0; i < g_opt.depth; i++) {
		struct slot *s = &j->slots[i];
		s->job = j;
		s->index = UINT64_MAX;
		s->buf = nb_dma_zmalloc(g_opt.io_size, 4096, NULL);
		if (g_opt.workload == W_VERIFY || g_opt.workload == W_RESET)
			s->rbuf = nb_dma_zmalloc(g_opt.io_size, 4096, NULL);
		if (!s->buf || ((g_opt.workload == W_VERIFY || g_opt.workload == W_RESET) && !s->rbuf))
			return -ENOMEM;
	}
	return 0;
}

/* Runs on the job's thread. */
static void job_start(void *arg)
{
	struct job *j = arg;
	int rc = nb_bdev_open_ext(j->bdev, is_write(g_opt.workload), on_event, j, &j->desc);
	if (rc != 0) {
		fprintf(stderr, "bdevperf: cannot open %s: %s\n", j->bdev, nb_last_error());
		free_slots(j);
		j->setup_rc = rc;
		atomic_store(&j->finished, 1);
		return;
	}
	j->ch = nb_bdev_get_io_channel(j->desc);
	if (g_opt.timeout_s > 0)
		nb_bdev_set_timeout(j->desc, (uint64_t)(g_opt.timeout_s * 1e6), g_opt.abort_timeouts, on_timeout, j);
	if (g_opt.workload == W_RESET)
		j->reset_poller = nb_poller_register(reset_tick, j, 1000000);
	j->start_ticks = nb_get_ticks();
	for (int i = 0; i < g_opt.depth; i++) {
		rc = submit(&j->slots[i]);
		if (rc != 0) {
			fprintf(stderr, "bdevperf: submit failed on %s: %s\n", j->bdev, nb_last_error());
			atomic_fetch_add(&j->failed, 1);
			break;
		}
		j->outstanding++;
	}
	if (j->outstanding == 0)
		job_finish(j);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	return *end ? 0 : v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bdevperf -q DEPTH -o SIZE -w WORKLOAD -t SECONDS [options]   (SPDK bdevperf's options)\n"
		"  -q DEPTH      I/Os in flight per job\n"
		"  -o SIZE       I/O size in bytes (k/m/g suffix allowed)\n"
		"  -w WORKLOAD   read|randread|write|randwrite|rw|randrw|verify|unmap|write_zeroes|flush|reset\n"
		"  -M PERCENT    read share for rw/randrw\n"
		"  -t SECONDS    run time\n"
		"  -m MASK       core mask (\"0x3\" or \"[0,2]\"), default 0x1\n"
		"  -c, --json CONFIG  load this SPDK JSON config (its bdevs are tested; the file is only read)\n"
		"  -T BDEV       test only this bdev (repeatable); default: every bdev no module claimed\n"
		"  -C            every core runs a job on every bdev (default: one job per bdev, cores in turn)\n"
		"  -f            continue after failed I/O (default: a job stops at its first failure)\n"
		"  -k SECONDS    I/O timeout: overdue I/O is counted in TO/s\n"
		"  -X            abort timed-out I/O (with -k)\n"
		"  -S PERIOD     print IOPS every PERIOD seconds;  -P N  as a moving average of N periods\n"
		"  -F THETA      zipf distribution of random offsets\n"
		"  -U            unique data in every block of every write\n"
		"  -l, -ll       latency percentiles per job; -ll at every SPDK cut-off\n"
		"  -j JOBFILE    SPDK's fio-like job file ([global] and one section per job)\n"
		"  -H            accepted: buffers never need hugepages here\n"
		"  -z            serve RPC (every method of nbdev_tgt, e.g. bdev_malloc_create) and run the jobs\n"
		"                at each perform_tests (bdevperf.py perform_tests); stop with SIGINT/SIGTERM\n"
		"  -r ADDR       the RPC socket (default /var/tmp/spdk.sock; or IP:PORT)\n"
		" extensions, which SPDK's bdevperf does not have:\n"
		"  -b URI        create a bdev from a URI (repeatable); without -b or -c:\n"
		"                malloc:///Malloc0?size_mb=128\n"
		"  --fault URI   add a fault rule, inject://BDEV?... (repeatable; see nb_fault_inject)\n"
		"  --results-json FILE  write results as JSON to FILE (- for stdout)\n"
		"  --hot-remove MS  destroy the bdevs MS milliseconds into the run\n");
	exit(2);
}

/* -j: SPDK's job file. Every job section names a bdev (filename; several joined by ':' make a
 * job each) and may set cpumask, offset and length (in blocks); bs, iodepth, rw and rwmixread
 * come from [global] or the command line (which wins, as in SPDK) and are one value for the
 * whole run here: a job section that sets them differently is refused. */
#define MAX_SPECS 256
static struct jobspec {
	char bdev[NB_BDEV_NAME_MAX];
	char cpumask[64];
	uint64_t offset, length;
} g_specs[MAX_SPECS];
static int g_nspecs;

static int parse_workload(const char *name)
{
	for (int i = 0; i < (int)(sizeof(workload_names) / sizeof(*workload_names)); i++)
		if (strcmp(name, workload_names[i]) == 0)
			return i;
	return -1;
}

struct jobfile_section {
	int is_job;
	char filename[1024];
	char cpumask[64];
	uint64_t offset, length;
};

static int add_specs(const struct jobfile_section *sec, const struct jobfile_section *global)
{
	const char *names = sec->filename[0] ? sec->filename : global->filename;
	if (!names[0])
		return -1;
	char copy[1024];
	snprintf(copy, sizeof(copy), "%s", names);
	for (char *save, *b = strtok_r(copy, ":", &save); b; b = strtok_r(NULL, ":", &save)) {
		if (g_nspecs == MAX_SPECS)
			return -2;
		struct jobspec *js = &g_specs[g_nspecs++];
		snprintf(js->bdev, sizeof(js->bdev), "%s", b);
		snprintf(js->cpumask, sizeof(js->cpumask), "%s", sec->cpumask[0] ? sec->cpumask : global->cpumask);
		js->offset = sec->offset;
		js->length = sec->length;
	}
	return 0;
}

/* bs, iodepth, rw, rwmixread: the command line's value stays; a job section may not differ. */
static const char *set_run_value(const char *key, const char *val, int in_job)
{
	int have, differs;
	if (strcmp(key, "bs") == 0) {
		uint64_t v = parse_size(val);
		if (!v)
			return "bad bs";
		have = g_opt.io_size != 0, differs = have && g_opt.io_size != v;
		if (!have)
			g_opt.io_size = v;
	} else if (strcmp(key, "iodepth") == 0) {
		int v = atoi(val);
		have = g_opt.depth != 0, differs = have && g_opt.depth != v;
		if (!have)
			g_opt.depth = v;
	} else if (strcmp(key, "rw") == 0) {
		int w = parse_workload(val);
		if (w < 0)
			return "unknown rw";
		have = g_opt.workload >= 0, differs = have && g_opt.workload != w;
		if (!have)
			g_opt.workload = w;
	} else {
		int v = atoi(val);
		have = g_opt.rwmix >= 0, differs = have && g_opt.rwmix != v;
		if (!have)
			g_opt.rwmix = v;
	}
	return in_job && differs ? "bs, iodepth, rw and rwmixread are one value for every job here: "
				   "set them in [global] or on the command line" : NULL;
}

static int read_jobfile(const char *file)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "bdevperf: -j %s: %s\n", file, strerror(errno));
		return 1;
	}
	struct jobfile_section global = { 0 }, sec = { 0 };
	struct jobfile_section *cur = NULL;
	char line[1024];
	const char *err = NULL;
	int n = 0;
	while (!err && fgets(line, sizeof(line), f)) {
		n++;
		char *p = line + strspn(line, " \t");
		p[strcspn(p, "\r\n#;")] = 0;
		if (!p[0])
			continue;
		if (p[0] == '[') {
			char *end = strchr(p, ']');
			if (!end) {
				err = "a section header needs ']'";
				break;
			}
			*end = 0;
			if (cur == &sec && add_specs(&sec, &global) != 0)
				err = "a job needs 'filename' (bdev names joined by ':'), and at most 256 jobs";
			memset(&sec, 0, sizeof(sec));
			cur = strcmp(p + 1, "global") == 0 ? &global : &sec;
			continue;
		}
		char *eq = strchr(p, '=');
		if (!eq || !cur) {
			err = "expected KEY=VALUE inside a [section]";
			break;
		}
		*eq = 0;
		char *key = p, *val = eq + 1;
		key[strcspn(key, " \t")] = 0;
		val += strspn(val, " \t");
		val[strcspn(val, " \t")] = 0;
		if (strcmp(key, "filename") == 0) {
			snprintf(cur->filename, sizeof(cur->filename), "%s", val);
		} else if (strcmp(key, "cpumask") == 0) {
			snprintf(cur->cpumask, sizeof(cur->cpumask), "%s", val);
		} else if (strcmp(key, "offset") == 0 || strcmp(key, "length") == 0) {
			char *e;
			uint64_t v = strtoull(val, &e, 0);
			if (*e || cur == &global)
				err = "offset and length (in blocks) are numbers in a job section";
			*(key[0] == 'o' ? &cur->offset : &cur->length) = v;
		} else if (strcmp(key, "bs") == 0 || strcmp(key, "iodepth") == 0 || strcmp(key, "rw") == 0 ||
			   strcmp(key, "rwmixread") == 0) {
			err = set_run_value(key, val, cur == &sec);
		} else {
			err = "unknown key (filename, cpumask, bs, iodepth, rw, rwmixread, offset, length)";
		}
	}
	fclose(f);
	if (!err && cur == &sec && add_specs(&sec, &global) != 0)
		err = "a job needs 'filename' (bdev names joined by ':'), and at most 256 jobs";
	if (!err && g_nspecs == 0)
		err = "no job section";
	if (err) {
		fprintf(stderr, "bdevperf: %s:%d: %s\n", file, n, err);
		return 1;
	}
	printf("Using job config with %d jobs\n", g_nspecs);
	return 0;
}

/* 0 when -q, -o, -w, -t (and -M for the mixes) make a run, else -1 with a message. */
static int check_run_params(void)
{
	if (g_opt.depth <= 0 || g_opt.depth > 4096 || g_opt.io_size == 0 || g_opt.workload < 0 ||
	    g_opt.seconds <= 0) {
		fprintf(stderr, "bdevperf: -q (1..4096), -o, -w and -t are required (-j: or bs, iodepth, rw)\n");
		return -1;
	}
	if ((g_opt.workload == W_RW || g_opt.workload == W_RANDRW) && (g_opt.rwmix < 0 || g_opt.rwmix > 100)) {
		fprintf(stderr, "bdevperf: rw and randrw need -M 0..100\n");
		return -1;
	}
	return 0;
}

static void parse_args(int argc, char **argv)
{
	static struct option longopts[] = { { "json", required_argument, NULL, 'c' },
					    { "results-json", required_argument, NULL, 'R' },
					    { "fault", required_argument, NULL, 'I' },
					    { "hot-remove", required_argument, NULL, 'Y' },
					    { "help", no_argument, NULL, 'h' },
					    { NULL, 0, NULL, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "q:o:w:M:t:m:b:T:k:S:P:F:j:c:r:lCfXUHzZDEh", longopts, NULL)) != -1) {
		switch (c) {
		case 'q': g_opt.depth = atoi(optarg); break;
		case 'o': g_opt.io_size = parse_size(optarg); break;
		case 'w':
			if ((g_opt.workload = parse_workload(optarg)) < 0) {
				fprintf(stderr, "bdevperf: unknown workload '%s'\n", optarg);
				usage();
			}
			break;
		case 'M': g_opt.rwmix = atoi(optarg); break;
		case 't': g_opt.seconds = atoi(optarg); break;
		case 'm': g_opt.core_mask = optarg; break;
		case 'b':
			if (g_opt.nuris == MAX_BDEVS)
				usage();
			g_opt.uris[g_opt.nuris++] = optarg;
			break;
		case 'T':
			if (g_opt.ntargets == MAX_BDEVS)
				usage();
			g_opt.targets[g_opt.ntargets++] = optarg;
			break;
		case 'I':
			if (g_opt.nfaults == MAX_BDEVS)
				usage();
			g_opt.faults[g_opt.nfaults++] = optarg;
			break;
		case 'k': g_opt.timeout_s = atof(optarg); break;
		case 'S':
			if ((g_opt.period_s = atoi(optarg)) <= 0) {
				fprintf(stderr, "bdevperf: -S takes a period in seconds\n");
				usage();
			}
			break;
		case 'P': g_opt.ema_period = atoi(optarg); break;
		case 'F': {
			char *end;
			g_opt.zipf_theta = strtod(optarg, &end);
			if (*end || optarg == end || g_opt.zipf_theta < 0 || g_opt.zipf_theta == 1.0) {
				fprintf(stderr, "bdevperf: illegal zipf theta value %s (not negative, not 1)\n", optarg);
				usage();
			}
			break;
		}
		case 'j': g_opt.jobfile = optarg; break;
		case 'c': g_opt.config = optarg; break;
		case 'l': g_opt.latency++; break;
		case 'C': g_opt.every_core = 1; break;
		case 'f': g_opt.continue_on_failure = 1; break;
		case 'X': g_opt.abort_timeouts = 1; break;
		case 'U': g_opt.unique_writes = 1; break;
		case 'H': break;
		case 'z': g_opt.wait_for_tests = 1; break;
		case 'r': g_opt.rpc_addr = optarg; break;
		case 'Z': case 'D': case 'E':
			fprintf(stderr, "bdevperf: -%c (SPDK's %s) is not supported by this bdevperf\n", c,
				c == 'Z' ? "zcopy API" : c == 'D' ? "random map" : "per-core shared thread");
			exit(2);
		case 'Y': g_opt.hot_remove_ms = atoi(optarg); break;
		case 'R': g_opt.json = optarg; break;
		default: usage();
		}
	}
	if (optind != argc) {
		fprintf(stderr, "bdevperf: unexpected argument '%s'\n", argv[optind]);
		usage();
	}
	if (g_opt.jobfile && read_jobfile(g_opt.jobfile) != 0)
		exit(1);
	/* With -z the run's parameters may still come with perform_tests: checked then, as SPDK does. */
	if (!g_opt.wait_for_tests && check_run_params() != 0)
		usage();
	if (g_opt.ema_period > 0 && g_opt.period_s == 0) {
		fprintf(stderr, "bdevperf: -P option must be specified with -S option\n");
		exit(1);
	}
	if (g_opt.abort_timeouts && g_opt.timeout_s <= 0)
		printf("Timeout must be set for abort option, Ignoring -X\n");
	/* -z: the bdevs may come over RPC (bdev_malloc_create names its first one Malloc0 too). */
	if (g_opt.nuris == 0 && !g_opt.config && !g_opt.wait_for_tests)
		g_opt.uris[g_opt.nuris++] = "malloc:///Malloc0?size_mb=128";
}

static double us(uint64_t ticks)
{
	return ticks * 1e6 / (double)g_hz;
}

/* Prints SPDK's table and returns the results as SPDK's perform_tests reply holds them
 * ({"results":[...],"core_count":N}, malloc'd), also written to --results-json's file. */
static char *print_results(void)
{
	char *json = NULL;
	size_t json_len = 0;
	FILE *js = open_memstream(&json, &json_len);
	printf("%*sLatency(us)\n", 96, "");
	printf("Device Information          : runtime(s)       IOPS      MiB/s     Fail/s     TO/s    Average        min        max\n");
	double tiops = 0, tmib = 0, tfail = 0, tto = 0, tlat = 0, tmin = 0, tmax = 0;
	uint64_t tops = 0;
	if (js)
		fprintf(js, "{\"results\":[");
	for (int i = 0; i < g_njobs; i++) {
		struct job *j = &g_jobs[i];
		double rt = (j->end_ticks - j->start_ticks) / (double)g_hz;
		if (rt <= 0)
			rt = 1e-9;
		uint64_t done = atomic_load(&j->completed), failed = atomic_load(&j->failed);
		uint64_t tos = atomic_load(&j->timeouts);
		double iops = done / rt, mib = iops * g_opt.io_size / (1 << 20), fail = failed / rt, to = tos / rt;
		uint64_t ok = j->stat.num_ops;
		double avg = ok ? us(j->stat.latency_ticks) / ok : 0;
		double mn = us(j->stat.min_latency_ticks), mx = us(j->stat.max_latency_ticks);
		printf("Job: %s (Core Mask 0x%llx, workload: %s, depth: %d, IO size: %" PRIu64 ")\n", j->bdev,
		       1ull << j->core, workload_names[g_opt.workload], g_opt.depth, g_opt.io_size);
		printf("\t %-20s:%11.2f %10.2f %10.2f %10.2f %8.2f %10.2f %10.2f %10.2f\n", j->bdev, rt, iops,
		       mib, fail, to, avg, mn, mx);
		if (g_opt.latency == 1)
			printf("\t Latency percentiles (us): p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  p99.99 %.2f\n",
			       us(j->pct_ticks[3]), us(j->pct_ticks[5]), us(j->pct_ticks[8]), us(j->pct_ticks[10]),
			       us(j->pct_ticks[11]));
		if (g_opt.latency >= 2) {
			printf("\t Latency summary (us), at SPDK's -ll cut-offs:\n");
			for (int k = 0; k < NPCTS; k++)
				printf("\t %10.5f%% : %10.3fus\n", g_pcts[k], us(j->pct_ticks[k]));
		}
		tiops += iops;
		tmib += mib;
		tfail += fail;
		tto += to;
		tlat += avg * ok;
		tops += ok;
		tmin = (i == 0 || mn < tmin) ? mn : tmin;
		tmax = mx > tmax ? mx : tmax;
		if (js)
			fprintf(js,
				"%s{\"job\":\"%s\",\"core_mask\":\"0x%llx\",\"workload\":\"%s\",\"status\":\"%s\","
				"\"queue_depth\":%d,\"io_size\":%" PRIu64 ",\"runtime\":%.6f,\"iops\":%.2f,\"mibps\":%.2f,"
				"\"io_failed\":%" PRIu64 ",\"io_timeout\":%" PRIu64 ",\"avg_latency_us\":%.3f,\"min_latency_us\":%.3f,"
				"\"max_latency_us\":%.3f,\"p50_latency_us\":%.3f,\"p99_latency_us\":%.3f}",
				i ? "," : "", j->bdev, 1ull << j->core, workload_names[g_opt.workload],
				j->draining ? "failed" : "finished", g_opt.depth,
				g_opt.io_size, rt, iops, mib, failed, tos, avg, mn, mx, us(j->pct_ticks[3]), us(j->pct_ticks[8]));
	}
	printf("===================================================================================================================\n");
	printf("Total                       : %10.2f %10.2f %10.2f %8.2f %10.2f %10.2f %10.2f\n", tiops, tmib, tfail,
	       tto, tops ? tlat / tops : 0, tmin, tmax);
	if (js) {
		int cores = 0;
		for (int i = 0; i < g_njobs; i++) {
			int seen = 0;
			for (int k = 0; k < i; k++)
				seen |= g_jobs[k].core == g_jobs[i].core;
			cores += !seen;
		}
		fprintf(js, "],\"core_count\":%d}", cores);
		fclose(js);
	}
	if (json && g_opt.json) {
		FILE *f = strcmp(g_opt.json, "-") == 0 ? stdout : fopen(g_opt.json, "w");
		if (!f)
			fprintf(stderr, "bdevperf: --results-json %s: %s\n", g_opt.json, strerror(errno));
		else {
			fprintf(f, "%s\n", json);
			if (f != stdout)
				fclose(f);
		}
	}
	return json;
}

static int die(const char *what)
{
	fprintf(stderr, "bdevperf: %s: %s\n", what, nb_last_error());
	return 1;
}

static void on_config_loaded(void *ctx, int status)
{
	*(int *)ctx = status;
}

/* The bdevs the jobs run on: -T's, else every bdev no module claimed (SPDK's leaves). */
static int pick_bdevs(char names[][NB_BDEV_NAME_MAX])
{
	int n = 0;
	if (g_opt.ntargets > 0) {
		for (int i = 0; i < g_opt.ntargets; i++) {
			if (!nb_bdev_get_by_name(g_opt.targets[i])) {
				fprintf(stderr, "bdevperf: Unable to find bdev '%s'\n", g_opt.targets[i]);
				return -1;
			}
			snprintf(names[n++], NB_BDEV_NAME_MAX, "%s", g_opt.targets[i]);
		}
		return n;
	}
	for (struct nb_bdev *b = nb_bdev_first(); b && n < MAX_BDEVS; b = nb_bdev_next(b)) {
		struct nb_bdev_info info = { .info_size = sizeof(info) };
		if (nb_bdev_get_info(b, &info) == 0 && !info.claimed)
			snprintf(names[n++], NB_BDEV_NAME_MAX, "%s", info.name);
	}
	return n;
}

static struct job *add_job(const char *bdev, int core)
{
	if (g_njobs == MAX_JOBS)
		return NULL;
	struct job *j = &g_jobs[g_njobs++];
	snprintf(j->bdev, sizeof(j->bdev), "%.255s", bdev);
	j->core = core;
	j->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(g_njobs * 7919);
	return j;
}

/* Each job gets its blocks: its own -j offset/length, else an equal slice of its bdev. */
static int place_jobs(char names[][NB_BDEV_NAME_MAX], int nnames)
{
	for (int b = 0; b < nnames; b++) {
		struct nb_bdev *bdev = nb_bdev_get_by_name(names[b]);
		if (!bdev) {
			fprintf(stderr, "bdevperf: Unable to find bdev '%s'\n", names[b]);
			return 1;
		}
		uint64_t bs = nb_bdev_get_block_size(bdev), nblocks = nb_bdev_get_num_blocks(bdev);
		if (g_opt.io_size % bs != 0) {
			fprintf(stderr, "bdevperf: I/O size %" PRIu64 " is not a multiple of %s's block size %" PRIu64 "\n",
				g_opt.io_size, names[b], bs);
			return 1;
		}
		int njobs = 0, k = 0;
		for (int i = 0; i < g_njobs; i++)
			njobs += strcmp(g_jobs[i].bdev, names[b]) == 0;
		if (njobs == 0)
			continue;
		uint64_t io_blocks = g_opt.io_size / bs, slice_ios = nblocks / io_blocks / njobs;
		for (int i = 0; i < g_njobs; i++) {
			struct job *j = &g_jobs[i];
			if (strcmp(j->bdev, names[b]) != 0)
				continue;
			j->block_size = bs;
			j->io_blocks = io_blocks;
			j->num_ios = slice_ios;
			j->first_block = (uint64_t)k++ * slice_ios * io_blocks;
			if (g_nspecs > 0) {
				struct jobspec *js = &g_specs[i];
				uint64_t len = js->length ? js->length : nblocks - (js->offset < nblocks ? js->offset : nblocks);
				if (js->offset + len > nblocks) {
					fprintf(stderr, "bdevperf: job on %s: offset %" PRIu64 " + length %" PRIu64
						" is past its %" PRIu64 " blocks\n", j->bdev, js->offset, len, nblocks);
					return 1;
				}
				j->first_block = js->offset;
				j->num_ios = len / io_blocks;
			}
			if (j->num_ios < (uint64_t)g_opt.depth && (g_opt.workload == W_VERIFY || g_opt.workload == W_RESET)) {
				fprintf(stderr, "bdevperf: %s is too small for %d verify jobs at depth %d\n", names[b], njobs,
					g_opt.depth);
				return 1;
			}
			if (j->num_ios == 0) {
				fprintf(stderr, "bdevperf: %s is smaller than one I/O per job\n", names[b]);
				return 1;
			}
			if (g_opt.zipf_theta > 0)
				zipf_init(j);
		}
	}
	return 0;
}

/* Every bdev, newest first would be nicer; any order works: a vbdev goes with its base. */
static void destroy_all_bdevs(struct nb_thread *app)
{
	nb_set_thread(app);
	for (struct nb_bdev *b = nb_bdev_first(); b;) {
		char name[NB_BDEV_NAME_MAX];
		snprintf(name, sizeof(name), "%s", nb_bdev_get_name(b));
		b = nb_bdev_destroy(name, NULL, NULL) == 0 ? nb_bdev_first() : nb_bdev_next(b);
	}
	nb_set_thread(NULL);
	for (int i = 0; i < 1000; i++)
		nb_thread_poll(app, 0, 0);
}

/* -z: SIGINT, SIGTERM (also spdk_kill_instance's) end the run in progress and the serving. */
static atomic_int g_quit;
static struct nb_thread *g_app; /* creates the bdevs; with -z serves RPC, on the first reactor */
static int g_reactors_started;
/* -z: the perform_tests to run, set on the app thread (the RPC server's), taken by main. */
static struct nb_rpc_request *_Atomic g_request;

static void on_stop_signal(int sig)
{
	(void)sig;
	atomic_store(&g_quit, 1);
	atomic_store(&g_stop, 1);
}

/* Makes the jobs of a run (-j's sections, -C's every core, or one per bdev on the cores in
 * turn) and places them on their bdevs: 0, or 1 with the reason printed. */
static int make_jobs(char names[][NB_BDEV_NAME_MAX], int *nnames, const uint32_t *cores, int ncores)
{
	if (g_nspecs > 0) {
		/* -j: a job per section (per bdev it names), on the first core of its cpumask. */
		for (int i = 0; i < g_nspecs; i++) {
			int core = (int)cores[0];
			if (g_specs[i].cpumask[0]) {
				char *end;
				unsigned long long m = strtoull(g_specs[i].cpumask, &end, 0);
				for (int c = 0; m && c < ncores; c++)
					if (m & (1ull << cores[c])) {
						core = (int)cores[c];
						break;
					}
			}
			add_job(g_specs[i].bdev, core);
			int seen = 0;
			for (int b = 0; b < *nnames; b++)
				seen |= strcmp(names[b], g_specs[i].bdev) == 0;
			if (!seen && *nnames < MAX_BDEVS)
				snprintf(names[(*nnames)++], NB_BDEV_NAME_MAX, "%.255s", g_specs[i].bdev);
		}
	} else if (g_opt.every_core) {
		/* -C: every core runs a job on every bdev, each on its own slice. */
		for (int c = 0; c < ncores; c++)
			for (int b = 0; b < *nnames; b++)
				add_job(names[b], (int)cores[c]);
	} else {
		/* SPDK's default: one job per bdev, on the cores in turn. */
		for (int b = 0; b < *nnames; b++)
			add_job(names[b], (int)cores[b % ncores]);
	}
	if (place_jobs(names, *nnames) != 0)
		return 1;
	for (int i = 0; i < g_njobs; i++)
		if (alloc_slots(&g_jobs[i]) != 0) {
			for (int k = 0; k <= i; k++)
				free_slots(&g_jobs[k]);
			fprintf(stderr, "bdevperf: cannot allocate buffers: %s\n", nb_last_error());
			return 1;
		}
	return 0;
}

/* The -t seconds of a run, with -S's periodic lines and --hot-remove. */
static void run_period(char names[][NB_BDEV_NAME_MAX], int nnames)
{
	uint64_t prev = 0;
	double ema = 0;
	int elapsed_ms = 0, removed = 0, periods = 0;
	for (int s = 0; s < g_opt.seconds && !atomic_load(&g_stop); s++) {
		for (int k = 0; k < 100 && !atomic_load(&g_stop); k++) {
			usleep(10000);
			int running = 0;
			for (int i = 0; i < g_njobs; i++)
				running += !atomic_load(&g_jobs[i].finished);
			if (running == 0)
				atomic_store(&g_stop, 1); /* every job stopped at a failure */
			elapsed_ms += 10;
			if (g_opt.hot_remove_ms > 0 && !removed && elapsed_ms >= g_opt.hot_remove_ms) {
				removed = 1;
				for (int b = 0; b < nnames; b++)
					nb_bdev_destroy(names[b], NULL, NULL);
				printf("hot remove: destroyed %d bdevs at %d ms\n", nnames, elapsed_ms);
			}
		}
		if (g_opt.period_s > 0 && (s + 1) % g_opt.period_s == 0) {
			uint64_t now = 0;
			for (int i = 0; i < g_njobs; i++)
				now += atomic_load(&g_jobs[i].completed);
			double iops = (double)(now - prev) / g_opt.period_s;
			/* -P N: SPDK's exponential moving average, M = 2 / (N + 1). */
			if (g_opt.ema_period > 0) {
				double m = 2.0 / (g_opt.ema_period + 1);
				ema = periods++ == 0 ? iops : iops * m + (1 - m) * ema;
				iops = ema;
			}
			printf("%12.2f IOPS, %10.2f MiB/s\n", iops, iops * (double)g_opt.io_size / (1 << 20));
			fflush(stdout);
			prev = now;
		}
	}
}

/* One run over NAMES (-j adds its own): the jobs on their threads for -t seconds, SPDK's table
 * printed, the results object in *RESULTS (malloc'd). 0, 1 when an I/O failed or a verify read
 * differed, -1 when nothing could run (the reason printed, *RESULTS NULL). With -z it runs
 * again for each perform_tests: the jobs are made afresh, the reactors stay. */
static int run_tests(char names[][NB_BDEV_NAME_MAX], int nnames, char **results)
{
	*results = NULL;
	memset(g_jobs, 0, sizeof(g_jobs[0]) * (size_t)g_njobs);
	g_njobs = 0;
	atomic_store(&g_stop, atomic_load(&g_quit));
	if (!g_reactors_started) {
		if (nb_reactors_start(g_opt.core_mask) != 0) {
			fprintf(stderr, "bdevperf: nb_reactors_start: %s\n", nb_last_error());
			return -1;
		}
		g_reactors_started = 1;
	}
	uint32_t cores[64];
	int ncores = nb_reactor_get_cores(cores, 64);
	if (ncores <= 0) {
		fprintf(stderr, "bdevperf: nb_reactor_get_cores: %s\n", nb_last_error());
		return -1;
	}
	if (make_jobs(names, &nnames, cores, ncores) != 0)
		return -1;
	printf("Running I/O for %d seconds...\n", g_opt.seconds);
	fflush(stdout);
	int started = 0, rc = 0;
	for (; started < g_njobs; started++) {
		struct job *j = &g_jobs[started];
		char mask[32];
		snprintf(mask, sizeof(mask), "[%d]", j->core);
		j->thread = nb_thread_create(j->bdev, mask);
		if (!j->thread || nb_thread_send_msg(j->thread, job_start, j) != 0) {
			fprintf(stderr, "bdevperf: job thread: %s\n", nb_last_error());
			if (j->thread)
				nb_thread_destroy(j->thread);
			for (int k = started; k < g_njobs; k++)
				free_slots(&g_jobs[k]);
			atomic_store(&g_stop, 1);
			rc = -1;
			break;
		}
	}
	if (rc == 0)
		run_period(names, nnames);
	atomic_store(&g_stop, 1);
	for (int i = 0; i < started; i++) {
		while (!atomic_load(&g_jobs[i].finished))
			usleep(10000);
		if (g_jobs[i].setup_rc != 0)
			rc = rc ? rc : 1;
	}
	if (rc >= 0)
		*results = print_results();
	for (int i = 0; i < started; i++) {
		if (atomic_load(&g_jobs[i].failed) || atomic_load(&g_jobs[i].timeouts) || g_jobs[i].verify_errors)
			rc = rc ? rc : 1;
		nb_thread_exit(g_jobs[i].thread);
	}
	for (int i = 0; i < started; i++) {
		while (nb_thread_is_exited(g_jobs[i].thread) != 1)
			usleep(1000);
		nb_thread_destroy(g_jobs[i].thread);
	}
	return rc;
}

/* perform_tests' parameters (SPDK's names; io_size is a string, as -o's argument), applied
 * over the command line's: 0, or -1 when the result is no run (the options stay as they were). */
static int apply_rpc_params(const char *params)
{
	typeof(g_opt) saved = g_opt;
	const char *v;
	char word[64];
	if ((v = bperf_json_get(params, "time_in_sec")))
		g_opt.seconds = atoi(v);
	if ((v = bperf_json_get(params, "queue_depth")))
		g_opt.depth = atoi(v);
	if ((v = bperf_json_get(params, "rw_percentage")))
		g_opt.rwmix = atoi(v);
	if ((v = bperf_json_get(params, "workload_type")) && sscanf(v, "\"%63[^\"]\"", word) == 1)
		g_opt.workload = parse_workload(word);
	if ((v = bperf_json_get(params, "io_size")) && sscanf(v, "\"%63[^\"]\"", word) == 1)
		g_opt.io_size = parse_size(word);
	if (check_run_params() != 0) {
		g_opt = saved;
		return -1;
	}
	return 0;
}

/* -z: perform_tests, a method of the library's RPC server (nb_rpc_register_method), called on
 * the app thread. It takes the run (the options are main's again only once it handed the
 * request back); main runs it and answers. Errors as SPDK's rpc_perform_tests answers them. */
static void rpc_perform_tests(void *ctx, struct nb_rpc_request *req, const char *params)
{
	(void)ctx;
	if (atomic_load(&g_request)) {
		fprintf(stderr, "Another test is already in progress.\n");
		nb_rpc_request_send_error(req, -32603, strerror(EINPROGRESS));
		return;
	}
	if (params && *params != '{') {
		nb_rpc_request_send_error(req, -32700, "spdk_json_decode_object failed");
		return;
	}
	if (params ? apply_rpc_params(params) != 0 : check_run_params() != 0) {
		nb_rpc_request_send_error(req, -32700, "Invalid parameters provided");
		return;
	}
	atomic_store(&g_request, req);
}

struct serving {
	const char *path;
	int rc;
	char error[512];
	atomic_int done;
};

/* On the app thread (a reactor's): the RPC server and perform_tests. */
static void start_serving(void *ctx)
{
	struct serving *sv = ctx;
	sv->rc = nb_rpc_server_start(sv->path);
	if (sv->rc == 0 && (sv->rc = nb_rpc_register_method("perform_tests", rpc_perform_tests, NULL)) != 0)
		nb_rpc_server_stop();
	snprintf(sv->error, sizeof(sv->error), "%s", nb_last_error());
	atomic_store(&sv->done, 1);
}

static void stop_serving(void *ctx)
{
	struct serving *sv = ctx;
	nb_rpc_unregister_method("perform_tests"); /* no run is taken after this */
	struct nb_rpc_request *req = atomic_exchange(&g_request, NULL);
	if (req) /* taken as the signal came: not run */
		nb_rpc_request_send_error(req, -32603, "bdevperf is stopping");
	sv->rc = nb_rpc_server_stop();
	atomic_store(&sv->done, 1);
}

/* Runs fn(sv) on the app thread and waits for it. */
static int on_app(void (*fn)(void *), struct serving *sv)
{
	atomic_store(&sv->done, 0);
	if (nb_thread_send_msg(g_app, fn, sv) != 0)
		return -1;
	while (!atomic_load(&sv->done))
		usleep(1000);
	return sv->rc;
}

/* -z: serves the library's whole RPC method set and perform_tests on the -r socket (SPDK's
 * default when unset) until a signal or spdk_kill_instance: users create bdevs over it
 * (rpc.py -s SOCK bdev_malloc_create ...), then each perform_tests runs the jobs over the bdevs
 * there are then and is answered with the results. As in nbdev_tgt, the app thread serving RPC
 * sits on the first reactor; the runs are made from main. */
static int serve_tests(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (nb_reactors_start(g_opt.core_mask) != 0) {
		fprintf(stderr, "bdevperf: nb_reactors_start: %s\n", nb_last_error());
		return 1;
	}
	g_reactors_started = 1;
	struct serving sv = { .path = g_opt.rpc_addr ? g_opt.rpc_addr : "/var/tmp/spdk.sock" };
	if (on_app(start_serving, &sv) != 0) {
		fprintf(stderr, "bdevperf: -r %s: %s\n", sv.path, sv.error);
		return 1;
	}
	printf("Waiting for the perform_tests RPC on %s\n", sv.path);
	fflush(stdout);
	static char names[MAX_BDEVS][NB_BDEV_NAME_MAX];
	while (!atomic_load(&g_quit)) {
		struct nb_rpc_request *req = atomic_load(&g_request);
		if (!req) {
			usleep(1000);
			continue;
		}
		char *results = NULL;
		int nnames = g_nspecs == 0 ? pick_bdevs(names) : 0;
		int rc = nnames < 0 ? -1 : nnames == 0 && g_nspecs == 0 ? -2 : run_tests(names, nnames, &results);
		char msg[128];
		if (rc == -2)
			fprintf(stderr, "bdevperf: no bdev to test\n");
		snprintf(msg, sizeof(msg), "bdevperf failed with error %s", strerror(rc == -2 ? ENODEV : EINVAL));
		/* Handed back before the answer: a client that sends the next run on the answer finds
		 * none in progress. */
		atomic_store(&g_request, NULL);
		if (!results || nb_rpc_request_send_result(req, results) != 0)
			nb_rpc_request_send_error(req, -32603, msg);
		free(results);
	}
	on_app(stop_serving, &sv);
	return 0;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.name = "bdevperf";
	opts.core_mask = g_opt.core_mask;
	opts.log_level = NB_LOG_WARN;
	opts.dma_pool_size = 64ull << 20;
	opts.dma_pool_max_size = 16ull << 30;
	if (nb_env_init(&opts) != 0)
		return die("nb_env_init");
	g_hz = nb_get_ticks_hz();

	/* Create the bdevs from a setup thread the host drives. */
	struct nb_thread *app = g_app = nb_thread_create("app", NULL);
	nb_set_thread(app);
	if (g_opt.config) {
		/* An SPDK config is loaded, never written: it is the user's file. */
		int loaded = 1;
		if (nb_config_load(g_opt.config, on_config_loaded, &loaded) != 0)
			return die(g_opt.config);
		while (loaded == 1)
			nb_thread_poll(app, 0, 0);
		if (loaded != 0)
			return die(g_opt.config);
	}
	char created[NB_BDEV_NAME_MAX];
	for (int i = 0; i < g_opt.nuris; i++)
		if (nb_bdev_create(g_opt.uris[i], created, sizeof(created)) != 0)
			return die(g_opt.uris[i]);
	for (int i = 0; i < g_opt.nfaults; i++)
		if (nb_fault_inject(g_opt.faults[i]) < 0)
			return die(g_opt.faults[i]);
	nb_set_thread(NULL);

	int rc;
	if (g_opt.wait_for_tests) {
		rc = serve_tests();
	} else {
		static char names[MAX_BDEVS][NB_BDEV_NAME_MAX];
		int nnames = 0;
		if (g_nspecs == 0 && (nnames = pick_bdevs(names)) <= 0) {
			if (nnames == 0)
				fprintf(stderr, "bdevperf: no bdev to test\n");
			return 1;
		}
		char *results = NULL;
		rc = run_tests(names, nnames, &results) != 0;
		free(results);
	}
	if (g_reactors_started)
		nb_reactors_stop();
	destroy_all_bdevs(app);
	nb_thread_exit(app);
	while (nb_thread_is_exited(app) != 1)
		nb_thread_poll(app, 0, 0);
	nb_thread_destroy(app);
	int fini = nb_env_fini();
	if (fini != 0)
		fprintf(stderr, "bdevperf: nb_env_fini: %s\n", nb_last_error());
	return rc;
}
