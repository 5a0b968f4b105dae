/* bdevperf: SPDK's bdevperf, on libnativebdev. Same options, same summary table.
 *
 *   bdevperf -q DEPTH -o SIZE -w WORKLOAD -t SECONDS [-M READ%] [-m COREMASK] [-b URI]...
 *            [-S] [-l] [--json FILE|-]
 *
 * Workloads: read randread write randwrite rw randrw verify unmap write_zeroes flush reset.
 * One job per core of the mask per bdev; each job runs on its own lightweight thread, pinned
 * to its core by a reactor, and covers its own slice of the bdev. Exit status is non-zero if
 * any I/O failed or a verify read did not match what was written. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "nativebdev.h"

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
	const char *targets[MAX_BDEVS]; /* -T: only these bdevs get jobs */
	int ntargets;
	const char *faults[MAX_BDEVS];  /* -F: inject:// rules added after the bdevs exist */
	int nfaults;
	double timeout_s;               /* -k: per-I/O timeout; overdue I/O counts in TO/s */
	int hot_remove_ms;              /* --hot-remove: destroy the bdevs this far into the run */
	int progress;
	int latency;
	const char *json;
} g_opt = { .depth = 0, .io_size = 0, .workload = -1, .rwmix = -1, .seconds = 0, .core_mask = "0x1" };

struct slot {
	struct job *job;
	char *buf;
	char *rbuf;       /* verify: the read-back buffer */
	uint64_t offset;  /* blocks */
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
	uint64_t rng;
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
	uint64_t pct_ticks[5];
};

static struct job g_jobs[MAX_JOBS];
static int g_njobs;
static atomic_int g_stop;
static uint64_t g_hz;
static const double g_pcts[5] = { 50, 90, 99, 99.9, 99.99 };

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

static uint64_t next_offset(struct job *j, int random)
{
	uint64_t n;
	if (random) {
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

static int submit(struct slot *s)
{
	struct job *j = s->job;
	int w = g_opt.workload;
	int random = w == W_RANDREAD || w == W_RANDWRITE || w == W_RANDRW;
	if (w == W_VERIFY || w == W_RESET) {
		if (s->reading)
			return nb_bdev_read_blocks(j->desc, j->ch, s->rbuf, s->offset, j->io_blocks, on_io, s);
		s->offset = next_offset(j, 0);
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
		return nb_bdev_write_blocks(j->desc, j->ch, s->buf, s->offset, j->io_blocks, on_io, s);
	case W_RW:
	case W_RANDRW:
		if ((int)(((xorshift(&j->rng) >> 32) * 100) >> 32) < g_opt.rwmix)
			return nb_bdev_read_blocks(j->desc, j->ch, s->buf, s->offset, j->io_blocks, on_io, s);
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
}

static void job_finish(struct job *j)
{
	j->end_ticks = nb_get_ticks();
	memset(&j->stat, 0, sizeof(j->stat));
	j->stat.stat_size = sizeof(j->stat);
	nb_bdev_channel_get_io_stat(j->ch, &j->stat);
	nb_bdev_get_latency_percentiles(nb_bdev_desc_get_bdev(j->desc), j->ch, g_pcts, j->pct_ticks, 5);
	if (j->reset_poller)
		nb_poller_unregister(&j->reset_poller);
	free_slots(j);
	nb_put_io_channel(j->ch);
	nb_bdev_close(j->desc);
	atomic_store(&j->finished, 1);
}

static void verify(struct job *j, struct slot *s)
{
	fill_pattern(j, s);
	if (memcmp(s->buf, s->rbuf, g_opt.io_size) == 0)
		return;
	uint64_t i = 0;
	while (i < g_opt.io_size && s->buf[i] == s->rbuf[i])
		i++;
	if (j->verify_errors++ < 10)
		fprintf(stderr, "bdevperf: verify failed on %s at offset %" PRIu64 " (block %" PRIu64
			", byte %" PRIu64 " of the I/O): wrote 0x%02x, read 0x%02x\n",
			j->bdev, s->offset * j->block_size + i, s->offset, i, (unsigned char)s->buf[i],
			(unsigned char)s->rbuf[i]);
	bump(&j->failed);
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
	} else if (g_opt.workload == W_VERIFY || g_opt.workload == W_RESET) {
		if (s->reading) {
			verify(j, s);
			bump(&j->completed);
		}
		s->reading = !s->reading;
	} else {
		bump(&j->completed);
	}
	if (atomic_load_explicit(&g_stop, memory_order_relaxed) && !s->reading) {
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
	if (status != 0)
		bump(&j->failed);
	if (atomic_load(&g_stop) && j->outstanding == 0)
		job_finish(j);
}

static int reset_tick(void *arg)
{
	struct job *j = arg;
	if (atomic_load(&g_stop))
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
	for (int i = 0; i < g_opt.depth; i++) {
		struct slot *s = &j->slots[i];
		s->job = j;
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
		nb_bdev_set_timeout(j->desc, (uint64_t)(g_opt.timeout_s * 1e6), 1, on_timeout, j);
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

static int is_target(const char *name)
{
	if (g_opt.ntargets == 0)
		return 1;
	for (int i = 0; i < g_opt.ntargets; i++)
		if (strcmp(g_opt.targets[i], name) == 0)
			return 1;
	return 0;
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
		"usage: bdevperf -q DEPTH -o SIZE -w WORKLOAD -t SECONDS [options]\n"
		"  -q DEPTH      I/Os in flight per job\n"
		"  -o SIZE       I/O size in bytes (k/m suffix allowed)\n"
		"  -w WORKLOAD   read|randread|write|randwrite|rw|randrw|verify|unmap|write_zeroes|flush|reset\n"
		"  -M PERCENT    read share for rw/randrw\n"
		"  -t SECONDS    run time\n"
		"  -m MASK       core mask (\"0x3\" or \"[0,2]\"): one job per core per bdev (default 0x1)\n"
		"  -b URI        a bdev to create and test (repeatable); default malloc:///Malloc0?size_mb=128\n"
		"  -T NAME       test only this bdev (repeatable); default: every bdev created\n"
		"  -F URI        add a fault rule, inject://BDEV?... (repeatable; see nb_fault_inject)\n"
		"  -k SECONDS    I/O timeout: overdue I/O is counted in TO/s and aborted where possible\n"
		"  --hot-remove MS  destroy the bdevs MS milliseconds into the run (test aid)\n"
		"  -S            print IOPS every second\n"
		"  -l            print latency percentiles per job\n"
		"  --json FILE   write results as JSON to FILE (- for stdout)\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static struct option longopts[] = { { "json", required_argument, NULL, 'J' },
					    { "hot-remove", required_argument, NULL, 'H' },
					    { "help", no_argument, NULL, 'h' },
					    { NULL, 0, NULL, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "q:o:w:M:t:m:b:T:F:k:Slh", longopts, NULL)) != -1) {
		switch (c) {
		case 'q': g_opt.depth = atoi(optarg); break;
		case 'o': g_opt.io_size = parse_size(optarg); break;
		case 'w':
			for (int i = 0; i < (int)(sizeof(workload_names) / sizeof(*workload_names)); i++)
				if (strcmp(optarg, workload_names[i]) == 0)
					g_opt.workload = i;
			if (g_opt.workload < 0) {
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
		case 'F':
			if (g_opt.nfaults == MAX_BDEVS)
				usage();
			g_opt.faults[g_opt.nfaults++] = optarg;
			break;
		case 'k': g_opt.timeout_s = atof(optarg); break;
		case 'H': g_opt.hot_remove_ms = atoi(optarg); break;
		case 'S': g_opt.progress = 1; break;
		case 'l': g_opt.latency = 1; break;
		case 'J': g_opt.json = optarg; break;
		default: usage();
		}
	}
	if (g_opt.depth <= 0 || g_opt.depth > 4096 || g_opt.io_size == 0 || g_opt.workload < 0 ||
	    g_opt.seconds <= 0) {
		fprintf(stderr, "bdevperf: -q (1..4096), -o, -w and -t are required\n");
		usage();
	}
	if ((g_opt.workload == W_RW || g_opt.workload == W_RANDRW) && (g_opt.rwmix < 0 || g_opt.rwmix > 100)) {
		fprintf(stderr, "bdevperf: rw and randrw need -M 0..100\n");
		usage();
	}
	if (g_opt.nuris == 0)
		g_opt.uris[g_opt.nuris++] = "malloc:///Malloc0?size_mb=128";
}

static double us(uint64_t ticks)
{
	return ticks * 1e6 / (double)g_hz;
}

static void print_results(void)
{
	FILE *js = NULL;
	if (g_opt.json)
		js = strcmp(g_opt.json, "-") == 0 ? stdout : fopen(g_opt.json, "w");
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
		if (g_opt.latency)
			printf("\t Latency percentiles (us): p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  p99.99 %.2f\n",
			       us(j->pct_ticks[0]), us(j->pct_ticks[1]), us(j->pct_ticks[2]), us(j->pct_ticks[3]),
			       us(j->pct_ticks[4]));
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
				"%s{\"job\":\"%s\",\"core_mask\":\"0x%llx\",\"workload\":\"%s\",\"status\":\"finished\","
				"\"queue_depth\":%d,\"io_size\":%" PRIu64 ",\"runtime\":%.6f,\"iops\":%.2f,\"mibps\":%.2f,"
				"\"io_failed\":%" PRIu64 ",\"io_timeout\":%" PRIu64 ",\"avg_latency_us\":%.3f,\"min_latency_us\":%.3f,"
				"\"max_latency_us\":%.3f,\"p50_latency_us\":%.3f,\"p99_latency_us\":%.3f}",
				i ? "," : "", j->bdev, 1ull << j->core, workload_names[g_opt.workload], g_opt.depth,
				g_opt.io_size, rt, iops, mib, failed, tos, avg, mn, mx, us(j->pct_ticks[0]), us(j->pct_ticks[2]));
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
		fprintf(js, "],\"core_count\":%d}\n", cores);
		if (js != stdout)
			fclose(js);
	}
}

static int die(const char *what)
{
	fprintf(stderr, "bdevperf: %s: %s\n", what, nb_last_error());
	return 1;
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
	struct nb_thread *app = nb_thread_create("app", NULL);
	nb_set_thread(app);
	char names[MAX_BDEVS][NB_BDEV_NAME_MAX];
	for (int i = 0; i < g_opt.nuris; i++)
		if (nb_bdev_create(g_opt.uris[i], names[i], sizeof(names[i])) != 0)
			return die(g_opt.uris[i]);
	for (int i = 0; i < g_opt.nfaults; i++)
		if (nb_fault_inject(g_opt.faults[i]) < 0)
			return die(g_opt.faults[i]);
	nb_set_thread(NULL);

	if (nb_reactors_start(g_opt.core_mask) != 0)
		return die("nb_reactors_start");
	uint32_t cores[64];
	int ncores = nb_reactor_get_cores(cores, 64);
	if (ncores <= 0)
		return die("nb_reactor_get_cores");
	for (int c = 0; c < ncores; c++) {
		for (int b = 0; b < g_opt.nuris; b++) {
			if (g_njobs == MAX_JOBS)
				break;
			if (!is_target(names[b]))
				continue;
			struct job *j = &g_jobs[g_njobs++];
			snprintf(j->bdev, sizeof(j->bdev), "%.255s", names[b]);
			j->core = (int)cores[c];
			j->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(g_njobs * 7919);
		}
	}
	/* Split each bdev among its jobs. */
	for (int b = 0; b < g_opt.nuris; b++) {
		struct nb_bdev *bdev = nb_bdev_get_by_name(names[b]);
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
		if (slice_ios < (uint64_t)g_opt.depth && (g_opt.workload == W_VERIFY || g_opt.workload == W_RESET)) {
			fprintf(stderr, "bdevperf: %s is too small for %d verify jobs at depth %d\n", names[b], njobs,
				g_opt.depth);
			return 1;
		}
		if (slice_ios == 0) {
			fprintf(stderr, "bdevperf: %s is smaller than one I/O per job\n", names[b]);
			return 1;
		}
		for (int i = 0; i < g_njobs; i++) {
			struct job *j = &g_jobs[i];
			if (strcmp(j->bdev, names[b]) != 0)
				continue;
			j->block_size = bs;
			j->io_blocks = io_blocks;
			j->num_ios = slice_ios;
			j->first_block = (uint64_t)k++ * slice_ios * io_blocks;
		}
	}

	for (int i = 0; i < g_njobs; i++)
		if (alloc_slots(&g_jobs[i]) != 0)
			return die("cannot allocate buffers");
	printf("Running I/O for %d seconds...\n", g_opt.seconds);
	fflush(stdout);
	for (int i = 0; i < g_njobs; i++) {
		struct job *j = &g_jobs[i];
		char mask[32];
		snprintf(mask, sizeof(mask), "[%d]", j->core);
		j->thread = nb_thread_create(j->bdev, mask);
		if (!j->thread || nb_thread_send_msg(j->thread, job_start, j) != 0)
			return die("job thread");
	}
	uint64_t prev = 0;
	int elapsed_ms = 0, removed = 0;
	for (int s = 0; s < g_opt.seconds && !atomic_load(&g_stop); s++) {
		for (int k = 0; k < 100 && !atomic_load(&g_stop); k++) {
			usleep(10000);
			elapsed_ms += 10;
			if (g_opt.hot_remove_ms > 0 && !removed && elapsed_ms >= g_opt.hot_remove_ms) {
				removed = 1;
				for (int b = 0; b < g_opt.nuris; b++)
					nb_bdev_destroy(names[b], NULL, NULL);
				printf("hot remove: destroyed %d bdevs at %d ms\n", g_opt.nuris, elapsed_ms);
			}
		}
		if (g_opt.progress) {
			uint64_t now = 0;
			for (int i = 0; i < g_njobs; i++)
				now += atomic_load(&g_jobs[i].completed);
			printf("%12.2f IOPS, %10.2f MiB/s\n", (double)(now - prev),
			       (now - prev) * (double)g_opt.io_size / (1 << 20));
			fflush(stdout);
			prev = now;
		}
	}
	atomic_store(&g_stop, 1);
	int rc = 0;
	for (int i = 0; i < g_njobs; i++) {
		while (!atomic_load(&g_jobs[i].finished))
			usleep(1000);
		if (g_jobs[i].setup_rc != 0)
			rc = 1;
	}
	print_results();
	for (int i = 0; i < g_njobs; i++) {
		if (atomic_load(&g_jobs[i].failed) || atomic_load(&g_jobs[i].timeouts) || g_jobs[i].verify_errors)
			rc = 1;
		nb_thread_exit(g_jobs[i].thread);
	}
	for (int i = 0; i < g_njobs; i++)
		while (nb_thread_is_exited(g_jobs[i].thread) != 1)
			usleep(1000);
	nb_reactors_stop();
	nb_set_thread(app);
	for (int b = 0; b < g_opt.nuris; b++)
		nb_bdev_destroy(names[b], NULL, NULL);
	nb_set_thread(NULL);
	for (int i = 0; i < 1000; i++)
		nb_thread_poll(app, 0, 0);
	nb_thread_exit(app);
	while (nb_thread_is_exited(app) != 1)
		nb_thread_poll(app, 0, 0);
	nb_thread_destroy(app);
	for (int i = 0; i < g_njobs; i++)
		nb_thread_destroy(g_jobs[i].thread);
	int fini = nb_env_fini();
	if (fini != 0)
		fprintf(stderr, "bdevperf: nb_env_fini: %s\n", nb_last_error());
	return rc;
}
