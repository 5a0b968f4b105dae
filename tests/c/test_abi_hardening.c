/* ABI hardening: every function of nativebdev.h called with what a careless or hostile host
 * passes: NULL for every pointer, closed/destroyed (stale) handles, handles of the wrong type,
 * garbage and forged handle values, zero and huge sizes, misaligned buffers (O_DIRECT uring
 * and aio bdevs), bad iovec arrays, channels used from a thread that does not own them,
 * double close/destroy/put/free, calls before nb_env_init and after nb_env_fini, and
 * over-long, unterminated and non-UTF-8 strings.
 *
 * The rule checked everywhere: a bad call returns an error (a negative errno, NULL, 0 or
 * NB_VTOPHYS_ERROR, as the header documents for that function) AND leaves its own non-empty
 * message in nb_last_error(); where the header documents success for an odd argument
 * (nb_dma_free(NULL), nb_set_thread(NULL), ...) that is asserted instead. Before each checked
 * call the last error is "armed" with a marker (a failing nb_log_set_level(-424242)), so a
 * call that fails without setting its own message is caught, not excused by an older one. A
 * message starting with "internal error" (an exception caught at the ABI boundary: a library
 * bug by the library's own definition, runtime/Abi/Guard.cs) also counts as a failure, and so
 * does any "internal error" the library logs.
 *
 * Structure: run without arguments, the program re-runs itself once per group
 * (test_abi_hardening --group NAME DIR), each in a fresh process with a time limit, so that a
 * crash or hang in one group is reported as such (signal, or HANG) and the other groups still
 * run. `test_abi_hardening --group NAME DIR` runs one group in-process (for gdb).
 * DIR is a directory on a filesystem with O_DIRECT (the build tree) for the uring/aio files.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "nativebdev.h"

extern char **environ;

/* =========================================================================================
 * Expectation helpers: record failures and carry on (a group lists all it finds).
 * ======================================================================================= */

#define ANY_ERR (-1000000LL) /* "any negative errno" */
#define MARK_LEVEL (-424242)

static int g_checks, g_failures, g_internal_logged;
static const char *g_group = "?";
static char g_what[768];

#define WHAT(...) (snprintf(g_what, sizeof(g_what), __VA_ARGS__), g_what)

/* Sets the last error to a marker: the next failing call must replace it. The marker is
 * compared as a whole message (messages quote their arguments). */
static char g_marker[256];
static void arm(void)
{
	nb_log_set_level(MARK_LEVEL);
	if (g_marker[0] == '\0')
		snprintf(g_marker, sizeof(g_marker), "%s", nb_last_error());
}

static void fail(int line, const char *what, const char *why, long long got)
{
	g_failures++;
	const char *m = nb_last_error();
	fprintf(stderr, "[%s] FAIL line %d: %s\n    %s (got %lld); last error: \"%s\"\n", g_group, line, what, why,
		got, m ? m : "(NULL)");
}

/* The message after a failing call: non-empty, its own, and not an internal error. */
static void check_message(int line, const char *what, long long got)
{
	const char *m = nb_last_error();
	if (m == NULL || m[0] == '\0')
		fail(line, what, "failed without a message in nb_last_error()", got);
	else if (strcmp(m, g_marker) == 0)
		fail(line, what, "failed but left nb_last_error() as it was (no message of its own)", got);
	else if (strncmp(m, "internal error", 14) == 0)
		fail(line, what, "failed through the library's exception catch-all (a library bug)", got);
}

static void expect_rc(int line, const char *what, long long rc, long long want)
{
	g_checks++;
	int ok = want == ANY_ERR ? rc < 0 : rc == want;
	if (!ok) {
		char why[96];
		if (want == ANY_ERR)
			snprintf(why, sizeof(why), "expected a negative errno");
		else
			snprintf(why, sizeof(why), "expected %lld", want);
		fail(line, what, why, rc);
		return;
	}
	if (rc < 0)
		check_message(line, what, rc);
}

static void expect_null(int line, const char *what, const void *p)
{
	g_checks++;
	if (p != NULL) {
		fail(line, what, "expected NULL", (long long)(intptr_t)p);
		return;
	}
	check_message(line, what, 0);
}

/* A call whose error value is a specific non-negative sentinel (0, NB_VTOPHYS_ERROR). */
static void expect_sentinel(int line, const char *what, unsigned long long v, unsigned long long sentinel)
{
	g_checks++;
	if (v != sentinel) {
		fail(line, what, "expected the error sentinel", (long long)v);
		return;
	}
	check_message(line, what, (long long)v);
}

/* A documented success (no message required). */
static void expect_ok(int line, const char *what, long long v, long long want)
{
	g_checks++;
	if (v != want) {
		char why[64];
		snprintf(why, sizeof(why), "expected %lld (documented behaviour)", want);
		fail(line, what, why, v);
	}
}

#define RC(call, want) expect_rc(__LINE__, #call, (arm(), (long long)(call)), (want))
#define ERR(call) RC(call, ANY_ERR)
#define PNULL(call) expect_null(__LINE__, #call, (arm(), (const void *)(call)))
#define SENT(call, s) expect_sentinel(__LINE__, #call, (arm(), (unsigned long long)(call)), (s))
#define OK(call, want) expect_ok(__LINE__, #call, (long long)(call), (long long)(want))
#define TRUE(cond) expect_ok(__LINE__, #cond, (cond) ? 1 : 0, 1)
/* Variants with a formatted description, for loops over handles and cases. */
#define RCW(call, want, ...) expect_rc(__LINE__, WHAT(__VA_ARGS__), (arm(), (long long)(call)), (want))
#define ERRW(call, ...) RCW(call, ANY_ERR, __VA_ARGS__)
#define PNULLW(call, ...) expect_null(__LINE__, WHAT(__VA_ARGS__), (arm(), (const void *)(call)))
#define SENTW(call, s, ...) expect_sentinel(__LINE__, WHAT(__VA_ARGS__), (arm(), (unsigned long long)(call)), (s))

/* A precondition of the test itself (set-up that must work): stop the group if it does not. */
#define NEED(cond)                                                                                 \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "[%s] SETUP FAILED line %d: %s; last error: \"%s\"\n", g_group, \
				__LINE__, #cond, nb_last_error());                                      \
			exit(2);                                                                   \
		}                                                                                  \
	} while (0)

static void log_cb(int level, const char *msg, void *ctx)
{
	(void)ctx;
	if (strncmp(msg, "internal error: ", 16) == 0) /* others may quote input that holds the words */
		g_internal_logged++;
	if (level <= NB_LOG_WARN)
		fprintf(stderr, "[%s]   library log (%d): %.300s\n", g_group, level, msg);
}

/* =========================================================================================
 * Callbacks (none of them may ever run for a refused call).
 * ======================================================================================= */

static int g_io_callbacks, g_last_status;
static struct nb_bdev_io *g_saved_io;
static int g_msgs, g_pollers, g_events[3];

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)arg;
	g_io_callbacks++;
	g_last_status = status;
	g_saved_io = io;
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)bdev;
	(void)ctx;
	if (type >= 0 && type < 3)
		g_events[type]++;
}

static void on_msg(void *ctx)
{
	(void)ctx;
	g_msgs++;
}

static int on_poll(void *ctx)
{
	(void)ctx;
	g_pollers++;
	return NB_POLLER_IDLE;
}

struct created {
	int calls;
	int status;
	char name[NB_BDEV_NAME_MAX];
	char error[256];
};

static void on_created(void *ctx, int status, const char *name)
{
	if (!ctx)
		return;
	struct created *c = ctx;
	c->calls++;
	c->status = status;
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "(null)");
	snprintf(c->error, sizeof(c->error), "%s", status != 0 ? nb_last_error() : "");
}

static void on_status(void *ctx, int status)
{
	(void)status;
	if (ctx)
		(*(int *)ctx)++;
}

static int ch_create(void *dev, void *ctx)
{
	(void)dev;
	(void)ctx;
	return 0;
}

static void ch_destroy(void *dev, void *ctx)
{
	(void)dev;
	(void)ctx;
}

static int ch_visit(struct nb_io_channel *ch, void *ctx)
{
	(void)ch;
	(void)ctx;
	return 0;
}

static void on_wait(void *ctx)
{
	(void)ctx;
}

static void on_timeout(void *ctx, struct nb_bdev_io *io)
{
	(void)ctx;
	(void)io;
}

static void poll_n(struct nb_thread *t, int n)
{
	for (int i = 0; i < n; i++)
		nb_thread_poll(t, 0, 0);
}

#define POLL_UNTIL(t, cond)                                                                        \
	do {                                                                                       \
		uint64_t _end = nb_get_ticks() + 5 * nb_get_ticks_hz();                            \
		while (!(cond) && nb_get_ticks() < _end)                                           \
			nb_thread_poll((t), 0, 0);                                                 \
		NEED(cond);                                                                        \
	} while (0)

/* =========================================================================================
 * Garbage and forged handle values.
 * Handles are (generation:31 << 32) | (type:8 << 24) | index:24 (runtime/Env/HandleTable.cs);
 * the forged ones keep a live handle's index and change its generation or type byte.
 * ======================================================================================= */

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return g_rng;
}

#define MAX_BAD 128
static void *g_garbage[MAX_BAD];
static int g_ngarbage;
static long g_static_word;

static void add_garbage(uint64_t v)
{
	if (g_ngarbage < MAX_BAD && v != 0)
		g_garbage[g_ngarbage++] = (void *)(uintptr_t)v;
}

static void init_garbage(void)
{
	if (g_ngarbage)
		return;
	add_garbage(1);
	add_garbage(UINT64_MAX); /* (void *)-1 */
	add_garbage(0xdeadbeef);
	add_garbage(0xdeadbeefdeadbeefULL);
	add_garbage(0x7fffffffffffffffULL);
	add_garbage(0x8000000000000000ULL);
	add_garbage(0x100000001ULL);
	add_garbage(0x4e42000000000001ULL); /* the library's own io_device key range */
	add_garbage((uint64_t)(uintptr_t)&g_static_word);
	add_garbage((uint64_t)(uintptr_t)malloc(64)); /* a real heap pointer */
	for (int i = 0; i < 24; i++)
		add_garbage(rnd());
	/* Plausible: a type byte of 1..7, a small index, a random generation. */
	for (int type = 0; type <= 8; type++)
		for (int k = 0; k < 3; k++)
			add_garbage(((rnd() & 0x7fffffffULL) << 32) | ((uint64_t)type << 24) | (rnd() % 8));
}

enum kind { K_THREAD, K_POLLER, K_MEMPOOL, K_CHANNEL, K_BDEV, K_DESC, K_COUNT };

struct handles {
	void *live[K_COUNT][4];
	void *stale[K_COUNT][4];
};
static struct handles g_h;

static void add_handle(void *arr[4], void *h)
{
	for (int i = 0; i < 4; i++)
		if (arr[i] == NULL) {
			arr[i] = h;
			return;
		}
}

/* Every value that is not a valid handle of `kind` (NULL excluded): garbage, other kinds'
 * live handles, this kind's stale handles, and forged variants of this kind's live ones. */
static int bad_for(enum kind kind, void *out[MAX_BAD * 2])
{
	int n = 0;
	init_garbage();
	for (int i = 0; i < g_ngarbage; i++)
		out[n++] = g_garbage[i];
	for (int k = 0; k < K_COUNT; k++)
		for (int i = 0; i < 4; i++) {
			if (k != (int)kind && g_h.live[k][i])
				out[n++] = g_h.live[k][i];
			if (k == (int)kind && g_h.stale[k][i])
				out[n++] = g_h.stale[k][i];
		}
	for (int i = 0; i < 4; i++) {
		uint64_t h = (uint64_t)(uintptr_t)g_h.live[kind][i];
		if (!h)
			continue;
		out[n++] = (void *)(uintptr_t)(h + (1ULL << 32));         /* next generation */
		out[n++] = (void *)(uintptr_t)(h & 0xffffffffULL);        /* generation 0 */
		out[n++] = (void *)(uintptr_t)(h ^ (0x40ULL << 24));      /* another type byte */
		out[n++] = (void *)(uintptr_t)(h ^ 0x8000000000000000ULL); /* top bit */
	}
	return n;
}

/* =========================================================================================
 * Strings: over-long, unterminated (guard page right after), non-UTF-8.
 * ======================================================================================= */

/* `len` non-NUL bytes that end exactly at a PROT_NONE page: a reader that goes further
 * than `len` bytes faults. */
static char *guarded(size_t len, char fill)
{
	size_t pages = (len + 4095) / 4096 + 1;
	char *p = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	NEED(p != MAP_FAILED);
	NEED(mprotect(p + (pages - 1) * 4096, 4096, PROT_NONE) == 0);
	char *s = p + (pages - 1) * 4096 - len;
	memset(s, fill, len);
	return s;
}

static char *long_string(size_t len, const char *prefix)
{
	char *s = malloc(len + 1);
	size_t pl = strlen(prefix);
	memset(s, 'a', len);
	memcpy(s, prefix, pl < len ? pl : len);
	s[len] = '\0';
	return s;
}

/* Invalid UTF-8: a lone continuation byte, a truncated sequence, overlong encodings, a
 * UTF-16 surrogate, a code point past U+10FFFF, 0xFF/0xFE. */
static const char *const bad_utf8[] = {
	"\x80", "abc\xc3", "\xc3\x28", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
	"\xf4\x90\x80\x80", "\xff\xfe", "malloc:///\xff?size_mb=1", "null:///n\xc3?size_mb=1",
};
#define N_BAD_UTF8 (sizeof(bad_utf8) / sizeof(bad_utf8[0]))

/* =========================================================================================
 * The world: one object of every kind, live and stale, in a fresh environment.
 * ======================================================================================= */

struct world {
	struct nb_thread *t1, *t2;
	struct nb_poller *poller;
	struct nb_mempool *mp;
	struct nb_io_channel *cch;  /* a C io_device's channel, on t1 */
	struct nb_bdev *b, *nb;      /* malloc "abi_m" (2048 x 512), null "abi_n" (4096 x 512) */
	struct nb_bdev_desc *d, *ro; /* abi_m read-write and read-only */
	struct nb_bdev_desc *nd;     /* abi_n read-write */
	struct nb_io_channel *bch;   /* abi_m's channel on t1 */
	struct nb_io_channel *nch;   /* abi_n's channel on t1 */
	uint8_t *dma;                /* 64 KiB, 4 KiB aligned */
};
static struct world W;
static char g_dev_key[2], g_dev_key2;

static void env_init_quiet(uint64_t max_pool)
{
	struct nb_env_opts o;
	NEED(nb_env_opts_init(&o, sizeof(o)) == 0);
	o.name = "abi";
	o.log_level = NB_LOG_WARN;
	if (max_pool)
		o.dma_pool_max_size = max_pool;
	NEED(nb_env_init(&o) == 0);
}

static void setup_world(void)
{
	memset(&W, 0, sizeof(W));
	memset(&g_h, 0, sizeof(g_h));
	env_init_quiet(256ULL << 20);
	NEED(nb_log_set_callback(log_cb, NULL) == 0);
	NEED((W.t1 = nb_thread_create("abi_t1", NULL)) != NULL);
	NEED((W.t2 = nb_thread_create("abi_t2", "0x1")) != NULL);
	NEED(nb_set_thread(W.t1) == 0);

	/* stale thread */
	struct nb_thread *st = nb_thread_create("abi_stale", NULL);
	NEED(st && nb_thread_exit(st) == 0);
	POLL_UNTIL(st, nb_thread_is_exited(st) == 1);
	NEED(nb_thread_destroy(st) == 0);
	add_handle(g_h.stale[K_THREAD], st);

	/* pollers */
	NEED((W.poller = nb_poller_register(on_poll, NULL, 0)) != NULL);
	struct nb_poller *sp = nb_poller_register(on_poll, NULL, 1000), *sp_copy = sp;
	NEED(sp && nb_poller_unregister(&sp) == 0 && sp == NULL);
	add_handle(g_h.stale[K_POLLER], sp_copy);

	/* mempools */
	NEED((W.mp = nb_mempool_create("abi_mp", 8, 64, 0)) != NULL);
	struct nb_mempool *smp = nb_mempool_create("abi_mp_gone", 4, 64, 0);
	NEED(smp && nb_mempool_free(smp) == 0);
	add_handle(g_h.stale[K_MEMPOOL], smp);

	/* io devices and channels */
	NEED(nb_io_device_register(&g_dev_key[0], ch_create, ch_destroy, 64, "abi_dev") == 0);
	NEED((W.cch = nb_get_io_channel(&g_dev_key[0])) != NULL);
	NEED(nb_io_device_register(&g_dev_key2, ch_create, ch_destroy, 0, "abi_dev2") == 0);
	struct nb_io_channel *sch = nb_get_io_channel(&g_dev_key2);
	NEED(sch && nb_put_io_channel(sch) == 0);
	poll_n(W.t1, 3);
	add_handle(g_h.stale[K_CHANNEL], sch);

	/* bdevs, descriptors, bdev channels */
	char name[NB_BDEV_NAME_MAX];
	NEED(nb_bdev_create("malloc:///abi_m?size_mb=1", name, sizeof(name)) == 0);
	NEED(nb_bdev_create("null:///abi_n?num_blocks=4096", NULL, 0) == 0);
	NEED((W.b = nb_bdev_get_by_name("abi_m")) != NULL);
	NEED((W.nb = nb_bdev_get_by_name("abi_n")) != NULL);
	NEED(nb_bdev_create("null:///abi_gone?size_mb=1", NULL, 0) == 0);
	struct nb_bdev *sb = nb_bdev_get_by_name("abi_gone");
	int gone = 0;
	NEED(sb && nb_bdev_destroy("abi_gone", on_status, &gone) == 0);
	POLL_UNTIL(W.t1, gone == 1);
	add_handle(g_h.stale[K_BDEV], sb);
	NEED(nb_bdev_open_ext("abi_m", 1, on_event, NULL, &W.d) == 0);
	NEED(nb_bdev_open_ext("abi_m", 0, on_event, NULL, &W.ro) == 0);
	NEED(nb_bdev_open_ext("abi_n", 1, on_event, NULL, &W.nd) == 0);
	struct nb_bdev_desc *sd;
	NEED(nb_bdev_open_ext("abi_n", 0, on_event, NULL, &sd) == 0 && nb_bdev_close(sd) == 0);
	add_handle(g_h.stale[K_DESC], sd);
	NEED((W.bch = nb_bdev_get_io_channel(W.d)) != NULL);
	NEED((W.nch = nb_bdev_get_io_channel(W.nd)) != NULL);
	/* a destroyed bdev channel */
	struct nb_bdev_desc *tmp;
	NEED(nb_bdev_create("null:///abi_tmp?size_mb=1", NULL, 0) == 0);
	NEED(nb_bdev_open_ext("abi_tmp", 0, on_event, NULL, &tmp) == 0);
	struct nb_io_channel *sbch = nb_bdev_get_io_channel(tmp);
	NEED(sbch && nb_put_io_channel(sbch) == 0);
	poll_n(W.t1, 3);
	NEED(nb_bdev_close(tmp) == 0);
	gone = 0;
	NEED(nb_bdev_destroy("abi_tmp", on_status, &gone) == 0);
	POLL_UNTIL(W.t1, gone == 1);
	add_handle(g_h.stale[K_CHANNEL], sbch);
	add_handle(g_h.stale[K_BDEV], nb_bdev_get_by_name("abi_tmp")); /* NULL: ignored */

	NEED((W.dma = nb_dma_zmalloc(65536, 4096, NULL)) != NULL);

	add_handle(g_h.live[K_THREAD], W.t1);
	add_handle(g_h.live[K_THREAD], W.t2);
	add_handle(g_h.live[K_POLLER], W.poller);
	add_handle(g_h.live[K_MEMPOOL], W.mp);
	add_handle(g_h.live[K_CHANNEL], W.cch);
	add_handle(g_h.live[K_CHANNEL], W.bch);
	add_handle(g_h.live[K_BDEV], W.b);
	add_handle(g_h.live[K_BDEV], W.nb);
	add_handle(g_h.live[K_DESC], W.d);
	add_handle(g_h.live[K_DESC], W.ro);
}

static void teardown_world(void)
{
	NEED(nb_set_thread(W.t1) == 0);
	NEED(nb_put_io_channel(W.bch) == 0);
	NEED(nb_put_io_channel(W.nch) == 0);
	NEED(nb_put_io_channel(W.cch) == 0);
	poll_n(W.t1, 3);
	NEED(nb_bdev_close(W.d) == 0 && nb_bdev_close(W.ro) == 0 && nb_bdev_close(W.nd) == 0);
	int done = 0;
	NEED(nb_bdev_destroy("abi_m", on_status, &done) == 0);
	NEED(nb_bdev_destroy("abi_n", on_status, &done) == 0);
	POLL_UNTIL(W.t1, done == 2);
	NEED(nb_io_device_unregister(&g_dev_key[0], NULL) == 0);
	NEED(nb_io_device_unregister(&g_dev_key2, NULL) == 0);
	poll_n(W.t1, 3);
	if (W.poller)
		NEED(nb_poller_unregister(&W.poller) == 0);
	NEED(nb_mempool_free(W.mp) == 0);
	NEED(nb_dma_free(W.dma) == 0);
	NEED(nb_set_thread(NULL) == 0);
	struct nb_thread *ts[2] = { W.t1, W.t2 };
	for (int i = 0; i < 2; i++) {
		NEED(nb_thread_exit(ts[i]) == 0);
		POLL_UNTIL(ts[i], nb_thread_is_exited(ts[i]) == 1);
		NEED(nb_thread_destroy(ts[i]) == 0);
	}
	NEED(nb_bdev_first() == NULL);
	NEED(nb_env_fini() == 0);
}

/* =========================================================================================
 * I/O submission through any of the 16 submitting calls (and the batch), in blocks.
 * ======================================================================================= */

enum io_fn {
	F_READ, F_READ_BLOCKS, F_READV, F_READV_BLOCKS, F_WRITE, F_WRITE_BLOCKS, F_WRITEV,
	F_WRITEV_BLOCKS, F_WZ, F_WZ_BLOCKS, F_UNMAP, F_UNMAP_BLOCKS, F_FLUSH, F_FLUSH_BLOCKS,
	F_RESET, F_BATCH_READ, F_BATCH_WRITE, F_NFN
};
static const char *io_names[F_NFN] = {
	"nb_bdev_read", "nb_bdev_read_blocks", "nb_bdev_readv", "nb_bdev_readv_blocks",
	"nb_bdev_write", "nb_bdev_write_blocks", "nb_bdev_writev", "nb_bdev_writev_blocks",
	"nb_bdev_write_zeroes", "nb_bdev_write_zeroes_blocks", "nb_bdev_unmap", "nb_bdev_unmap_blocks",
	"nb_bdev_flush", "nb_bdev_flush_blocks", "nb_bdev_reset", "nb_bdev_submit_batch(READ)",
	"nb_bdev_submit_batch(WRITE)",
};

static int is_vectored(int f)
{
	return f == F_READV || f == F_READV_BLOCKS || f == F_WRITEV || f == F_WRITEV_BLOCKS;
}

static int has_buffer(int f)
{
	return f <= F_WRITEV_BLOCKS || f == F_BATCH_READ || f == F_BATCH_WRITE;
}

/* `bs` converts blocks to bytes for the byte-addressed calls. Batch entries use iov when
 * iovcnt != 0, else buf. */
static int io_call(int f, struct nb_bdev_desc *d, struct nb_io_channel *ch, void *buf, struct iovec *iov,
		   int iovcnt, uint64_t off, uint64_t num, uint32_t bs, nb_bdev_io_cb cb)
{
	struct nb_bdev_io_request r = { .iovcnt = iovcnt, .buf = buf, .iov = iov, .offset_blocks = off,
					.num_blocks = num, .cb = cb, .cb_arg = NULL };
	switch (f) {
	case F_READ: return nb_bdev_read(d, ch, buf, off * bs, num * bs, cb, NULL);
	case F_READ_BLOCKS: return nb_bdev_read_blocks(d, ch, buf, off, num, cb, NULL);
	case F_READV: return nb_bdev_readv(d, ch, iov, iovcnt, off * bs, num * bs, cb, NULL);
	case F_READV_BLOCKS: return nb_bdev_readv_blocks(d, ch, iov, iovcnt, off, num, cb, NULL);
	case F_WRITE: return nb_bdev_write(d, ch, buf, off * bs, num * bs, cb, NULL);
	case F_WRITE_BLOCKS: return nb_bdev_write_blocks(d, ch, buf, off, num, cb, NULL);
	case F_WRITEV: return nb_bdev_writev(d, ch, iov, iovcnt, off * bs, num * bs, cb, NULL);
	case F_WRITEV_BLOCKS: return nb_bdev_writev_blocks(d, ch, iov, iovcnt, off, num, cb, NULL);
	case F_WZ: return nb_bdev_write_zeroes(d, ch, off * bs, num * bs, cb, NULL);
	case F_WZ_BLOCKS: return nb_bdev_write_zeroes_blocks(d, ch, off, num, cb, NULL);
	case F_UNMAP: return nb_bdev_unmap(d, ch, off * bs, num * bs, cb, NULL);
	case F_UNMAP_BLOCKS: return nb_bdev_unmap_blocks(d, ch, off, num, cb, NULL);
	case F_FLUSH: return nb_bdev_flush(d, ch, off * bs, num * bs, cb, NULL);
	case F_FLUSH_BLOCKS: return nb_bdev_flush_blocks(d, ch, off, num, cb, NULL);
	case F_RESET: return nb_bdev_reset(d, ch, cb, NULL);
	case F_BATCH_READ: r.io_type = NB_BDEV_IO_TYPE_READ; return nb_bdev_submit_batch(d, ch, &r, 1);
	case F_BATCH_WRITE: r.io_type = NB_BDEV_IO_TYPE_WRITE; return nb_bdev_submit_batch(d, ch, &r, 1);
	}
	return 0;
}

/* A call that is valid in every respect but the one under test: one block at block 0. */
static int io_simple(int f, struct nb_bdev_desc *d, struct nb_io_channel *ch, void *buf, uint32_t bs)
{
	struct iovec iov[1] = { { buf, bs } };
	return io_call(f, d, ch, buf, iov, is_vectored(f) ? 1 : 0, 0, 1, bs, on_io);
}

/* =========================================================================================
 * Every function, called where there is no environment (before init, after fini), with a
 * given set of (invalid) handles. Only the functions documented to work without one may
 * succeed.
 * ======================================================================================= */

/* A host RPC method (group rpc_methods): keeps the request and a copy of its params. */
static struct nb_rpc_request *g_rpc_reqs[8];
static char g_rpc_params[8][64];
static int g_rpc_calls, g_rpc_params_null[8];

static void on_rpc_method(void *ctx, struct nb_rpc_request *req, const char *params)
{
	(void)ctx;
	int i = g_rpc_calls++ % 8;
	g_rpc_reqs[i] = req;
	g_rpc_params_null[i] = params == NULL;
	snprintf(g_rpc_params[i], sizeof(g_rpc_params[i]), "%s", params ? params : "");
}

/* Kernel NBD disks (group nbd_disk): the start callback's calls. */
static int g_nbd_disk_calls;

static void on_nbd_disk(void *ctx, int status, const char *nbd_device)
{
	(void)ctx;
	(void)status;
	(void)nbd_device;
	g_nbd_disk_calls++;
}

struct hset {
	struct nb_thread *t;
	struct nb_poller *p;
	struct nb_mempool *mp;
	struct nb_io_channel *ch;
	struct nb_bdev *b;
	struct nb_bdev_desc *d;
	struct nb_bdev_io *io;
	void *dma;
	const char *label;
};

static void calls_without_env(const struct hset *h)
{
	const char *L = h->label;
	char name[64];
	uint32_t cores[4];
	uint64_t iova = 0, size = 4096;
	struct nb_env_opts o;
	struct nb_env_info info = { .info_size = sizeof(info) };
	struct nb_bdev_info binfo = { .info_size = sizeof(binfo) };
	struct nb_bdev_io_stat st = { .stat_size = sizeof(st) };
	struct nb_bdev_media_event ev[2];
	struct nb_bdev_io_wait_entry we = { .bdev = h->b, .cb_fn = on_wait };
	struct nb_bdev_desc *dout = NULL;
	struct nb_poller *pp = h->p;
	void *elems[2] = { h->dma, h->dma };
	double pct[1] = { 50 };
	uint64_t ticks[1];
	uint32_t cdw0;
	int sct, sc;
	uint8_t buf[512];

	/* version, errors, logging, clock: work at any time */
	TRUE(nb_version() != NULL && strcmp(nb_version(), NB_VERSION_STRING) == 0);
	TRUE(nb_last_error() != NULL);
	RCW(nb_log_set_level(-1), -EINVAL, "%s: nb_log_set_level(-1)", L);
	RCW(nb_log_set_level(5), -EINVAL, "%s: nb_log_set_level(5)", L);
	RCW(nb_log_set_level(INT_MAX), -EINVAL, "%s: nb_log_set_level(INT_MAX)", L);
	RCW(nb_log_set_level(INT_MIN), -EINVAL, "%s: nb_log_set_level(INT_MIN)", L);
	OK(nb_log_set_level(NB_LOG_WARN), 0);
	OK(nb_log_get_level(), NB_LOG_WARN);
	OK(nb_log_set_callback(NULL, NULL), 0); /* NULL restores stderr */
	OK(nb_log_set_callback(log_cb, NULL), 0);
	TRUE(nb_get_ticks() > 0);
	TRUE(nb_get_ticks_hz() > 0);

	/* environment */
	RCW(nb_env_opts_init(NULL, sizeof(o)), -EINVAL, "%s: nb_env_opts_init(NULL)", L);
	RCW(nb_env_opts_init(&o, 0), -EINVAL, "%s: nb_env_opts_init(opts, 0)", L);
	RCW(nb_env_opts_init(&o, 1), -EINVAL, "%s: nb_env_opts_init(opts, 1)", L);
	RCW(nb_env_get_info(NULL), -EINVAL, "%s: nb_env_get_info(NULL)", L);
	ERRW(nb_env_get_info(&info), "%s: nb_env_get_info without an environment", L);
	RCW(nb_env_fini(), -EINVAL, "%s: nb_env_fini without an environment", L);

	/* DMA */
	PNULLW(nb_dma_malloc(64, 0, &iova), "%s: nb_dma_malloc", L);
	PNULLW(nb_dma_zmalloc(64, 0, NULL), "%s: nb_dma_zmalloc", L);
	OK(nb_dma_free(NULL), 0);
	if (h->dma)
		ERRW(nb_dma_free(h->dma), "%s: nb_dma_free(old buffer)", L);
	ERRW(nb_dma_free(buf), "%s: nb_dma_free(stack buffer)", L);
	SENTW(nb_vtophys(buf, &size), NB_VTOPHYS_ERROR, "%s: nb_vtophys", L);
	SENTW(nb_vtophys(NULL, NULL), NB_VTOPHYS_ERROR, "%s: nb_vtophys(NULL, NULL)", L);

	/* mempools */
	PNULLW(nb_mempool_create("abi", 4, 64, 0), "%s: nb_mempool_create", L);
	ERRW(nb_mempool_free(h->mp), "%s: nb_mempool_free(%p)", L, (void *)h->mp);
	PNULLW(nb_mempool_get(h->mp), "%s: nb_mempool_get(%p)", L, (void *)h->mp);
	ERRW(nb_mempool_put(h->mp, h->dma), "%s: nb_mempool_put(%p)", L, (void *)h->mp);
	ERRW(nb_mempool_get_bulk(h->mp, elems, 2), "%s: nb_mempool_get_bulk(%p)", L, (void *)h->mp);
	ERRW(nb_mempool_put_bulk(h->mp, elems, 2), "%s: nb_mempool_put_bulk(%p)", L, (void *)h->mp);
	ERRW(nb_mempool_count(h->mp), "%s: nb_mempool_count(%p)", L, (void *)h->mp);

	/* threads and messages */
	PNULLW(nb_thread_create("abi", NULL), "%s: nb_thread_create", L);
	PNULLW(nb_thread_create("abi", "0x1"), "%s: nb_thread_create with a mask", L);
	ERRW(nb_thread_exit(h->t), "%s: nb_thread_exit(%p)", L, (void *)h->t);
	ERRW(nb_thread_is_exited(h->t), "%s: nb_thread_is_exited(%p)", L, (void *)h->t);
	ERRW(nb_thread_destroy(h->t), "%s: nb_thread_destroy(%p)", L, (void *)h->t);
	ERRW(nb_thread_poll(h->t, 0, 0), "%s: nb_thread_poll(%p)", L, (void *)h->t);
	OK(nb_get_current_thread() == NULL, 1);
	if (h->t)
		ERRW(nb_set_thread(h->t), "%s: nb_set_thread(%p)", L, (void *)h->t);
	OK(nb_set_thread(NULL), 0);
	ERRW(nb_thread_get_name(h->t, name, sizeof(name)), "%s: nb_thread_get_name(%p)", L, (void *)h->t);
	ERRW(nb_thread_send_msg(h->t, on_msg, NULL), "%s: nb_thread_send_msg(%p)", L, (void *)h->t);
	ERRW(nb_for_each_thread(on_msg, NULL, on_msg), "%s: nb_for_each_thread (no current thread)", L);
	ERRW(nb_for_each_thread(NULL, NULL, NULL), "%s: nb_for_each_thread(NULL)", L);
	OK(nb_thread_count(), 0);

	/* pollers */
	PNULLW(nb_poller_register(on_poll, NULL, 0), "%s: nb_poller_register", L);
	ERRW(nb_poller_unregister(NULL), "%s: nb_poller_unregister(NULL)", L);
	ERRW(nb_poller_unregister(&pp), "%s: nb_poller_unregister(&%p)", L, (void *)h->p);
	ERRW(nb_poller_pause(h->p), "%s: nb_poller_pause(%p)", L, (void *)h->p);
	ERRW(nb_poller_resume(h->p), "%s: nb_poller_resume(%p)", L, (void *)h->p);

	/* io devices and channels */
	ERRW(nb_io_device_register(&g_dev_key[1], ch_create, ch_destroy, 8, "abi"), "%s: nb_io_device_register", L);
	ERRW(nb_io_device_unregister(&g_dev_key[1], NULL), "%s: nb_io_device_unregister", L);
	PNULLW(nb_get_io_channel(&g_dev_key[1]), "%s: nb_get_io_channel", L);
	ERRW(nb_put_io_channel(h->ch), "%s: nb_put_io_channel(%p)", L, (void *)h->ch);
	PNULLW(nb_io_channel_get_ctx(h->ch), "%s: nb_io_channel_get_ctx(%p)", L, (void *)h->ch);
	PNULLW(nb_io_channel_get_thread(h->ch), "%s: nb_io_channel_get_thread(%p)", L, (void *)h->ch);
	ERRW(nb_for_each_channel(&g_dev_key[1], ch_visit, NULL, on_status), "%s: nb_for_each_channel", L);

	/* reactors */
	ERRW(nb_reactors_start(NULL), "%s: nb_reactors_start(NULL)", L);
	ERRW(nb_reactors_start("0x1"), "%s: nb_reactors_start(0x1)", L);
	ERRW(nb_reactors_stop(), "%s: nb_reactors_stop", L);
	OK(nb_reactor_count(), 0);
	OK(nb_reactor_get_cores(cores, 4), 0);
	ERRW(nb_reactor_get_cores(NULL, 4), "%s: nb_reactor_get_cores(NULL)", L);

	/* bdevs: control */
	ERRW(nb_bdev_create("malloc:///abi?size_mb=1", name, sizeof(name)), "%s: nb_bdev_create", L);
	ERRW(nb_bdev_create("null:///abi?size_mb=1", NULL, 0), "%s: nb_bdev_create(null)", L);
	ERRW(nb_bdev_create(NULL, NULL, 0), "%s: nb_bdev_create(NULL)", L);
	ERRW(nb_bdev_create_async("null:///abi?size_mb=1", on_created, NULL), "%s: nb_bdev_create_async", L);
	ERRW(nb_bdev_destroy("abi_m", NULL, NULL), "%s: nb_bdev_destroy", L);
	ERRW(nb_bdev_resize("abi_m", 8), "%s: nb_bdev_resize", L);
	PNULLW(nb_bdev_get_by_name("abi_m"), "%s: nb_bdev_get_by_name", L);
	OK(nb_bdev_first() == NULL, 1);
	PNULLW(nb_bdev_next(h->b), "%s: nb_bdev_next(%p)", L, (void *)h->b);
	PNULLW(nb_bdev_get_name(h->b), "%s: nb_bdev_get_name(%p)", L, (void *)h->b);
	SENTW(nb_bdev_get_block_size(h->b), 0, "%s: nb_bdev_get_block_size(%p)", L, (void *)h->b);
	SENTW(nb_bdev_get_num_blocks(h->b), 0, "%s: nb_bdev_get_num_blocks(%p)", L, (void *)h->b);
	ERRW(nb_bdev_io_type_supported(h->b, NB_BDEV_IO_TYPE_READ), "%s: nb_bdev_io_type_supported(%p)", L, (void *)h->b);
	ERRW(nb_bdev_get_info(h->b, &binfo), "%s: nb_bdev_get_info(%p)", L, (void *)h->b);
	ERRW(nb_bdev_open_ext("abi_m", 1, on_event, NULL, &dout), "%s: nb_bdev_open_ext", L);
	TRUE(dout == NULL);
	ERRW(nb_bdev_close(h->d), "%s: nb_bdev_close(%p)", L, (void *)h->d);
	PNULLW(nb_bdev_desc_get_bdev(h->d), "%s: nb_bdev_desc_get_bdev(%p)", L, (void *)h->d);
	ERRW(nb_bdev_claim(h->d, "abi"), "%s: nb_bdev_claim(%p)", L, (void *)h->d);
	ERRW(nb_bdev_release_claim(h->d), "%s: nb_bdev_release_claim(%p)", L, (void *)h->d);
	PNULLW(nb_bdev_get_io_channel(h->d), "%s: nb_bdev_get_io_channel(%p)", L, (void *)h->d);

	/* bdevs: I/O */
	for (int f = 0; f < F_NFN; f++)
		ERRW(io_simple(f, h->d, h->ch, buf, 512), "%s: %s(%p, %p)", L, io_names[f], (void *)h->d, (void *)h->ch);
	ERRW(nb_bdev_queue_io_wait(h->b, h->ch, &we), "%s: nb_bdev_queue_io_wait", L);
	ERRW(nb_bdev_io_get_nvme_status(h->io, &cdw0, &sct, &sc), "%s: nb_bdev_io_get_nvme_status(%p)", L, (void *)h->io);
	ERRW(nb_bdev_io_get_type(h->io), "%s: nb_bdev_io_get_type(%p)", L, (void *)h->io);

	/* bdevs: statistics and media events */
	ERRW(nb_bdev_get_io_stat(h->b, &st), "%s: nb_bdev_get_io_stat(%p)", L, (void *)h->b);
	ERRW(nb_bdev_channel_get_io_stat(h->ch, &st), "%s: nb_bdev_channel_get_io_stat(%p)", L, (void *)h->ch);
	ERRW(nb_bdev_get_latency_percentiles(h->b, h->ch, pct, ticks, 1), "%s: nb_bdev_get_latency_percentiles", L);
	ERRW(nb_bdev_reset_io_stat(h->b, on_status, NULL), "%s: nb_bdev_reset_io_stat(%p)", L, (void *)h->b);
	ERRW(nb_bdev_notify_media_management(h->b, 0, 1), "%s: nb_bdev_notify_media_management(%p)", L, (void *)h->b);
	ERRW(nb_bdev_get_media_events(h->d, ev, 2), "%s: nb_bdev_get_media_events(%p)", L, (void *)h->d);

	/* fault injection and timeouts */
	ERRW(nb_fault_inject("inject://abi_m?op=read"), "%s: nb_fault_inject", L);
	ERRW(nb_fault_inject(NULL), "%s: nb_fault_inject(NULL)", L);
	RCW(nb_fault_remove(1), -ENOENT, "%s: nb_fault_remove(1)", L);
	OK(nb_fault_clear(NULL), 0);
	OK(nb_fault_list(NULL, 0), 0);
	ERRW(nb_fault_list(NULL, 1), "%s: nb_fault_list(NULL, 1)", L);
	ERRW(nb_bdev_set_timeout(h->d, 1000, 1, on_timeout, NULL), "%s: nb_bdev_set_timeout(%p)", L, (void *)h->d);
	ERRW(nb_bdev_error_inject("EE_abi_m", NB_BDEV_IO_TYPE_READ, NB_BDEV_ERROR_FAILURE, 1), "%s: nb_bdev_error_inject", L);
	ERRW(nb_bdev_error_inject(NULL, 0, NB_BDEV_ERROR_FAILURE, 1), "%s: nb_bdev_error_inject(NULL)", L);

	/* device monitor */
	struct nb_bdev_health health = { .health_size = sizeof(health) };
	RCW(nb_device_monitor_configure(5, 0), -EINVAL, "%s: nb_device_monitor_configure(5, 0)", L);
	ERRW(nb_bdev_get_health(h->b, &health), "%s: nb_bdev_get_health(%p)", L, (void *)h->b);
	ERRW(nb_bdev_get_health(h->b, NULL), "%s: nb_bdev_get_health(%p, NULL)", L, (void *)h->b);
	ERRW(nb_bdev_clear_failed(h->b), "%s: nb_bdev_clear_failed(%p)", L, (void *)h->b);

	/* the RPC server */
	ERRW(nb_rpc_server_start(NULL), "%s: nb_rpc_server_start(NULL)", L);
	RCW(nb_rpc_server_get_addr(name, sizeof(name)), -ENOENT, "%s: nb_rpc_server_get_addr", L);
	RCW(nb_rpc_server_stop(), -ENOENT, "%s: nb_rpc_server_stop", L);
	ERRW(nb_config_load("/tmp/nb-none.json", NULL, NULL), "%s: nb_config_load", L);
	ERRW(nb_rpc_wait_for_start_init(NULL, NULL), "%s: nb_rpc_wait_for_start_init(NULL)", L);
	ERRW(nb_rpc_register_method("abi_method", on_rpc_method, NULL), "%s: nb_rpc_register_method", L);
	RCW(nb_rpc_unregister_method("abi_method"), -ENOENT, "%s: nb_rpc_unregister_method", L);
	ERRW(nb_rpc_request_send_result(NULL, "true"), "%s: nb_rpc_request_send_result(NULL)", L);
	ERRW(nb_rpc_request_send_error(NULL, -EIO, NULL), "%s: nb_rpc_request_send_error(NULL)", L);
	ERRW(nb_metrics_server_start(NULL), "%s: nb_metrics_server_start(NULL)", L);
	RCW(nb_metrics_server_get_addr(name, sizeof(name)), -ENOENT, "%s: nb_metrics_server_get_addr", L);
	RCW(nb_metrics_server_stop(), -ENOENT, "%s: nb_metrics_server_stop", L);
	ERRW(nb_config_save("/nonexistent-dir/x.json"), "%s: nb_config_save", L);

	/* the NBD server */
	ERRW(nb_nbd_server_start(NULL), "%s: nb_nbd_server_start(NULL)", L);
	RCW(nb_nbd_server_get_addr(name, sizeof(name)), -ENOENT, "%s: nb_nbd_server_get_addr", L);
	ERRW(nb_nbd_server_add_export("x", "abi_m", 0, NULL), "%s: nb_nbd_server_add_export", L);
	ERRW(nb_nbd_server_remove_export("x"), "%s: nb_nbd_server_remove_export", L);
	RCW(nb_nbd_server_connection_count(), -ENOENT, "%s: nb_nbd_server_connection_count", L);
	RCW(nb_nbd_server_stop(), -ENOENT, "%s: nb_nbd_server_stop", L);
	ERRW(nb_nbd_disk_start("abi_m", NULL, on_nbd_disk, NULL), "%s: nb_nbd_disk_start", L);
	ERRW(nb_nbd_disk_start(NULL, NULL, NULL, NULL), "%s: nb_nbd_disk_start(NULL)", L);
	RCW(nb_nbd_disk_stop("/dev/nbd0", NULL, NULL), -ENODEV, "%s: nb_nbd_disk_stop", L);
	OK(nb_nbd_disk_list(NULL, 0), 0);
	ERRW(nb_nbd_disk_list(NULL, 1), "%s: nb_nbd_disk_list(NULL, 1)", L);

	/* the NVMe/TCP target */
	ERRW(nb_nvmf_target_opts_init(NULL, 0), "%s: nb_nvmf_target_opts_init(NULL)", L);
	RCW(nb_nvmf_target_stop(), -ENOENT, "%s: nb_nvmf_target_stop", L);
	RCW(nb_nvmf_target_connection_count(), -ENOENT, "%s: nb_nvmf_target_connection_count", L);
	ERRW(nb_nvmf_subsystem_create("nqn.2026-12.io.test:a", NULL, NULL, 0, 1), "%s: nb_nvmf_subsystem_create", L);
	ERRW(nb_nvmf_subsystem_delete("nqn.2026-12.io.test:a"), "%s: nb_nvmf_subsystem_delete", L);
	ERRW(nb_nvmf_subsystem_add_ns("nqn.2026-12.io.test:a", "abi_m", 0, NULL), "%s: nb_nvmf_subsystem_add_ns", L);
	ERRW(nb_nvmf_subsystem_remove_ns("nqn.2026-12.io.test:a", 1), "%s: nb_nvmf_subsystem_remove_ns", L);
	ERRW(nb_nvmf_subsystem_add_host("nqn.2026-12.io.test:a", "nqn.2026-12.io.test:h"), "%s: add_host", L);
	ERRW(nb_nvmf_subsystem_remove_host("nqn.2026-12.io.test:a", "nqn.2026-12.io.test:h"), "%s: remove_host", L);
	ERRW(nb_nvmf_subsystem_allow_any_host("nqn.2026-12.io.test:a", 1), "%s: allow_any_host", L);
	ERRW(nb_nvmf_subsystem_add_listener("nqn.2026-12.io.test:a", "127.0.0.1", "0"), "%s: add_listener", L);
	ERRW(nb_nvmf_subsystem_remove_listener("nqn.2026-12.io.test:a", "127.0.0.1", "1"), "%s: remove_listener", L);
}

/* =========================================================================================
 * Group: lifecycle — every function before nb_env_init (NULL and garbage handles), init and
 * fini twice, and every function again after nb_env_fini with the then stale handles.
 * ======================================================================================= */

static void g_lifecycle(const char *dir)
{
	(void)dir;
	struct hset none = { .label = "before init, NULL handles" };
	calls_without_env(&none);
	init_garbage();
	for (int i = 0; i < g_ngarbage; i++) {
		void *g = g_garbage[i];
		char label[64];
		snprintf(label, sizeof(label), "before init, garbage %p", g);
		struct hset h = { g, g, g, g, g, g, g, g, label };
		calls_without_env(&h);
	}

	RC(nb_env_init(NULL), 0);
	RC(nb_env_init(NULL), -EALREADY);
	RC(nb_env_fini(), 0);
	RC(nb_env_fini(), -EINVAL); /* documented: not initialized */

	/* A full world, torn down: every handle it handed out is stale after fini. */
	setup_world();
	uint8_t *buf = nb_dma_malloc(512, 0, NULL);
	NEED(nb_bdev_read_blocks(W.d, W.bch, buf, 0, 1, on_io, NULL) == 0);
	POLL_UNTIL(W.t1, g_io_callbacks == 1);
	struct nb_bdev_io *io = g_saved_io;
	NEED(nb_dma_free(buf) == 0);
	struct hset stale = { W.t1, W.poller, W.mp, W.bch, W.b, W.d, io, W.dma, "after fini, stale handles" };
	struct hset stale2 = { W.t2, NULL, W.mp, W.cch, W.nb, W.ro, io, W.dma, "after fini, stale handles (2)" };
	NEED(nb_poller_unregister(&W.poller) == 0);
	teardown_world();
	calls_without_env(&stale);
	calls_without_env(&stale2);

	/* A new environment does not revive the old handles, even where slots are reused. */
	env_init_quiet(0);
	struct nb_thread *t = nb_thread_create("abi_new", NULL);
	NEED(t != NULL);
	RC(nb_thread_exit(stale.t), -EBADF);
	RC(nb_thread_poll(stale2.t, 0, 0), -EBADF);
	RC(nb_mempool_count(stale.mp), -EBADF);
	RC(nb_bdev_close(stale.d), -EBADF);
	RC(nb_set_thread(stale.t), -EBADF);
	OK(nb_get_current_thread() == NULL, 1);
	NEED(nb_thread_exit(t) == 0);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	NEED(nb_thread_destroy(t) == 0);
	RC(nb_env_fini(), 0);
	RC(nb_env_fini(), -EINVAL);
}

/* =========================================================================================
 * Group: env_dma — nb_env_init's every option out of range, nb_env_get_info, DMA memory.
 * ======================================================================================= */

static void g_env_dma(const char *dir)
{
	(void)dir;
	struct nb_env_opts o;
#define BAD_OPTS(stmt)                                                                             \
	do {                                                                                       \
		NEED(nb_env_opts_init(&o, sizeof(o)) == 0);                                        \
		o.log_level = NB_LOG_DEBUG;                                                        \
		stmt;                                                                              \
		ERRW(nb_env_init(&o), "nb_env_init with %s", #stmt);                               \
	} while (0)
	BAD_OPTS(o.opts_size = 0);
	BAD_OPTS(o.opts_size = 1);
	BAD_OPTS(o.opts_size = 16u << 20); /* no struct is 16 MiB */
	BAD_OPTS(o.opts_size = SIZE_MAX);
	BAD_OPTS(o.name = long_string(5000, "n"));
	BAD_OPTS(o.name = guarded(4097, 'n'));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		BAD_OPTS(o.name = bad_utf8[i]);
	const char *masks[] = { "", " ", "0x", "0X", "0x0", "0", "zz", "0xg", "[", "]", "[]", "[ ]", "[5-2]",
				"[0-1024]", "[1024]", "[-1]", "[0,,1]", "[0-]", "[-]", "[0", "0x1 0x2", "[2147483648]",
				"[0-2147483647]", "[1-0]", "[0x1]", "[0,1", "0x1]" };
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++)
		BAD_OPTS(o.core_mask = masks[i]);
	BAD_OPTS(o.core_mask = long_string(5000, "0x"));
	BAD_OPTS(o.core_mask = long_string(259, "0x")); /* 256 hex digits is the most */
	BAD_OPTS(o.core_mask = guarded(4097, '1'));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		BAD_OPTS(o.core_mask = bad_utf8[i]);
	BAD_OPTS(o.dma_pool_size = 0);
	BAD_OPTS(o.dma_pool_size = UINT64_MAX);
	BAD_OPTS(o.dma_pool_size = (1ULL << 40) + 1);
	BAD_OPTS((o.dma_pool_size = 32ULL << 20, o.dma_pool_max_size = 16ULL << 20));
	BAD_OPTS(o.dma_pool_max_size = UINT64_MAX);
	BAD_OPTS(o.dma_pool_max_size = 0);
	BAD_OPTS(o.hugepages = 3);
	BAD_OPTS(o.hugepages = -1);
	BAD_OPTS(o.hugepages = INT32_MAX);
	BAD_OPTS(o.iova_mode = 2);
	BAD_OPTS(o.iova_mode = -1);
	BAD_OPTS(o.log_level = -1);
	BAD_OPTS(o.log_level = 5);
	BAD_OPTS(o.reactor_spin_us = -2);
	BAD_OPTS(o.reactor_spin_us = INT32_MIN);
	/* None of that initialized anything. */
	RC(nb_env_fini(), -EINVAL);
	/* A caller whose struct is larger than ours: we fill what we know. */
	struct {
		struct nb_env_opts o;
		char tail[64];
	} big;
	memset(&big, 0x5a, sizeof(big));
	OK(nb_env_opts_init(&big.o, sizeof(big)), 0);
	OK(big.o.opts_size, sizeof(struct nb_env_opts));
	OK(big.tail[0] == 0x5a, 1);

	env_init_quiet(256ULL << 20);
	NEED(nb_log_set_callback(log_cb, NULL) == 0);
	struct nb_env_info info;
	RC(nb_env_get_info(NULL), -EINVAL);
	size_t sizes[] = { 0, 1, 7, 16u << 20, SIZE_MAX, SIZE_MAX / 2 + 1 }; /* no struct is 16 MiB */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(&info, 0, sizeof(info));
		info.info_size = sizes[i];
		RCW(nb_env_get_info(&info), -EINVAL, "nb_env_get_info(info_size=%zu)", sizes[i]);
	}
	info.info_size = 8;
	OK(nb_env_get_info(&info), 0);

	/* DMA allocation: zero, huge, bad alignments. */
	uint64_t iova = 77;
	size_t bad_sizes[] = { 0, SIZE_MAX, (1ULL << 40) + 1, 1ULL << 40, 4ULL << 30, SIZE_MAX / 2 + 1 };
	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		PNULLW(nb_dma_malloc(bad_sizes[i], 0, &iova), "nb_dma_malloc(size=%zu)", bad_sizes[i]);
		PNULLW(nb_dma_zmalloc(bad_sizes[i], 64, NULL), "nb_dma_zmalloc(size=%zu)", bad_sizes[i]);
	}
	size_t bad_align[] = { 3, 100, 4097, 4ULL << 20, SIZE_MAX, 1ULL << 63, (2ULL << 20) + 1 };
	for (size_t i = 0; i < sizeof(bad_align) / sizeof(bad_align[0]); i++) {
		PNULLW(nb_dma_malloc(64, bad_align[i], NULL), "nb_dma_malloc(64, align=%zu)", bad_align[i]);
		PNULLW(nb_dma_zmalloc(64, bad_align[i], &iova), "nb_dma_zmalloc(64, align=%zu)", bad_align[i]);
	}
	OK(iova, 77); /* a failed allocation leaves *iova alone */
	uint8_t *p = nb_dma_malloc(64, 2u << 20, &iova);
	TRUE(p != NULL && ((uintptr_t)p & ((2u << 20) - 1)) == 0);
	OK(nb_dma_free(p), 0);

	/* nb_dma_free: NULL is a no-op; anything not a live allocation is -EINVAL. */
	OK(nb_dma_free(NULL), 0);
	uint8_t *q = nb_dma_malloc(4096, 4096, NULL);
	NEED(q != NULL);
	long local;
	void *heap = malloc(64);
	RC(nb_dma_free(&local), -EINVAL);
	RC(nb_dma_free(heap), -EINVAL);
	RC(nb_dma_free(q + 1), -EINVAL);
	RC(nb_dma_free(q + 64), -EINVAL);
	init_garbage();
	for (int i = 0; i < g_ngarbage; i++)
		RCW(nb_dma_free(g_garbage[i]), -EINVAL, "nb_dma_free(%p)", g_garbage[i]);
	RC(nb_dma_free(q), 0);
	RC(nb_dma_free(q), -EINVAL); /* double free */
	free(heap);

	/* nb_vtophys */
	uint8_t *r = nb_dma_malloc(65536, 4096, NULL);
	uint64_t size = 100;
	SENT(nb_vtophys(NULL, NULL), NB_VTOPHYS_ERROR);
	SENT(nb_vtophys(&local, &size), NB_VTOPHYS_ERROR);
	OK(size, 100); /* untouched on failure */
	for (int i = 0; i < g_ngarbage; i++)
		SENTW(nb_vtophys(g_garbage[i], &size), NB_VTOPHYS_ERROR, "nb_vtophys(%p)", g_garbage[i]);
	size = UINT64_MAX;
	TRUE(nb_vtophys(r, &size) != NB_VTOPHYS_ERROR && size >= 65536 && size != UINT64_MAX);
	size = 0;
	TRUE(nb_vtophys(r + 65535, &size) != NB_VTOPHYS_ERROR && size == 0);
	OK(nb_vtophys(r, NULL), (uintptr_t)r); /* IOVA = VA by default; size may be NULL */
	OK(nb_dma_free(r), 0);
	RC(nb_env_fini(), 0);
}

/* Group: env_init_side_effects — a refused nb_env_init must change nothing (here: the
 * global log level, which it applies before it has checked every option). */
static void g_env_init_side_effects(const char *dir)
{
	(void)dir;
	struct nb_env_opts o;
	OK(nb_log_set_level(NB_LOG_ERROR), 0);
	NEED(nb_env_opts_init(&o, sizeof(o)) == 0);
	o.log_level = NB_LOG_DEBUG;
	o.reactor_spin_us = -2;
	RC(nb_env_init(&o), -EINVAL);
	OK(nb_log_get_level(), NB_LOG_ERROR);
	NEED(nb_env_opts_init(&o, sizeof(o)) == 0);
	o.log_level = NB_LOG_DEBUG;
	o.hugepages = NB_HUGEPAGES_ON;
	o.dma_pool_size = o.dma_pool_max_size = 1ULL << 40; /* 1 TiB of hugepages: refused at once */
	if (nb_env_init(&o) == 0) {
		fprintf(stderr, "[%s]   (1 TiB of hugepages were available: skipped)\n", g_group);
		NEED(nb_env_fini() == 0);
	} else {
		OK(nb_log_get_level(), NB_LOG_ERROR);
	}
}

/* Group: env_opts_size_max — nb_env_opts_init with opts_size whose top bit is set. */
static void g_env_opts_size_max(const char *dir)
{
	(void)dir;
	NEED(nb_log_set_callback(log_cb, NULL) == 0);
	struct nb_env_opts o;
	RC(nb_env_opts_init(&o, SIZE_MAX), -EINVAL);
	RC(nb_env_opts_init(&o, (size_t)1 << 63), -EINVAL);
}

/* =========================================================================================
 * Group: mempool
 * ======================================================================================= */

static void g_mempool(const char *dir)
{
	(void)dir;
	setup_world();
	struct { size_t count, size, cache; } bad[] = {
		{ 0, 64, 0 }, { SIZE_MAX, 64, 0 }, { (1u << 26) + 1, 64, 0 }, { (size_t)INT_MAX + 1, 64, 0 },
		{ 8, 0, 0 }, { 8, SIZE_MAX, 0 }, { 8, (1u << 30) + 1, 0 }, { 8, (size_t)INT_MAX + 1, 0 },
		{ 8, 64, 513 }, { 8, 64, SIZE_MAX }, { 8, 64, (size_t)INT_MAX + 1 },
		{ 1u << 20, 1u << 20, 0 },  /* 1 TiB: too large */
		{ 4096, 1u << 20, 0 },      /* 4 GiB: more than the pool may grow to */
		{ SIZE_MAX, SIZE_MAX, SIZE_MAX },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		PNULLW(nb_mempool_create("abi_bad", bad[i].count, bad[i].size, bad[i].cache),
		       "nb_mempool_create(count=%zu, ele_size=%zu, cache=%zu)", bad[i].count, bad[i].size, bad[i].cache);
	PNULL(nb_mempool_create(long_string(5000, "mp"), 4, 64, 0));
	PNULL(nb_mempool_create(guarded(4097, 'm'), 4, 64, 0));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		PNULLW(nb_mempool_create(bad_utf8[i], 4, 64, 0), "nb_mempool_create(bad UTF-8 #%zu)", i);
	struct nb_mempool *anon = nb_mempool_create(NULL, 4, 64, 0); /* no name: a default one */
	TRUE(anon != NULL);
	OK(nb_mempool_free(anon), 0);
	RC(nb_mempool_free(anon), -EBADF); /* double free */
	RC(nb_mempool_count(anon), -EBADF);

	/* NULL, garbage, stale and wrong-type handles */
	void *bad_h[MAX_BAD * 2];
	int n = bad_for(K_MEMPOOL, bad_h);
	void *arr[8] = { 0 };
	RC(nb_mempool_free(NULL), -EINVAL);
	PNULL(nb_mempool_get(NULL));
	RC(nb_mempool_put(NULL, W.dma), -EINVAL);
	RC(nb_mempool_get_bulk(NULL, arr, 1), -EINVAL);
	RC(nb_mempool_put_bulk(NULL, arr, 1), -EINVAL);
	RC(nb_mempool_count(NULL), -EINVAL);
	for (int i = 0; i < n; i++) {
		struct nb_mempool *h = bad_h[i];
		ERRW(nb_mempool_free(h), "nb_mempool_free(%p)", (void *)h);
		PNULLW(nb_mempool_get(h), "nb_mempool_get(%p)", (void *)h);
		ERRW(nb_mempool_put(h, W.dma), "nb_mempool_put(%p)", (void *)h);
		ERRW(nb_mempool_get_bulk(h, arr, 1), "nb_mempool_get_bulk(%p)", (void *)h);
		ERRW(nb_mempool_put_bulk(h, arr, 1), "nb_mempool_put_bulk(%p)", (void *)h);
		ERRW(nb_mempool_count(h), "nb_mempool_count(%p)", (void *)h);
	}
	OK(nb_mempool_count(W.mp), 8);

	/* Elements that are not this pool's */
	struct nb_mempool *other = nb_mempool_create("abi_other", 4, 64, 0);
	NEED(other != NULL);
	void *e = nb_mempool_get(W.mp), *oe = nb_mempool_get(other);
	NEED(e && oe);
	RC(nb_mempool_put(W.mp, NULL), -EINVAL);
	RC(nb_mempool_put(W.mp, (uint8_t *)e + 1), -EINVAL);
	RC(nb_mempool_put(W.mp, (uint8_t *)e + 64 * 8), -EINVAL); /* one past the last element */
	RC(nb_mempool_put(W.mp, oe), -EINVAL);
	RC(nb_mempool_put(W.mp, W.dma), -EINVAL);
	for (int i = 0; i < g_ngarbage; i++)
		RCW(nb_mempool_put(W.mp, g_garbage[i]), -EINVAL, "nb_mempool_put(mp, %p)", g_garbage[i]);
	OK(nb_mempool_put(other, oe), 0);
	OK(nb_mempool_put(W.mp, e), 0);

	/* bulk */
	RC(nb_mempool_get_bulk(W.mp, NULL, 1), -EINVAL);
	RC(nb_mempool_get_bulk(W.mp, arr, SIZE_MAX), -EINVAL);
	RC(nb_mempool_get_bulk(W.mp, arr, 9), -EINVAL);
	OK(nb_mempool_get_bulk(W.mp, arr, 0), 0);
	OK(nb_mempool_get_bulk(W.mp, arr, 8), 0);
	PNULL(nb_mempool_get(W.mp)); /* empty */
	RC(nb_mempool_get_bulk(W.mp, arr, 1), -ENOMEM);
	RC(nb_mempool_free(W.mp), -EBUSY);
	RC(nb_mempool_put_bulk(W.mp, NULL, 1), -EINVAL);
	RC(nb_mempool_put_bulk(W.mp, arr, SIZE_MAX), -EINVAL);
	void *mixed[3] = { arr[0], oe, arr[1] };
	RC(nb_mempool_put_bulk(W.mp, mixed, 3), -EINVAL);
	void *withnull[2] = { arr[0], NULL };
	RC(nb_mempool_put_bulk(W.mp, withnull, 2), -EINVAL);
	OK(nb_mempool_count(W.mp), 0); /* nothing was put by the refused calls */
	OK(nb_mempool_put_bulk(W.mp, arr, 8), 0);
	OK(nb_mempool_count(W.mp), 8);
	OK(nb_mempool_free(other), 0);
	teardown_world();
}

/* Group: mempool_double_put — the same element put twice. */
static void g_mempool_double_put(const char *dir)
{
	(void)dir;
	setup_world();
	void *e = nb_mempool_get(W.mp);
	NEED(e != NULL);
	OK(nb_mempool_put(W.mp, e), 0);
	ERR(nb_mempool_put(W.mp, e));
	OK(nb_mempool_count(W.mp), 8);
	void *arr[8];
	OK(nb_mempool_get_bulk(W.mp, arr, 8), 0);
	void *twice[2] = { arr[0], arr[0] };
	ERR(nb_mempool_put_bulk(W.mp, twice, 2));
	OK(nb_mempool_count(W.mp), 0); /* "all count elements or none", as for a foreign element */
	/* Give everything back one by one (a double put is refused), then free. */
	for (int i = 0; i < 8; i++)
		nb_mempool_put(W.mp, arr[i]);
	OK(nb_mempool_count(W.mp), 8);
	if (nb_mempool_count(W.mp) != 8) {
		/* the pool is damaged: replace it so the teardown can finish */
		W.mp = nb_mempool_create("abi_mp2", 8, 64, 0);
		fprintf(stderr, "[%s]   (mempool left with a wrong count: leaked, environment not finished)\n", g_group);
		exit(1);
	}
	teardown_world();
}

/* =========================================================================================
 * Group: threads_pollers
 * ======================================================================================= */

static void g_threads_pollers(const char *dir)
{
	(void)dir;
	setup_world();
	char name[64];

	/* nb_thread_create */
	const char *masks[] = { "", " ", "0x", "0x0", "zz", "[", "[]", "[5-2]", "[0-1024]", "[-1]", "[0,,1]", "0x1 0x2" };
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++)
		PNULLW(nb_thread_create("abi", masks[i]), "nb_thread_create(cpumask=\"%s\")", masks[i]);
	PNULL(nb_thread_create("abi", long_string(5000, "0x")));
	PNULL(nb_thread_create("abi", guarded(4097, '1')));
	PNULL(nb_thread_create(long_string(5000, "t"), NULL));
	PNULL(nb_thread_create(guarded(4097, 't'), NULL));
	for (size_t i = 0; i < N_BAD_UTF8; i++) {
		PNULLW(nb_thread_create(bad_utf8[i], NULL), "nb_thread_create(name=bad UTF-8 #%zu)", i);
		PNULLW(nb_thread_create("abi", bad_utf8[i]), "nb_thread_create(cpumask=bad UTF-8 #%zu)", i);
	}
	OK(nb_thread_count(), 2);

	/* Every thread call with NULL and with every bad handle */
	RC(nb_thread_exit(NULL), -EINVAL);
	RC(nb_thread_is_exited(NULL), -EINVAL);
	RC(nb_thread_destroy(NULL), -EINVAL);
	RC(nb_thread_poll(NULL, 0, 0), -EINVAL);
	RC(nb_thread_get_name(NULL, name, sizeof(name)), -EINVAL);
	RC(nb_thread_send_msg(NULL, on_msg, NULL), -EINVAL);
	void *bad[MAX_BAD * 2];
	int n = bad_for(K_THREAD, bad);
	for (int i = 0; i < n; i++) {
		struct nb_thread *h = bad[i];
		ERRW(nb_thread_exit(h), "nb_thread_exit(%p)", (void *)h);
		ERRW(nb_thread_is_exited(h), "nb_thread_is_exited(%p)", (void *)h);
		ERRW(nb_thread_destroy(h), "nb_thread_destroy(%p)", (void *)h);
		ERRW(nb_thread_poll(h, 0, 0), "nb_thread_poll(%p)", (void *)h);
		ERRW(nb_set_thread(h), "nb_set_thread(%p)", (void *)h);
		ERRW(nb_thread_get_name(h, name, sizeof(name)), "nb_thread_get_name(%p)", (void *)h);
		ERRW(nb_thread_send_msg(h, on_msg, NULL), "nb_thread_send_msg(%p)", (void *)h);
	}
	OK(nb_get_current_thread() == W.t1, 1); /* a refused nb_set_thread changed nothing */
	OK(nb_thread_count(), 2);
	RC(nb_thread_send_msg(W.t1, NULL, NULL), -EINVAL);
	RC(nb_for_each_thread(NULL, NULL, NULL), -EINVAL);
	/* Name: NULL buffer / zero length report the length, as snprintf */
	memset(name, 'x', sizeof(name));
	OK(nb_thread_get_name(W.t1, NULL, 0), 6);
	OK(nb_thread_get_name(W.t1, name, 0), 6);
	OK(name[0], 'x');
	OK(nb_thread_get_name(W.t1, name, 1), 6);
	OK(name[0], '\0');
	OK(nb_thread_get_name(W.t1, name, SIZE_MAX), 6);
	TRUE(strcmp(name, "abi_t1") == 0);
	TRUE(nb_thread_poll(W.t1, UINT32_MAX, UINT64_MAX) >= 0);

	/* Life cycle misuse: destroy before exit, double exit, send after exit, double destroy */
	struct nb_thread *t3 = nb_thread_create(NULL, NULL);
	NEED(t3 != NULL);
	RC(nb_thread_destroy(t3), -EBUSY);
	OK(nb_thread_exit(t3), 0);
	RC(nb_thread_exit(t3), -EALREADY);
	POLL_UNTIL(t3, nb_thread_is_exited(t3) == 1);
	NEED(nb_set_thread(t3) == 0);
	PNULL(nb_poller_register(on_poll, NULL, 0)); /* exited: no new pollers */
	PNULL(nb_get_io_channel(&g_dev_key[0]));     /* nor io channels */
	NEED(nb_set_thread(W.t1) == 0);
	RC(nb_thread_send_msg(t3, on_msg, NULL), -EIO);
	RC(nb_thread_exit(t3), -EALREADY);
	OK(nb_thread_destroy(t3), 0);
	RC(nb_thread_destroy(t3), -EBADF);
	RC(nb_thread_exit(t3), -EBADF);
	RC(nb_thread_poll(t3, 0, 0), -EBADF);
	RC(nb_thread_is_exited(t3), -EBADF);
	RC(nb_set_thread(t3), -EBADF);

	/* A full message ring: -ENOMEM (16384 messages) */
	int sent = 0, rc;
	while ((rc = nb_thread_send_msg(W.t2, on_msg, NULL)) == 0 && sent < 100000)
		sent++;
	expect_rc(__LINE__, "nb_thread_send_msg to a full ring", rc, -ENOMEM);
	TRUE(sent == 16384);
	g_msgs = 0;
	TRUE(nb_thread_poll(W.t2, UINT32_MAX, 0) >= 0);
	OK(g_msgs, sent);

	/* for_each_thread without a current thread */
	NEED(nb_set_thread(NULL) == 0);
	RC(nb_for_each_thread(on_msg, NULL, on_msg), -EINVAL);

	/* Pollers: bad arguments, no thread, bad handles, double unregister, wrong thread */
	PNULL(nb_poller_register(on_poll, NULL, 0)); /* no current thread */
	NEED(nb_set_thread(W.t1) == 0);
	PNULL(nb_poller_register(NULL, NULL, 0));
	PNULL(nb_poller_register(on_poll, NULL, UINT64_MAX));
	PNULL(nb_poller_register(on_poll, NULL, 3600000001ULL));
	PNULL(nb_poller_register(on_poll, NULL, (uint64_t)INT64_MAX + 1));
	RC(nb_poller_unregister(NULL), -EINVAL);
	struct nb_poller *pn = NULL;
	RC(nb_poller_unregister(&pn), -EINVAL);
	RC(nb_poller_pause(NULL), -EINVAL);
	RC(nb_poller_resume(NULL), -EINVAL);
	n = bad_for(K_POLLER, bad);
	for (int i = 0; i < n; i++) {
		struct nb_poller *h = bad[i], *hc = h;
		ERRW(nb_poller_unregister(&hc), "nb_poller_unregister(&%p)", (void *)h);
		OK(hc == h, 1); /* a refused unregister leaves the caller's pointer alone */
		ERRW(nb_poller_pause(h), "nb_poller_pause(%p)", (void *)h);
		ERRW(nb_poller_resume(h), "nb_poller_resume(%p)", (void *)h);
	}
	struct nb_poller *p = nb_poller_register(on_poll, NULL, 10), *pc = p;
	NEED(p != NULL);
	NEED(nb_set_thread(W.t2) == 0); /* another thread's poller */
	ERR(nb_poller_pause(p));
	ERR(nb_poller_resume(p));
	ERR(nb_poller_unregister(&pc));
	OK(pc == p, 1);
	NEED(nb_set_thread(NULL) == 0); /* no thread at all */
	ERR(nb_poller_pause(p));
	ERR(nb_poller_unregister(&pc));
	NEED(nb_set_thread(W.t1) == 0);
	OK(nb_poller_pause(p), 0);
	OK(nb_poller_resume(p), 0);
	OK(nb_poller_unregister(&pc), 0);
	OK(pc == NULL, 1);
	RC(nb_poller_unregister(&pc), -EINVAL); /* now NULL */
	pc = p;
	RC(nb_poller_unregister(&pc), -EBADF); /* stale */
	RC(nb_poller_pause(p), -EBADF);
	RC(nb_poller_resume(p), -EBADF);
	poll_n(W.t1, 2);
	teardown_world();
}

/* =========================================================================================
 * Group: channels — io devices and io channels
 * ======================================================================================= */

static void g_channels(const char *dir)
{
	(void)dir;
	setup_world();
	static char key3, key4;
	RC(nb_io_device_register(NULL, ch_create, ch_destroy, 8, "x"), -EINVAL);
	RC(nb_io_device_register(&key3, ch_create, ch_destroy, UINT32_MAX, "x"), -EINVAL);
	RC(nb_io_device_register(&key3, ch_create, ch_destroy, (1u << 24) + 1, "x"), -EINVAL);
	RC(nb_io_device_register(&g_dev_key[0], ch_create, ch_destroy, 8, "dup"), -EEXIST);
	ERR(nb_io_device_register(&key3, ch_create, ch_destroy, 8, long_string(5000, "d")));
	ERR(nb_io_device_register(&key3, ch_create, ch_destroy, 8, guarded(4097, 'd')));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_io_device_register(&key3, ch_create, ch_destroy, 8, bad_utf8[i]), "nb_io_device_register(bad UTF-8 #%zu)", i);
	OK(nb_io_device_register(&key3, NULL, NULL, 0, NULL), 0); /* no callbacks, no name: fine */
	OK(nb_io_device_unregister(&key3, NULL), 0);
	RC(nb_io_device_unregister(&key3, NULL), -ENOENT); /* double unregister */
	RC(nb_io_device_unregister(NULL, NULL), -EINVAL);
	RC(nb_io_device_unregister(&key4, NULL), -ENOENT);
	init_garbage();
	for (int i = 0; i < g_ngarbage; i++) {
		void *g = g_garbage[i];
		ERRW(nb_io_device_unregister(g, NULL), "nb_io_device_unregister(%p)", g);
		PNULLW(nb_get_io_channel(g), "nb_get_io_channel(%p)", g);
		ERRW(nb_for_each_channel(g, ch_visit, NULL, on_status), "nb_for_each_channel(%p)", g);
	}

	/* nb_get_io_channel */
	PNULL(nb_get_io_channel(NULL));
	PNULL(nb_get_io_channel(&key4)); /* never registered */
	PNULL(nb_get_io_channel(&key3)); /* unregistered */
	NEED(nb_set_thread(NULL) == 0);
	PNULL(nb_get_io_channel(&g_dev_key[0])); /* no current thread */
	NEED(nb_set_thread(W.t1) == 0);

	/* put / ctx / thread with NULL and bad handles */
	RC(nb_put_io_channel(NULL), -EINVAL);
	PNULL(nb_io_channel_get_ctx(NULL));
	PNULL(nb_io_channel_get_thread(NULL));
	void *bad[MAX_BAD * 2];
	int n = bad_for(K_CHANNEL, bad);
	for (int i = 0; i < n; i++) {
		struct nb_io_channel *h = bad[i];
		ERRW(nb_put_io_channel(h), "nb_put_io_channel(%p)", (void *)h);
		PNULLW(nb_io_channel_get_ctx(h), "nb_io_channel_get_ctx(%p)", (void *)h);
		PNULLW(nb_io_channel_get_thread(h), "nb_io_channel_get_thread(%p)", (void *)h);
	}
	OK(nb_io_channel_get_thread(W.cch) == W.t1, 1);
	TRUE(nb_io_channel_get_ctx(W.cch) != NULL);

	/* double put, and put from a thread that does not own the channel */
	NEED(nb_io_device_register(&key4, ch_create, ch_destroy, 16, "abi_dev4") == 0);
	struct nb_io_channel *c = nb_get_io_channel(&key4);
	NEED(c != NULL);
	NEED(nb_set_thread(W.t2) == 0);
	RC(nb_put_io_channel(c), -EINVAL);
	NEED(nb_set_thread(NULL) == 0);
	RC(nb_put_io_channel(c), -EINVAL);
	NEED(nb_set_thread(W.t1) == 0);
	OK(nb_put_io_channel(c), 0);
	RC(nb_put_io_channel(c), -EINVAL); /* no reference left (its destruction is queued) */
	poll_n(W.t1, 3);
	RC(nb_put_io_channel(c), -EBADF);  /* destroyed: stale */
	PNULL(nb_io_channel_get_ctx(c));
	PNULL(nb_io_channel_get_thread(c));

	/* A device being unregistered takes no new channels */
	c = nb_get_io_channel(&key4);
	NEED(c != NULL);
	OK(nb_io_device_unregister(&key4, NULL), 0);
	RC(nb_io_device_unregister(&key4, NULL), -ENOENT);
	NEED(nb_set_thread(W.t2) == 0);
	PNULL(nb_get_io_channel(&key4));
	NEED(nb_set_thread(W.t1) == 0);
	OK(nb_put_io_channel(c), 0);
	poll_n(W.t1, 3);

	/* nb_for_each_channel */
	RC(nb_for_each_channel(NULL, ch_visit, NULL, on_status), -EINVAL);
	RC(nb_for_each_channel(&g_dev_key[0], NULL, NULL, on_status), -EINVAL);
	RC(nb_for_each_channel(&key4, ch_visit, NULL, on_status), -ENOENT);
	NEED(nb_set_thread(NULL) == 0);
	ERR(nb_for_each_channel(&g_dev_key[0], ch_visit, NULL, on_status)); /* no current thread */
	NEED(nb_set_thread(W.t1) == 0);
	teardown_world();
}

/* =========================================================================================
 * Group: reactors
 * ======================================================================================= */

static void g_reactors(const char *dir)
{
	(void)dir;
	env_init_quiet(0);
	NEED(nb_log_set_callback(log_cb, NULL) == 0);
	struct nb_thread *t = nb_thread_create("abi_r", NULL);
	NEED(t != NULL);
	const char *masks[] = { "", " ", "0x", "0x0", "zz", "[", "[]", "[5-2]", "[0-1024]", "[-1]", "[1023]", "0x1 0x2",
				"[0,,1]" };
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++)
		ERRW(nb_reactors_start(masks[i]), "nb_reactors_start(\"%s\")", masks[i]);
	char *top = long_string(258, "0x8"); /* core 1023: not in this machine */
	memset(top + 3, '0', 255);
	ERR(nb_reactors_start(top));
	ERR(nb_reactors_start(long_string(259, "0x"))); /* 257 digits */
	ERR(nb_reactors_start(long_string(5000, "0x")));
	ERR(nb_reactors_start(guarded(4097, '1')));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_reactors_start(bad_utf8[i]), "nb_reactors_start(bad UTF-8 #%zu)", i);
	OK(nb_reactor_count(), 0);
	RC(nb_reactors_stop(), -EALREADY);
	uint32_t cores[8];
	RC(nb_reactor_get_cores(NULL, 0), -EINVAL);
	RC(nb_reactor_get_cores(NULL, 8), -EINVAL);
	OK(nb_reactor_get_cores(cores, -1), 0);
	OK(nb_reactor_get_cores(cores, INT_MIN), 0);

	OK(nb_reactors_start("0x1"), 0);
	RC(nb_reactors_start("0x1"), -EALREADY);
	RC(nb_reactors_start(NULL), -EALREADY);
	RC(nb_thread_poll(t, 0, 0), -EBUSY); /* a reactor runs it */
	RC(nb_env_fini(), -EBUSY);
	OK(nb_reactor_count(), 1);
	OK(nb_reactor_get_cores(cores, INT_MAX), 1);
	OK(cores[0], 0);
	OK(nb_reactors_stop(), 0);
	RC(nb_reactors_stop(), -EALREADY);
	OK(nb_reactor_count(), 0);
	NEED(nb_thread_exit(t) == 0);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	NEED(nb_thread_destroy(t) == 0);
	RC(nb_env_fini(), 0);
}

/* =========================================================================================
 * Group: bdev_control — create/destroy/resize/look-up/open/close/claim/stats/media events
 * ======================================================================================= */

static int count_bdevs(void)
{
	int n = 0;
	for (struct nb_bdev *b = nb_bdev_first(); b && n < 1000; b = nb_bdev_next(b))
		n++;
	return n;
}

static void g_bdev_control(const char *dir)
{
	setup_world();
	char name[NB_BDEV_NAME_MAX], path[600];

	/* nb_bdev_create: every scheme, malformed */
	static const char *const bad_uris[] = {
		"", "x", "://", ":///x", "malloc", "malloc:", "malloc:/", "malloc//m", "mal loc:///m?size_mb=1",
		"malloc:///m", "malloc:///?size_mb=1", "malloc:///m?", "malloc:///m?size_mb", "malloc:///m?size_mb=",
		"malloc:///m?size_mb=0", "malloc:///m?size_mb=-1", "malloc:///m?size_mb=+1", "malloc:///m?size_mb= 1",
		"malloc:///m?size_mb=0x10", "malloc:///m?size_mb=1.5", "malloc:///m?size_mb=18446744073709551615",
		"malloc:///m?size_mb=18446744073709551616", "malloc:///m?size_mb=99999999999999999999999",
		"malloc:///m?num_blocks=0", "malloc:///m?num_blocks=18446744073709551615", "malloc:///m?size=0",
		"malloc:///m?size=1P", "malloc:///m?size=K", "malloc:///m?size=100", "malloc:///m?size=1T",
		"malloc:///m?size=16777216T", "malloc:///m?size_mb=1048577", "malloc:///m?size_mb=4096",
		"malloc:///m?size_mb=1&num_blocks=2048", "malloc:///m?size_mb=1&size=1M", "malloc:///m?size_mb=1&size_mb=1",
		"malloc:///m?size_mb=1&blk_size=0", "malloc:///m?size_mb=1&blk_size=1", "malloc:///m?size_mb=1&blk_size=513",
		"malloc:///m?size_mb=1&blk_size=131072", "malloc:///m?size_mb=1&blk_size=18446744073709551615",
		"malloc:///m?num_blocks=3&blk_size=4096&size=1", "malloc:///m?size_mb=1&uuid=",
		"malloc:///m?size_mb=1&uuid=zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", "malloc:///m?size_mb=1&uuid={0}",
		"malloc:///m?size_mb=1&blksize=512", "malloc:///m?size_mb=1&=1", "malloc:///m?size_mb=1&name=x",
		"malloc:///m?size_mb=%zz", "malloc:///m?size_mb=%4", "malloc:///m?size_mb=%", "malloc:///m%?size_mb=1",
		"malloc:///%ff?size_mb=1", "malloc:///%c0%af?size_mb=1", "malloc:///m%00x?size_mb=1",
		"malloc:///m%01?size_mb=1", "malloc:///m%3F?size_mb=1", "malloc:///m%26?size_mb=1", "malloc:///m#?size_mb=1",
		"malloc:///abi_m?size_mb=1", /* exists */
		"null:///n", "null:///n?size_mb=1073741825", "null:///n?size=1048577T", "null:///n?num_blocks=0", "null:///n?size_mb=1&uuid=1",
		"null:///n?size_mb=1&direct=1", "null:///?size_mb=1",
		"bdev:///", "bdev://", "bdev:///does_not_exist", "bdev:///abi_m?name=abi_n", "bdev:///abi_m?name=",
		"bdev:///abi_m?size_mb=1", "bdev:///abi_m?uuid=x", "loopback:///", "loopback:///abi_m?name=a%01b",
		"loopback:///nope", "loopback:///abi_m?name=abi_m",
		"uring://", "uring:///", "uring:///does/not/exist", "uring:///dev/null", "uring:///dev/zero?direct=0",
		"uring:///proc/self/status", "uring:///etc/hostname?blk_size=100", "uring:///x?sqpoll=maybe",
		"aio://", "aio:///", "aio:///does/not/exist", "aio:///dev/null", "aio:///x?queue_depth=1",
		"floppy:///a?size_mb=1", "MALLOC2:///m?size_mb=1", "nvme://0000:00:00.0", "file:///etc/passwd",
	};
	int before = count_bdevs();
	for (size_t i = 0; i < sizeof(bad_uris) / sizeof(bad_uris[0]); i++) {
		memset(name, 'q', sizeof(name));
		ERRW(nb_bdev_create(bad_uris[i], name, sizeof(name)), "nb_bdev_create(\"%s\")", bad_uris[i]);
		OK(name[0], 'q'); /* a failed create writes no name */
	}
	RC(nb_bdev_create(NULL, name, sizeof(name)), -EINVAL);
	RC(nb_bdev_create("floppy:///a?size_mb=1", NULL, 0), -ENOTSUP);
	snprintf(path, sizeof(path), "uring://%s", dir);
	RC(nb_bdev_create(path, NULL, 0), -EISDIR);
	/* names: 255 characters is the most */
	char *uri = malloc(600);
	snprintf(uri, 600, "null:///%s?size_mb=1", long_string(256, "N"));
	RC(nb_bdev_create(uri, NULL, 0), -ENAMETOOLONG);
	snprintf(uri, 600, "loopback:///abi_m?name=%s", long_string(256, "L"));
	RC(nb_bdev_create(uri, NULL, 0), -ENAMETOOLONG);
	char *n255 = long_string(255, "N");
	snprintf(uri, 600, "null:///%s?size_mb=1", n255);
	OK(nb_bdev_create(uri, name, sizeof(name)), 0);
	TRUE(strcmp(name, n255) == 0);
	OK(nb_bdev_destroy(n255, NULL, NULL), 0);
	poll_n(W.t1, 3);
	/* loopback needs a current thread */
	NEED(nb_set_thread(NULL) == 0);
	ERR(nb_bdev_create("loopback:///abi_m?name=abi_lb", NULL, 0));
	ERR(nb_bdev_create("bdev:///abi_m?name=abi_lb", NULL, 0));
	NEED(nb_set_thread(W.t1) == 0);
	OK(count_bdevs(), before); /* nothing was created by any of that */

	/* nb_bdev_create_async: NULL arguments and no thread are refused with cb never run; a
	 * creation answers from a later poll on the calling thread, a failed one with NULL name */
	struct created cr = { 0 };
	RC(nb_bdev_create_async(NULL, on_created, &cr), -EINVAL);
	RC(nb_bdev_create_async("null:///abi_as?size_mb=1", NULL, &cr), -EINVAL);
	NEED(nb_set_thread(NULL) == 0);
	RC(nb_bdev_create_async("null:///abi_as?size_mb=1", on_created, &cr), -EINVAL);
	NEED(nb_set_thread(W.t1) == 0);
	OK(nb_bdev_create_async("null:///abi_as?size_mb=1", on_created, &cr), 0);
	OK(cr.calls, 0);
	POLL_UNTIL(W.t1, cr.calls == 1);
	OK(cr.status, 0);
	TRUE(strcmp(cr.name, "abi_as") == 0);
	OK(nb_bdev_create_async("floppy:///abi_as2?size_mb=1", on_created, &cr), 0);
	POLL_UNTIL(W.t1, cr.calls == 2);
	OK(cr.status, -ENOTSUP);
	TRUE(strcmp(cr.name, "(null)") == 0);
	TRUE(strstr(cr.error, "floppy") != NULL);
	OK(nb_bdev_destroy("abi_as", NULL, NULL), 0);
	poll_n(W.t1, 3);
	OK(count_bdevs(), before);

	/* name buffer: NULL, zero length, one byte */
	memset(name, 'q', sizeof(name));
	OK(nb_bdev_create("null:///abi_x?size_mb=1", name, 0), 0);
	OK(name[0], 'q');
	int done = 0;
	OK(nb_bdev_destroy("abi_x", on_status, &done), 0);
	POLL_UNTIL(W.t1, done == 1);
	RC(nb_bdev_destroy("abi_x", on_status, &done), -ENODEV); /* double destroy */
	OK(nb_bdev_create("null:///abi_x?size_mb=1", name, 1), 0);
	OK(name[0], '\0');
	OK(nb_bdev_destroy("abi_x", NULL, NULL), 0);
	poll_n(W.t1, 3);

	/* destroy, resize, get_by_name */
	RC(nb_bdev_destroy(NULL, NULL, NULL), -EINVAL);
	RC(nb_bdev_destroy("", NULL, NULL), -ENODEV);
	RC(nb_bdev_destroy("missing", on_status, NULL), -ENODEV);
	ERR(nb_bdev_resize(NULL, 8));
	RC(nb_bdev_resize("missing", 8), -ENODEV);
	RC(nb_bdev_resize("abi_m", 0), -EINVAL);
	ERR(nb_bdev_resize("abi_m", UINT64_MAX));
	ERR(nb_bdev_resize("abi_m", 2049)); /* malloc: not past its created size */
	PNULL(nb_bdev_get_by_name(NULL));
	PNULL(nb_bdev_get_by_name(""));
	PNULL(nb_bdev_get_by_name("missing"));
	PNULL(nb_bdev_get_by_name("abi_gone"));
	OK(nb_bdev_get_num_blocks(W.b), 2048);

	/* Every bdev-handle call with NULL and every bad handle */
	struct nb_bdev_info info;
	struct nb_bdev_io_stat st;
	double pct[2] = { 50, 99 };
	uint64_t ticks[2];
	struct nb_bdev_io_wait_entry we = { .bdev = NULL, .cb_fn = on_wait };
	void *bad[MAX_BAD * 2];
	int n = bad_for(K_BDEV, bad);
	for (int i = -1; i < n; i++) {
		struct nb_bdev *h = i < 0 ? NULL : bad[i];
		info.info_size = sizeof(info);
		st.stat_size = sizeof(st);
		we.bdev = h;
		PNULLW(nb_bdev_next(h), "nb_bdev_next(%p)", (void *)h);
		PNULLW(nb_bdev_get_name(h), "nb_bdev_get_name(%p)", (void *)h);
		SENTW(nb_bdev_get_block_size(h), 0, "nb_bdev_get_block_size(%p)", (void *)h);
		SENTW(nb_bdev_get_num_blocks(h), 0, "nb_bdev_get_num_blocks(%p)", (void *)h);
		ERRW(nb_bdev_io_type_supported(h, NB_BDEV_IO_TYPE_READ), "nb_bdev_io_type_supported(%p)", (void *)h);
		ERRW(nb_bdev_get_info(h, &info), "nb_bdev_get_info(%p)", (void *)h);
		ERRW(nb_bdev_get_io_stat(h, &st), "nb_bdev_get_io_stat(%p)", (void *)h);
		ERRW(nb_bdev_get_latency_percentiles(h, NULL, pct, ticks, 2), "nb_bdev_get_latency_percentiles(%p)", (void *)h);
		ERRW(nb_bdev_reset_io_stat(h, on_status, NULL), "nb_bdev_reset_io_stat(%p)", (void *)h);
		ERRW(nb_bdev_notify_media_management(h, 0, 1), "nb_bdev_notify_media_management(%p)", (void *)h);
		ERRW(nb_bdev_queue_io_wait(h, W.bch, &we), "nb_bdev_queue_io_wait(%p)", (void *)h);
	}
	/* io types out of range are "not supported", not errors */
	int types[] = { 0, -1, 9, 100, INT_MAX, INT_MIN };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		OK(nb_bdev_io_type_supported(W.b, types[i]), 0);
	/* info / stat structs */
	RC(nb_bdev_get_info(W.b, NULL), -EINVAL);
	RC(nb_bdev_get_io_stat(W.b, NULL), -EINVAL);
	RC(nb_bdev_channel_get_io_stat(W.bch, NULL), -EINVAL);
	size_t sizes[] = { 0, 1, 7, 16u << 20, SIZE_MAX, SIZE_MAX / 2 + 1 }; /* no struct is 16 MiB */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		info.info_size = sizes[i];
		st.stat_size = sizes[i];
		RCW(nb_bdev_get_info(W.b, &info), -EINVAL, "nb_bdev_get_info(info_size=%zu)", sizes[i]);
		RCW(nb_bdev_get_io_stat(W.b, &st), -EINVAL, "nb_bdev_get_io_stat(stat_size=%zu)", sizes[i]);
		RCW(nb_bdev_channel_get_io_stat(W.bch, &st), -EINVAL, "nb_bdev_channel_get_io_stat(stat_size=%zu)", sizes[i]);
	}
	/* channel statistics: NULL, bad handles, a channel that is not a bdev's */
	st.stat_size = sizeof(st);
	RC(nb_bdev_channel_get_io_stat(NULL, &st), -EINVAL);
	RC(nb_bdev_channel_get_io_stat(W.cch, &st), -EINVAL);
	RC(nb_bdev_get_latency_percentiles(W.b, W.cch, pct, ticks, 2), -EINVAL);
	RC(nb_bdev_get_latency_percentiles(W.b, W.nch, pct, ticks, 2), -EINVAL); /* another bdev's */
	n = bad_for(K_CHANNEL, bad);
	for (int i = 0; i < n; i++) {
		ERRW(nb_bdev_channel_get_io_stat(bad[i], &st), "nb_bdev_channel_get_io_stat(%p)", bad[i]);
		ERRW(nb_bdev_get_latency_percentiles(W.b, bad[i], pct, ticks, 2), "nb_bdev_get_latency_percentiles(ch=%p)", bad[i]);
	}
	/* percentiles */
	RC(nb_bdev_get_latency_percentiles(W.b, NULL, NULL, ticks, 2), -EINVAL);
	RC(nb_bdev_get_latency_percentiles(W.b, NULL, pct, NULL, 2), -EINVAL);
	int counts[] = { 0, -1, 1025, INT_MAX, INT_MIN };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		RCW(nb_bdev_get_latency_percentiles(W.b, W.bch, pct, ticks, counts[i]), -EINVAL, "percentiles count=%d", counts[i]);
	double bad_pct[] = { -1, 100.0001, -0.0001, NAN, INFINITY, -INFINITY, 1e300 };
	for (size_t i = 0; i < sizeof(bad_pct) / sizeof(bad_pct[0]); i++) {
		double p2[2] = { 50, bad_pct[i] };
		RCW(nb_bdev_get_latency_percentiles(W.b, NULL, p2, ticks, 2), -EINVAL, "percentile %g", bad_pct[i]);
	}
	/* reset_io_stat without a current thread */
	NEED(nb_set_thread(NULL) == 0);
	ERR(nb_bdev_reset_io_stat(W.b, on_status, NULL));
	NEED(nb_set_thread(W.t1) == 0);
	/* media management ranges */
	RC(nb_bdev_notify_media_management(W.b, 0, 0), -EINVAL);
	RC(nb_bdev_notify_media_management(W.b, UINT64_MAX, 2), -EINVAL);
	RC(nb_bdev_notify_media_management(W.b, 2048, 1), -EINVAL);
	RC(nb_bdev_notify_media_management(W.b, 0, UINT64_MAX), -EINVAL);
	RC(nb_bdev_notify_media_management(W.b, 1, UINT64_MAX), -EINVAL);
	struct nb_bdev_media_event ev[4];
	RC(nb_bdev_get_media_events(NULL, ev, 4), -EINVAL);
	RC(nb_bdev_get_media_events(W.d, NULL, 4), -EINVAL);
	OK(nb_bdev_get_media_events(W.d, ev, 0), 0);
	OK(nb_bdev_notify_media_management(W.b, 5, 1), 0);
	OK(nb_bdev_get_media_events(W.d, ev, SIZE_MAX), 1); /* only what there is is written */
	n = bad_for(K_DESC, bad);
	for (int i = 0; i < n; i++)
		ERRW(nb_bdev_get_media_events(bad[i], ev, 4), "nb_bdev_get_media_events(%p)", bad[i]);

	/* open */
	struct nb_bdev_desc *d = (struct nb_bdev_desc *)&g_static_word;
	RC(nb_bdev_open_ext("abi_m", 1, on_event, NULL, NULL), -EINVAL);
	RC(nb_bdev_open_ext("abi_m", 1, NULL, NULL, &d), -EINVAL);
	OK(d == NULL, 1); /* *desc cleared on failure */
	RC(nb_bdev_open_ext(NULL, 1, on_event, NULL, &d), -EINVAL);
	RC(nb_bdev_open_ext("", 0, on_event, NULL, &d), -ENODEV);
	RC(nb_bdev_open_ext("missing", 0, on_event, NULL, &d), -ENODEV);
	RC(nb_bdev_open_ext("abi_gone", 0, on_event, NULL, &d), -ENODEV);
	NEED(nb_set_thread(NULL) == 0);
	RC(nb_bdev_open_ext("abi_m", 0, on_event, NULL, &d), -EINVAL); /* no current thread */
	NEED(nb_set_thread(W.t1) == 0);

	/* close / desc_get_bdev / claim / release / get_io_channel with bad descriptors */
	RC(nb_bdev_close(NULL), -EINVAL);
	PNULL(nb_bdev_desc_get_bdev(NULL));
	RC(nb_bdev_claim(NULL, "x"), -EINVAL);
	RC(nb_bdev_release_claim(NULL), -EINVAL);
	PNULL(nb_bdev_get_io_channel(NULL));
	for (int i = 0; i < n; i++) {
		struct nb_bdev_desc *h = bad[i];
		ERRW(nb_bdev_close(h), "nb_bdev_close(%p)", (void *)h);
		PNULLW(nb_bdev_desc_get_bdev(h), "nb_bdev_desc_get_bdev(%p)", (void *)h);
		ERRW(nb_bdev_claim(h, "x"), "nb_bdev_claim(%p)", (void *)h);
		ERRW(nb_bdev_release_claim(h), "nb_bdev_release_claim(%p)", (void *)h);
		PNULLW(nb_bdev_get_io_channel(h), "nb_bdev_get_io_channel(%p)", (void *)h);
	}
	NEED(nb_set_thread(NULL) == 0);
	PNULL(nb_bdev_get_io_channel(W.d)); /* no current thread */
	NEED(nb_set_thread(W.t1) == 0);
	/* claims */
	RC(nb_bdev_claim(W.ro, "x"), -EPERM);
	struct nb_bdev_desc *d2;
	NEED(nb_bdev_open_ext("abi_m", 1, on_event, NULL, &d2) == 0);
	RC(nb_bdev_claim(W.d, "x"), -EPERM);    /* another writable descriptor is open */
	OK(nb_bdev_close(d2), 0);
	OK(nb_bdev_close(W.ro), 0);
	RC(nb_bdev_close(W.ro), -EBADF);        /* double close */
	NEED(nb_bdev_open_ext("abi_m", 0, on_event, NULL, &W.ro) == 0);
	RC(nb_bdev_release_claim(W.d), -EINVAL);  /* holds none */
	ERR(nb_bdev_claim(W.d, long_string(5000, "o")));
	ERR(nb_bdev_claim(W.d, guarded(4097, 'o')));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_bdev_claim(W.d, bad_utf8[i]), "nb_bdev_claim(owner=bad UTF-8 #%zu)", i);
	OK(nb_bdev_claim(W.d, NULL), 0); /* no owner name: a default */
	RC(nb_bdev_claim(W.d, "again"), -EPERM);
	RC(nb_bdev_open_ext("abi_m", 1, on_event, NULL, &d), -EPERM);
	OK(nb_bdev_release_claim(W.d), 0);
	RC(nb_bdev_release_claim(W.d), -EINVAL);

	/* A bdev being removed: new opens, channels and I/O fail with -ENODEV */
	struct nb_bdev_desc *rd;
	NEED(nb_bdev_create("null:///abi_rm?size_mb=1", NULL, 0) == 0);
	NEED(nb_bdev_open_ext("abi_rm", 1, on_event, NULL, &rd) == 0);
	struct nb_io_channel *rch = nb_bdev_get_io_channel(rd);
	NEED(rch != NULL);
	done = 0;
	g_events[NB_BDEV_EVENT_REMOVE] = 0;
	OK(nb_bdev_destroy("abi_rm", on_status, &done), 0);
	POLL_UNTIL(W.t1, g_events[NB_BDEV_EVENT_REMOVE] == 1);
	uint8_t *buf = W.dma;
	RC(nb_bdev_read_blocks(rd, rch, buf, 0, 1, on_io, NULL), -ENODEV);
	RC(nb_bdev_write_blocks(rd, rch, buf, 0, 1, on_io, NULL), -ENODEV);
	RC(nb_bdev_open_ext("abi_rm", 0, on_event, NULL, &d), -ENODEV);
	PNULL(nb_bdev_get_io_channel(rd));
	ERR(nb_bdev_resize("abi_rm", 8));
	PNULL(nb_bdev_get_by_name("abi_rm"));
	OK(nb_put_io_channel(rch), 0);
	poll_n(W.t1, 3);
	OK(nb_bdev_close(rd), 0);
	POLL_UNTIL(W.t1, done == 1);
	RC(nb_bdev_destroy("abi_rm", NULL, NULL), -ENODEV);
	RC(nb_bdev_close(rd), -EBADF);

	OK(count_bdevs(), 2);
	teardown_world();
}

/* =========================================================================================
 * Group: bdev_io — every submitting call with bad handles, sizes, buffers and iovecs
 * ======================================================================================= */

static int is_write_type(int f)
{
	return !(f == F_READ || f == F_READ_BLOCKS || f == F_READV || f == F_READV_BLOCKS || f == F_BATCH_READ);
}

struct inner_check {
	int ran, rc_type, rc_status_null, rc_status;
};

static void on_io_inspect(struct nb_bdev_io *io, int status, void *arg)
{
	struct inner_check *c = arg;
	uint32_t cdw0;
	int sct, sc;
	(void)status;
	c->ran++;
	c->rc_type = nb_bdev_io_get_type(io);
	c->rc_status_null = nb_bdev_io_get_nvme_status(io, NULL, NULL, NULL);
	c->rc_status = nb_bdev_io_get_nvme_status(io, &cdw0, &sct, &sc);
	g_saved_io = io;
}

static void g_bdev_io(const char *dir)
{
	(void)dir;
	setup_world();
	const uint32_t bs = 512;
	uint8_t *buf = W.dma;
	void *bad[MAX_BAD * 2];
	int before = g_io_callbacks;

	for (int f = 0; f < F_NFN; f++) {
		const char *fn = io_names[f];
		/* NULL and bad descriptors, NULL and bad channels, wrong pairings */
		RCW(io_simple(f, NULL, W.bch, buf, bs), -EINVAL, "%s(desc=NULL)", fn);
		RCW(io_simple(f, W.d, NULL, buf, bs), -EINVAL, "%s(ch=NULL)", fn);
		int n = bad_for(K_DESC, bad);
		for (int i = 0; i < n; i++)
			ERRW(io_simple(f, bad[i], W.bch, buf, bs), "%s(desc=%p)", fn, bad[i]);
		n = bad_for(K_CHANNEL, bad);
		for (int i = 0; i < n; i++)
			ERRW(io_simple(f, W.d, bad[i], buf, bs), "%s(ch=%p)", fn, bad[i]);
		RCW(io_simple(f, W.d, W.cch, buf, bs), -EINVAL, "%s(ch=a C io_device's channel)", fn);
		RCW(io_simple(f, W.d, W.nch, buf, bs), -EINVAL, "%s(ch=another bdev's channel)", fn);
		RCW(io_simple(f, (struct nb_bdev_desc *)W.bch, W.bch, buf, bs), -EBADF, "%s(desc=a channel)", fn);
		RCW(io_simple(f, W.d, (struct nb_io_channel *)W.d, buf, bs), -EBADF, "%s(ch=a descriptor)", fn);
		RCW(io_simple(f, (struct nb_bdev_desc *)W.b, W.bch, buf, bs), -EBADF, "%s(desc=a bdev)", fn);
		RCW(io_simple(f, (struct nb_bdev_desc *)W.t1, (struct nb_io_channel *)W.t1, buf, bs), -EBADF,
		    "%s(desc=ch=a thread)", fn);
		/* NULL callback */
		struct iovec one[1] = { { buf, bs } };
		RCW(io_call(f, W.d, W.bch, buf, one, is_vectored(f), 0, 1, bs, NULL), -EINVAL, "%s(cb=NULL)", fn);
		/* read-only descriptor */
		if (is_write_type(f))
			RCW(io_simple(f, W.ro, W.bch, buf, bs), -EBADF, "%s(read-only desc)", fn);
		if (f == F_RESET)
			continue;
		/* zero and huge ranges (flush may be empty) */
		struct { uint64_t off, num; } ranges[] = {
			{ 0, 0 }, { 0, UINT64_MAX }, { UINT64_MAX, 1 }, { UINT64_MAX, UINT64_MAX }, { 2047, 2 },
			{ 2048, 1 }, { 1, 2048 }, { 0, 2049 }, { 1ULL << 63, 1ULL << 63 }, { UINT64_MAX / 512, 1 },
		};
		for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
			if (ranges[r].num == 0 && (f == F_FLUSH || f == F_FLUSH_BLOCKS))
				continue;
			uint64_t bytes_per = (f == F_READ || f == F_WRITE || f == F_READV || f == F_WRITEV ||
					      f == F_WZ || f == F_UNMAP || f == F_FLUSH) ? bs : 1;
			/* the byte calls take off*bs, num*bs: skip ranges that wrap in that product */
			if (bytes_per > 1 && (ranges[r].off > UINT64_MAX / bs || ranges[r].num > UINT64_MAX / bs))
				continue;
			struct iovec iv[1] = { { buf, 512 } };
			RCW(io_call(f, W.d, W.bch, buf, iv, is_vectored(f), ranges[r].off, ranges[r].num, bs, on_io), -EINVAL,
			    "%s(offset_blocks=%llu, num_blocks=%llu)", fn, (unsigned long long)ranges[r].off,
			    (unsigned long long)ranges[r].num);
		}
		if (!has_buffer(f))
			continue;
		/* NULL buffer, NULL iovec array, iovec counts, NULL bases, lengths not adding up */
		if (!is_vectored(f))
			RCW(io_call(f, W.d, W.bch, NULL, NULL, 0, 0, 1, bs, on_io), -EINVAL, "%s(buf=NULL)", fn);
		if (is_vectored(f) || f == F_BATCH_READ || f == F_BATCH_WRITE) {
			static struct iovec many[1025];
			for (int i = 0; i < 1025; i++)
				many[i] = (struct iovec){ buf, 512 };
			int counts[] = { 0, -1, 1025, INT_MAX, INT_MIN, 100000 };
			for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
				if (counts[c] == 0 && !is_vectored(f))
					continue; /* batch: 0 means "use buf" */
				RCW(io_call(f, W.d, W.bch, NULL, many, counts[c], 0, 1, bs, on_io), -EINVAL, "%s(iovcnt=%d)", fn,
				    counts[c]);
			}
			RCW(io_call(f, W.d, W.bch, NULL, NULL, 1, 0, 1, bs, on_io), -EINVAL, "%s(iov=NULL, iovcnt=1)", fn);
			struct iovec nullbase[2] = { { NULL, 512 }, { buf, 512 } };
			RCW(io_call(f, W.d, W.bch, NULL, nullbase, 2, 0, 2, bs, on_io), -EINVAL, "%s(iov[0].base=NULL)", fn);
			struct iovec nullbase2[2] = { { buf, 512 }, { NULL, 512 } };
			RCW(io_call(f, W.d, W.bch, NULL, nullbase2, 2, 0, 2, bs, on_io), -EINVAL, "%s(iov[1].base=NULL)", fn);
			struct iovec shortv[2] = { { buf, 512 }, { buf + 512, 511 } };
			RCW(io_call(f, W.d, W.bch, NULL, shortv, 2, 0, 2, bs, on_io), -EINVAL, "%s(iovecs 1 byte short)", fn);
			struct iovec longv[2] = { { buf, 512 }, { buf + 512, 513 } };
			RCW(io_call(f, W.d, W.bch, NULL, longv, 2, 0, 2, bs, on_io), -EINVAL, "%s(iovecs 1 byte long)", fn);
			struct iovec zero[1] = { { buf, 0 } };
			RCW(io_call(f, W.d, W.bch, NULL, zero, 1, 0, 1, bs, on_io), -EINVAL, "%s(iovec of length 0)", fn);
			RCW(io_call(f, W.d, W.bch, NULL, many, 1024, 0, 1, bs, on_io), -EINVAL, "%s(1024 iovecs for 1 block)", fn);
		}
	}
	/* byte-addressed calls: offsets and lengths not multiples of the block size, or huge */
	struct { uint64_t off, len; } br[] = { { 100, 512 }, { 0, 100 }, { 0, UINT64_MAX }, { UINT64_MAX, 512 },
					       { UINT64_MAX - 511, 512 }, { 512, UINT64_MAX - 511 }, { 1, 1 } };
	for (size_t i = 0; i < sizeof(br) / sizeof(br[0]); i++) {
		uint64_t o = br[i].off, l = br[i].len;
		struct iovec iv[1] = { { buf, (size_t)(l > 65536 ? 512 : l) } };
		RCW(nb_bdev_read(W.d, W.bch, buf, o, l, on_io, NULL), -EINVAL, "nb_bdev_read(%llu, %llu)", (unsigned long long)o, (unsigned long long)l);
		RCW(nb_bdev_write(W.d, W.bch, buf, o, l, on_io, NULL), -EINVAL, "nb_bdev_write(%llu, %llu)", (unsigned long long)o, (unsigned long long)l);
		RCW(nb_bdev_readv(W.d, W.bch, iv, 1, o, l, on_io, NULL), -EINVAL, "nb_bdev_readv(%llu, %llu)", (unsigned long long)o, (unsigned long long)l);
		RCW(nb_bdev_writev(W.d, W.bch, iv, 1, o, l, on_io, NULL), -EINVAL, "nb_bdev_writev(%llu, %llu)", (unsigned long long)o, (unsigned long long)l);
		RCW(nb_bdev_write_zeroes(W.d, W.bch, o, l, on_io, NULL), -EINVAL, "nb_bdev_write_zeroes(%llu, %llu)", (unsigned long long)o, (unsigned long long)l);
		RCW(nb_bdev_unmap(W.d, W.bch, o, l, on_io, NULL), -EINVAL, "nb_bdev_unmap(%llu, %llu)", (unsigned long long)o, (unsigned long long)l);
		RCW(nb_bdev_flush(W.d, W.bch, o, l, on_io, NULL), -EINVAL, "nb_bdev_flush(%llu, %llu)", (unsigned long long)o, (unsigned long long)l);
	}
	/* batch: the array and its count, bad types */
	struct nb_bdev_io_request rq = { .io_type = NB_BDEV_IO_TYPE_READ, .buf = buf, .num_blocks = 1, .cb = on_io };
	RC(nb_bdev_submit_batch(W.d, W.bch, NULL, 1), -EINVAL);
	int counts[] = { 0, -1, 65537, INT_MAX, INT_MIN };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		RCW(nb_bdev_submit_batch(W.d, W.bch, &rq, counts[i]), -EINVAL, "nb_bdev_submit_batch(count=%d)", counts[i]);
	int types[] = { 0, -1, NB_BDEV_IO_TYPE_RESET, NB_BDEV_IO_TYPE_NVME_ADMIN, NB_BDEV_IO_TYPE_NVME_IO, 9, INT_MAX, INT_MIN };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct nb_bdev_io_request r = rq;
		r.io_type = types[i];
		RCW(nb_bdev_submit_batch(W.d, W.bch, &r, 1), -EINVAL, "nb_bdev_submit_batch(io_type=%d)", types[i]);
	}
	OK(g_io_callbacks, before); /* no refused call ever calls back */
	poll_n(W.t1, 3);
	OK(g_io_callbacks, before);
	/* A batch whose second entry is bad: one accepted, the reason in nb_last_error() */
	struct nb_bdev_io_request two[2] = { rq, rq };
	two[1].num_blocks = 0;
	RC(nb_bdev_submit_batch(W.d, W.bch, two, 2), 1);
	TRUE(nb_last_error()[0] != '\0' && strcmp(nb_last_error(), g_marker) != 0);
	POLL_UNTIL(W.t1, g_io_callbacks == before + 1);
	before = g_io_callbacks;

	/* io wait: bad entries and misuse */
	struct nb_bdev_io_wait_entry we = { .bdev = W.b, .cb_fn = on_wait };
	RC(nb_bdev_queue_io_wait(W.b, W.bch, NULL), -EINVAL);
	struct nb_bdev_io_wait_entry nocb = { .bdev = W.b };
	RC(nb_bdev_queue_io_wait(W.b, W.bch, &nocb), -EINVAL);
	struct nb_bdev_io_wait_entry other = { .bdev = W.nb, .cb_fn = on_wait };
	RC(nb_bdev_queue_io_wait(W.b, W.bch, &other), -EINVAL);   /* entry->bdev differs */
	RC(nb_bdev_queue_io_wait(W.nb, W.bch, &other), -EINVAL);  /* channel of another bdev */
	RC(nb_bdev_queue_io_wait(W.b, W.cch, &we), -EINVAL);      /* not a bdev channel */
	RC(nb_bdev_queue_io_wait(W.b, NULL, &we), -EINVAL);
	RC(nb_bdev_queue_io_wait(NULL, W.bch, &we), -EINVAL);
	int n = bad_for(K_CHANNEL, bad);
	for (int i = 0; i < n; i++)
		ERRW(nb_bdev_queue_io_wait(W.b, bad[i], &we), "nb_bdev_queue_io_wait(ch=%p)", bad[i]);
	RC(nb_bdev_queue_io_wait(W.b, W.bch, &we), -EINVAL); /* I/Os are free: nothing to wait for */

	/* bdev_io getters: NULL, garbage, a pointer kept after its callback, one inside */
	uint32_t cdw0;
	int sct, sc;
	RC(nb_bdev_io_get_type(NULL), -EINVAL);
	RC(nb_bdev_io_get_nvme_status(NULL, &cdw0, &sct, &sc), -EINVAL);
	init_garbage();
	for (int i = 0; i < g_ngarbage; i++) {
		RCW(nb_bdev_io_get_type(g_garbage[i]), -EINVAL, "nb_bdev_io_get_type(%p)", g_garbage[i]);
		RCW(nb_bdev_io_get_nvme_status(g_garbage[i], &cdw0, &sct, &sc), -EINVAL, "nb_bdev_io_get_nvme_status(%p)",
		    g_garbage[i]);
	}
	RC(nb_bdev_io_get_type((struct nb_bdev_io *)W.dma), -EINVAL);
	struct inner_check ic = { 0 };
	NEED(nb_bdev_read_blocks(W.d, W.bch, buf, 0, 1, on_io_inspect, &ic) == 0);
	POLL_UNTIL(W.t1, ic.ran == 1);
	OK(ic.rc_type, NB_BDEV_IO_TYPE_READ);
	OK(ic.rc_status, 0);
	TRUE(ic.rc_status_null == 0 || ic.rc_status_null == -EINVAL); /* NULL outputs: ignored or refused */
	struct nb_bdev_io *kept = g_saved_io;
	RC(nb_bdev_io_get_type(kept), -EINVAL); /* its callback is over */
	RC(nb_bdev_io_get_nvme_status(kept, &cdw0, &sct, &sc), -EINVAL);
	RC(nb_bdev_io_get_type((struct nb_bdev_io *)((uint8_t *)kept + 1)), -EINVAL);
	RC(nb_bdev_io_get_type((struct nb_bdev_io *)((uint8_t *)kept - 8)), -EINVAL);

	/* Stale: a closed descriptor and a destroyed channel */
	struct nb_bdev_desc *d2;
	NEED(nb_bdev_open_ext("abi_m", 1, on_event, NULL, &d2) == 0);
	NEED(nb_bdev_close(d2) == 0);
	for (int f = 0; f < F_NFN; f++)
		RCW(io_simple(f, d2, W.bch, buf, bs), -EBADF, "%s(closed desc)", io_names[f]);
	OK(g_io_callbacks, before);
	teardown_world();
}

/* =========================================================================================
 * Group: uring_alignment / aio_alignment — O_DIRECT bdevs refuse misaligned buffers
 * ======================================================================================= */

static void make_file(const char *path, off_t size)
{
	unlink(path);
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
	NEED(fd >= 0);
	NEED(ftruncate(fd, size) == 0);
	close(fd);
}

static void alignment(const char *dir, const char *scheme)
{
	setup_world();
	char path[600], uri[700], bname[64], lbname[80];
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/abi_%s.img", dir, scheme);
	make_file(path, 16 << 20);
	snprintf(bname, sizeof(bname), "abi_%s", scheme);
	snprintf(uri, sizeof(uri), "%s://%s?name=%s", scheme, path, bname);
	NEED(nb_bdev_create(uri, NULL, 0) == 0);
	RC(nb_bdev_create(uri, NULL, 0), -EEXIST);
	struct nb_bdev *b = nb_bdev_get_by_name(bname);
	struct nb_bdev_info info = { .info_size = sizeof(info) };
	NEED(b && nb_bdev_get_info(b, &info) == 0);
	NEED(info.required_alignment == 512);
	snprintf(uri, sizeof(uri), "loopback:///%s", bname);
	NEED(nb_bdev_create(uri, lbname, sizeof(lbname)) == 0);
	struct nb_bdev_desc *d, *ld;
	NEED(nb_bdev_open_ext(bname, 1, on_event, NULL, &d) == 0);
	NEED(nb_bdev_open_ext(lbname, 1, on_event, NULL, &ld) == 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d), *lch = nb_bdev_get_io_channel(ld);
	NEED(ch && lch);
	uint8_t *dma = nb_dma_malloc(16384, 4096, NULL);
	uint8_t *heap = aligned_alloc(4096, 16384);
	NEED(dma && heap);
	int before = g_io_callbacks;

	struct nb_bdev_desc *descs[2] = { d, ld };
	struct nb_io_channel *chs[2] = { ch, lch };
	const char *which[2] = { scheme, "loopback" };
	size_t offs[] = { 1, 2, 8, 64, 256, 511, 513 };
	for (int k = 0; k < 2; k++)
		for (int f = 0; f < F_NFN; f++) {
			if (!has_buffer(f))
				continue;
			for (size_t o = 0; o < sizeof(offs) / sizeof(offs[0]); o++) {
				uint8_t *bases[2] = { dma + offs[o], heap + offs[o] };
				for (int h = 0; h < 2; h++) {
					uint8_t *p = bases[h];
					struct iovec v1[1] = { { p, 1024 } };
					RCW(io_call(f, descs[k], chs[k], p, v1, is_vectored(f), 0, 2, 512, on_io), -EINVAL,
					    "%s on %s: buffer at +%zu (%s)", io_names[f], which[k], offs[o], h ? "heap" : "DMA");
					/* the misaligned piece second in an iovec array */
					struct iovec v2[2] = { { dma, 512 }, { p, 512 } };
					if (is_vectored(f) || f == F_BATCH_READ || f == F_BATCH_WRITE)
						RCW(io_call(f, descs[k], chs[k], NULL, v2, 2, 0, 2, 512, on_io), -EINVAL,
						    "%s on %s: iov[1] at +%zu (%s)", io_names[f], which[k], offs[o],
						    h ? "heap" : "DMA");
				}
			}
		}
	OK(g_io_callbacks, before);
	poll_n(W.t1, 3);
	OK(g_io_callbacks, before);
	/* The same calls aligned work (the refusals were about alignment only). */
	for (int k = 0; k < 2; k++) {
		struct iovec v[2] = { { dma, 512 }, { heap, 512 } };
		OK(nb_bdev_write_blocks(descs[k], chs[k], dma, 0, 2, on_io, NULL), 0);
		OK(nb_bdev_readv_blocks(descs[k], chs[k], v, 2, 0, 2, on_io, NULL), 0);
		POLL_UNTIL(W.t1, g_io_callbacks == before + 2);
		OK(g_last_status, 0);
		before = g_io_callbacks;
	}

	NEED(nb_put_io_channel(ch) == 0 && nb_put_io_channel(lch) == 0);
	poll_n(W.t1, 3);
	NEED(nb_bdev_close(d) == 0 && nb_bdev_close(ld) == 0);
	int done = 0;
	NEED(nb_bdev_destroy(lbname, on_status, &done) == 0);
	POLL_UNTIL(W.t1, done == 1);
	NEED(nb_bdev_destroy(bname, on_status, &done) == 0);
	POLL_UNTIL(W.t1, done == 2);
	nb_dma_free(dma);
	free(heap);
	unlink(path);
	teardown_world();
}

static void g_uring_alignment(const char *dir)
{
	alignment(dir, "uring");
}

static void g_aio_alignment(const char *dir)
{
	alignment(dir, "aio");
}

/* =========================================================================================
 * Group: cross_thread — channels and pollers used from threads that do not own them, and a
 * thread polled by two OS threads at once.
 * ======================================================================================= */

struct xt {
	int phase;
	int results[F_NFN + 4];
	char msg[256];
};

static void *foreign_os_thread(void *arg)
{
	struct xt *x = arg;
	uint8_t *buf = W.dma;
	for (int f = 0; f < F_NFN; f++)
		x->results[f] = io_simple(f, W.d, W.bch, buf, 512);
	x->results[F_NFN] = nb_put_io_channel(W.bch);
	struct nb_bdev_io_wait_entry we = { .bdev = W.b, .cb_fn = on_wait };
	x->results[F_NFN + 1] = nb_bdev_queue_io_wait(W.b, W.bch, &we);
	x->results[F_NFN + 2] = nb_poller_pause(W.poller);
	snprintf(x->msg, sizeof(x->msg), "%s", nb_last_error());
	return NULL;
}

static int g_concurrent_poll_rc = 1;
static void *poll_from_other(void *arg)
{
	g_concurrent_poll_rc = nb_thread_poll((struct nb_thread *)arg, 0, 0);
	return NULL;
}

static void poll_while_polled(void *ctx)
{
	pthread_t pt;
	pthread_create(&pt, NULL, poll_from_other, ctx);
	pthread_join(pt, NULL);
}

static void g_cross_thread(const char *dir)
{
	(void)dir;
	setup_world();
	uint8_t *buf = W.dma;
	int before = g_io_callbacks;
	struct nb_bdev_io_wait_entry we = { .bdev = W.b, .cb_fn = on_wait };
	struct nb_thread *binds[2] = { W.t2, NULL };
	for (int k = 0; k < 2; k++) {
		NEED(nb_set_thread(binds[k]) == 0);
		const char *who = binds[k] ? "another thread" : "no thread";
		for (int f = 0; f < F_NFN; f++)
			RCW(io_simple(f, W.d, W.bch, buf, 512), -EINVAL, "%s from %s", io_names[f], who);
		RCW(nb_put_io_channel(W.bch), -EINVAL, "nb_put_io_channel from %s", who);
		RCW(nb_put_io_channel(W.cch), -EINVAL, "nb_put_io_channel(C channel) from %s", who);
		RCW(nb_bdev_queue_io_wait(W.b, W.bch, &we), -EINVAL, "nb_bdev_queue_io_wait from %s", who);
		RCW(nb_poller_pause(W.poller), -EINVAL, "nb_poller_pause from %s", who);
		RCW(nb_poller_resume(W.poller), -EINVAL, "nb_poller_resume from %s", who);
		struct nb_poller *pc = W.poller;
		RCW(nb_poller_unregister(&pc), -EINVAL, "nb_poller_unregister from %s", who);
	}
	/* From an OS thread the host never bound */
	struct xt x = { 0 };
	pthread_t pt;
	NEED(pthread_create(&pt, NULL, foreign_os_thread, &x) == 0);
	pthread_join(pt, NULL);
	for (int f = 0; f < F_NFN; f++)
		expect_ok(__LINE__, WHAT("%s from an unbound OS thread", io_names[f]), x.results[f], -EINVAL);
	expect_ok(__LINE__, "nb_put_io_channel from an unbound OS thread", x.results[F_NFN], -EINVAL);
	expect_ok(__LINE__, "nb_bdev_queue_io_wait from an unbound OS thread", x.results[F_NFN + 1], -EINVAL);
	expect_ok(__LINE__, "nb_poller_pause from an unbound OS thread", x.results[F_NFN + 2], -EINVAL);
	expect_ok(__LINE__, "nb_last_error() on that OS thread is its own", x.msg[0] != '\0', 1);

	/* A thread being polled by one OS thread cannot be polled by another */
	NEED(nb_set_thread(W.t1) == 0);
	NEED(nb_thread_send_msg(W.t1, poll_while_polled, W.t1) == 0);
	poll_n(W.t1, 1);
	OK(g_concurrent_poll_rc, -EBUSY);
	/* ... nor destroyed while polled */
	OK(g_io_callbacks, before);
	poll_n(W.t1, 2);
	OK(g_io_callbacks, before);
	teardown_world();
}

/* =========================================================================================
 * Group: strings — over-long (NUL-terminated and not), non-UTF-8, for every string argument
 * ======================================================================================= */

static void strings_for_all(const char *s, const char *label)
{
	struct nb_bdev_desc *d = NULL;
	PNULLW(nb_thread_create(s, NULL), "nb_thread_create(name=%s)", label);
	PNULLW(nb_thread_create("abi", s), "nb_thread_create(cpumask=%s)", label);
	PNULLW(nb_mempool_create(s, 4, 64, 0), "nb_mempool_create(name=%s)", label);
	ERRW(nb_io_device_register(&g_dev_key[1], ch_create, ch_destroy, 8, s), "nb_io_device_register(name=%s)", label);
	ERRW(nb_reactors_start(s), "nb_reactors_start(%s)", label);
	ERRW(nb_bdev_create(s, NULL, 0), "nb_bdev_create(%s)", label);
	ERRW(nb_bdev_destroy(s, on_status, NULL), "nb_bdev_destroy(%s)", label);
	ERRW(nb_bdev_resize(s, 8), "nb_bdev_resize(%s)", label);
	PNULLW(nb_bdev_get_by_name(s), "nb_bdev_get_by_name(%s)", label);
	ERRW(nb_bdev_open_ext(s, 0, on_event, NULL, &d), "nb_bdev_open_ext(%s)", label);
	ERRW(nb_bdev_claim(W.d, s), "nb_bdev_claim(owner=%s)", label);
}

static void g_strings(const char *dir)
{
	(void)dir;
	struct nb_env_opts o;
	const char *lens[] = { "4097 bytes, no NUL", "5000 bytes", "65536 bytes" };
	char *strs[3] = { guarded(4097, 'a'), long_string(5000, "a"), long_string(65536, "malloc:///") };
	for (int i = 0; i < 3; i++) {
		NEED(nb_env_opts_init(&o, sizeof(o)) == 0);
		o.name = strs[i];
		ERRW(nb_env_init(&o), "nb_env_init(name=%s)", lens[i]);
		o.name = NULL;
		o.core_mask = strs[i];
		ERRW(nb_env_init(&o), "nb_env_init(core_mask=%s)", lens[i]);
	}
	setup_world();
	for (int i = 0; i < 3; i++)
		strings_for_all(strs[i], lens[i]);
	/* a URI that is valid except for its length */
	char *uri = long_string(4200, "null:///abi_long?size_mb=1&x=");
	ERR(nb_bdev_create(uri, NULL, 0));
	for (size_t i = 0; i < N_BAD_UTF8; i++) {
		char label[32];
		snprintf(label, sizeof(label), "bad UTF-8 #%zu", i);
		strings_for_all(bad_utf8[i], label);
		/* the same bytes inside otherwise valid strings */
		char buf[128];
		snprintf(buf, sizeof(buf), "null:///abi_%s?size_mb=1", bad_utf8[i]);
		ERRW(nb_bdev_create(buf, NULL, 0), "nb_bdev_create(name with %s)", label);
		snprintf(buf, sizeof(buf), "null:///abi_u?size_mb=1&uuid=%s", bad_utf8[i]);
		ERRW(nb_bdev_create(buf, NULL, 0), "nb_bdev_create(uuid with %s)", label);
		snprintf(buf, sizeof(buf), "[0,%s]", bad_utf8[i]);
		PNULLW(nb_thread_create("abi", buf), "nb_thread_create(cpumask with %s)", label);
	}
	/* Valid UTF-8 that is not ASCII is a name like any other */
	OK(nb_bdev_create("null:///abi_\xc3\xa9t\xc3\xa9_\xf0\x9f\x92\xbe?size_mb=1", NULL, 0), 0);
	TRUE(nb_bdev_get_by_name("abi_\xc3\xa9t\xc3\xa9_\xf0\x9f\x92\xbe") != NULL);
	OK(nb_bdev_create("null:///abi_%C3%A9?size_mb=1", NULL, 0), 0);
	TRUE(nb_bdev_get_by_name("abi_\xc3\xa9") != NULL);
	int done = 0;
	OK(nb_bdev_destroy("abi_\xc3\xa9t\xc3\xa9_\xf0\x9f\x92\xbe", on_status, &done), 0);
	OK(nb_bdev_destroy("abi_\xc3\xa9", on_status, &done), 0);
	POLL_UNTIL(W.t1, done == 2);
	teardown_world();
}

/* Group: string_unterminated_4096 — exactly 4096 bytes without a NUL, then a guard page:
 * "not NUL-terminated within 4096 bytes" must be refused without reading byte 4097. */
static void g_string_unterminated_4096(const char *dir)
{
	(void)dir;
	setup_world();
	char *s = guarded(4096, 'a');
	PNULL(nb_bdev_get_by_name(s));
	ERR(nb_bdev_create(s, NULL, 0));
	strings_for_all(s, "4096 bytes, no NUL");
	teardown_world();
}

/* Group: iov_length_overflow — iovec lengths whose sum wraps around 2^64 to the I/O's
 * length: the check "adds up to the length" must not be fooled. */
static void g_iov_length_overflow(const char *dir)
{
	(void)dir;
	setup_world();
	uint8_t *buf = W.dma;
	struct iovec wrap[2] = { { buf, (size_t)0 - 512 }, { buf, 1024 } }; /* sum = 512 mod 2^64 */
	struct iovec wrap3[3] = { { buf, SIZE_MAX }, { buf, 1 }, { buf, 512 } };
	int before = g_io_callbacks;
	/* null bdev first (it touches no memory), then malloc (it copies iov lengths) */
	RC(nb_bdev_readv_blocks(W.nd, W.nch, wrap, 2, 0, 1, on_io, NULL), -EINVAL);
	RC(nb_bdev_writev_blocks(W.nd, W.nch, wrap3, 3, 0, 1, on_io, NULL), -EINVAL);
	poll_n(W.t1, 3);
	g_io_callbacks = before;
	RC(nb_bdev_readv_blocks(W.d, W.bch, wrap, 2, 0, 1, on_io, NULL), -EINVAL);
	poll_n(W.t1, 3);
	RC(nb_bdev_writev_blocks(W.d, W.bch, wrap, 2, 0, 1, on_io, NULL), -EINVAL);
	poll_n(W.t1, 3);
	struct nb_bdev_io_request rq = { .io_type = NB_BDEV_IO_TYPE_WRITE, .iovcnt = 3, .iov = wrap3,
					 .num_blocks = 1, .cb = on_io };
	RC(nb_bdev_submit_batch(W.d, W.bch, &rq, 1), -EINVAL);
	poll_n(W.t1, 3);
	OK(g_io_callbacks, before);
	teardown_world();
}

/* Group: fifo_open_hang — a FIFO given as a uring/aio backing file, read-only. */
static void g_fifo_open_hang(const char *dir)
{
	setup_world();
	char path[600], uri[700];
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/abi_fifo", dir);
	unlink(path);
	NEED(mkfifo(path, 0600) == 0);
	const char *variants[] = { "uring://%s?readonly=1", "aio://%s?readonly=1&direct=0", "uring://%s?direct=0" };
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		snprintf(uri, sizeof(uri), variants[i], path);
		fprintf(stderr, "[%s]   nb_bdev_create(\"%s\") ...\n", g_group, uri);
		RCW(nb_bdev_create(uri, NULL, 0), -EINVAL, "nb_bdev_create(\"%s\") on a FIFO", uri);
	}
	unlink(path);
	teardown_world();
}

/* Group: thread_exit_then_register — nb_thread_exit() asked, the thread not yet polled: it
 * is exiting, so new pollers and io channels must be refused (SPDK's rule; the header's
 * "NULL on failure (no current thread, thread exiting)"). */
static void g_thread_exit_then_register(const char *dir)
{
	(void)dir;
	setup_world();
	struct nb_thread *t3 = nb_thread_create("abi_t3", NULL);
	NEED(t3 != NULL);
	OK(nb_thread_exit(t3), 0);
	NEED(nb_set_thread(t3) == 0);
	struct nb_poller *p = nb_poller_register(on_poll, NULL, 0);
	expect_null(__LINE__, "nb_poller_register on a thread asked to exit", p);
	struct nb_io_channel *c = nb_get_io_channel(&g_dev_key[0]);
	expect_null(__LINE__, "nb_get_io_channel on a thread asked to exit", c);
	if (p)
		NEED(nb_poller_unregister(&p) == 0);
	if (c)
		NEED(nb_put_io_channel(c) == 0);
	NEED(nb_set_thread(W.t1) == 0);
	POLL_UNTIL(t3, nb_thread_is_exited(t3) == 1);
	NEED(nb_thread_destroy(t3) == 0);
	teardown_world();
}

/* Group: null_resize_overflow — null bdevs take "any" block count, but creation caps them
 * at 1 PiB; a resize past 2^64 bytes makes size_bytes wrap. */
static void g_null_resize_overflow(const char *dir)
{
	(void)dir;
	setup_world();
	struct nb_bdev_info info = { .info_size = sizeof(info) };
	uint64_t counts[] = { UINT64_MAX, (1ULL << 55) + 1, (1ULL << 41) + 1 };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		int rc = nb_bdev_resize("abi_n", counts[i]);
		if (rc == 0) {
			OK(nb_bdev_get_info(W.nb, &info), 0);
			expect_ok(__LINE__, WHAT("resize to %llu blocks: size_bytes == num_blocks * 512 (no wrap)",
						 (unsigned long long)counts[i]),
				  info.size_bytes / 512 == info.num_blocks && info.size_bytes % 512 == 0, 1);
			expect_ok(__LINE__, WHAT("resize to %llu blocks: at most 1 PiB, as nb_bdev_create allows",
						 (unsigned long long)counts[i]),
				  info.size_bytes <= (1ULL << 50) && info.num_blocks <= (1ULL << 50) / 512, 1);
		} else {
			expect_rc(__LINE__, "nb_bdev_resize(abi_n, huge)", rc, ANY_ERR);
		}
	}
	NEED(nb_bdev_resize("abi_n", 4096) == 0);
	poll_n(W.t1, 3);
	teardown_world();
}

/* Group: thread_exhaustion — more threads than the library has slots for (1024). */
static void g_thread_exhaustion(const char *dir)
{
	(void)dir;
	env_init_quiet(0);
	NEED(nb_log_set_callback(log_cb, NULL) == 0);
	static struct nb_thread *ts[1100];
	int n = 0;
	struct nb_thread *t;
	while (n < 1100 && (arm(), t = nb_thread_create(NULL, NULL)) != NULL)
		ts[n++] = t;
	expect_null(__LINE__, WHAT("nb_thread_create number %d", n + 1), t);
	TRUE(n >= 64 && n <= 1024);
	OK(nb_thread_count(), n);
	for (int i = 0; i < n; i++) {
		NEED(nb_thread_exit(ts[i]) == 0);
		POLL_UNTIL(ts[i], nb_thread_is_exited(ts[i]) == 1);
		NEED(nb_thread_destroy(ts[i]) == 0);
	}
	t = nb_thread_create("after", NULL); /* slots come back */
	TRUE(t != NULL);
	NEED(nb_thread_exit(t) == 0);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	NEED(nb_thread_destroy(t) == 0);
	RC(nb_env_fini(), 0);
}

/* Group: uri_authority_ignored — "scheme://host/path": no scheme takes a host, yet the host
 * part is dropped silently, so uring://dir/file.img opens /file.img. It must be refused. */
static void g_uri_authority_ignored(const char *dir)
{
	char uri[700];
	setup_world();
	ERR(nb_bdev_create("malloc://somehost/abi_h?size_mb=1", NULL, 0));
	ERR(nb_bdev_create("null://localhost:4420/abi_h2?size_mb=1", NULL, 0));
	ERR(nb_bdev_create("loopback://x/abi_m?name=abi_h3", NULL, 0));
	/* uring://HOST/abs/path must not open /abs/path as if HOST were not there (and
	 * uring://dir/file.img, meant relative, opens /file.img). */
	char path[600];
	snprintf(path, sizeof(path), "%s/abi_auth.img", dir);
	make_file(path, 1 << 20);
	snprintf(uri, sizeof(uri), "uring://otherhost%s%s?direct=0&name=abi_h4", path[0] == '/' ? "" : "/", path);
	ERRW(nb_bdev_create(uri, NULL, 0), "nb_bdev_create(\"%s\")", uri);
	OK(count_bdevs(), 2);
	unlink(path);
	for (const char *n = "abi_h\0abi_h2\0abi_h4\0"; *n; n += strlen(n) + 1) {
		int done = 0;
		if (nb_bdev_destroy(n, on_status, &done) == 0)
			POLL_UNTIL(W.t1, done == 1);
	}
	int done = 0;
	if (nb_bdev_destroy("abi_h3", on_status, &done) == 0)
		POLL_UNTIL(W.t1, done == 1);
	teardown_world();
}

/* Group: io_device_key_collision — the library keys its bdevs' io devices from
 * 0x4e42000000000001 up and ignores a clash with a host's nb_io_device_register: then the
 * bdev's removal unregisters the host's device. A host's registration must survive. */
static void g_io_device_key_collision(const char *dir)
{
	(void)dir;
	setup_world();
	int ok[64] = { 0 };
	for (int k = 0; k < 64; k++)
		ok[k] = nb_io_device_register((void *)(uintptr_t)(0x4e42000000000000ULL + k), ch_create, ch_destroy, 0,
					      "host") == 0;
	for (int i = 0; i < 8; i++) {
		char uri[64], nm[32];
		snprintf(nm, sizeof(nm), "abi_k%d", i);
		snprintf(uri, sizeof(uri), "null:///%s?size_mb=1", nm);
		if (nb_bdev_create(uri, NULL, 0) == 0) {
			int done = 0;
			NEED(nb_bdev_destroy(nm, on_status, &done) == 0);
			POLL_UNTIL(W.t1, done == 1);
		}
	}
	for (int k = 0; k < 64; k++)
		if (ok[k])
			RCW(nb_io_device_unregister((void *)(uintptr_t)(0x4e42000000000000ULL + k), NULL), 0,
			    "nb_io_device_unregister(host device %#llx) after bdevs came and went",
			    0x4e42000000000000ULL + k);
	poll_n(W.t1, 3);
	teardown_world();
}

/* =========================================================================================
 * Group: faults — fault-injection rules and descriptor timeouts
 * ======================================================================================= */

static void g_faults(const char *dir)
{
	(void)dir;
	setup_world();
	int done = 0;
	struct nb_fault_rule_info rules[4];
	static const char *const bad[] = {
		"", "inject", "inject:", "inject://", "inject:///", "inject://?op=read", "inject://missing?op=read",
		"inject://abi_gone", "malloc:///abi_m?op=read", "null://abi_m", "inject://abi_m?op=bogus",
		"inject://abi_m?op=", "inject://abi_m?stage=later", "inject://abi_m?method=explode",
		"inject://abi_m?method=status-nvme-8-1", "inject://abi_m?method=status-nvme-0-0",
		"inject://abi_m?method=status-nvme-0-256", "inject://abi_m?method=status-nvme-0x1",
		"inject://abi_m?method=status-nvme--1-1", "inject://abi_m?method=status-nvme-1-1-1",
		"inject://abi_m?method=delay-", "inject://abi_m?method=delay--1", "inject://abi_m?method=delay-3600000001",
		"inject://abi_m?method=delay-18446744073709551616", "inject://abi_m?errno=0", "inject://abi_m?errno=4096",
		"inject://abi_m?errno=-5", "inject://abi_m?errno=EIO", "inject://abi_m?every=0",
		"inject://abi_m?every=2147483648", "inject://abi_m?count=9223372036854775808",
		"inject://abi_m?probability=1.5", "inject://abi_m?probability=NaN", "inject://abi_m?probability=-0.1",
		"inject://abi_m?probability=Infinity", "inject://abi_m?probability=abc", "inject://abi_m?probability=",
		"inject://abi_m?begin_at=5&end_at=5", "inject://abi_m?end_at=0", "inject://abi_m?begin_at=1099511627777",
		"inject://abi_m?end_at=18446744073709551615", "inject://abi_m?method=data",
		"inject://abi_m?op=read&method=data", "inject://abi_m?op=rw&stage=compl&method=data",
		"inject://abi_m?offset=x", "inject://abi_m?num_blk=-1", "inject://abi_m?unknown=1",
		"inject://abi_m?op=read&op=write", "inject://abi_m?op=%zz", "inject://abi_m?=read",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ERRW(nb_fault_inject(bad[i]), "nb_fault_inject(\"%s\")", bad[i]);
	RC(nb_fault_inject(NULL), -EINVAL);
	ERR(nb_fault_inject(long_string(5000, "inject://abi_m?op=read&x=")));
	ERR(nb_fault_inject(guarded(4097, 'i')));
	for (size_t i = 0; i < N_BAD_UTF8; i++) {
		char uri[96];
		ERRW(nb_fault_inject(bad_utf8[i]), "nb_fault_inject(bad UTF-8 #%zu)", i);
		snprintf(uri, sizeof(uri), "inject://abi_m?op=%s", bad_utf8[i]);
		ERRW(nb_fault_inject(uri), "nb_fault_inject(op=bad UTF-8 #%zu)", i);
	}
	OK(nb_fault_list(NULL, 0), 0); /* nothing was added by any of that */

	/* remove / clear / list */
	int ids[] = { 0, -1, 1, INT_MAX, INT_MIN };
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		RCW(nb_fault_remove(ids[i]), -ENOENT, "nb_fault_remove(%d)", ids[i]);
	int id = nb_fault_inject("inject://abi_m?op=read&method=status&errno=5&count=1");
	TRUE(id > 0);
	OK(nb_fault_list(NULL, 0), 1);
	RC(nb_fault_list(NULL, 1), -EINVAL);
	RC(nb_fault_list(rules, -1), -EINVAL);
	RC(nb_fault_list(rules, INT_MIN), -EINVAL);
	OK(nb_fault_list(rules, INT_MAX), 1); /* only what exists is written */
	OK(rules[0].id, id);
	OK(nb_fault_clear("missing"), 0);
	OK(nb_fault_clear(""), 0);
	ERR(nb_fault_clear(long_string(5000, "b")));
	ERR(nb_fault_clear(guarded(4097, 'b')));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_fault_clear(bad_utf8[i]), "nb_fault_clear(bad UTF-8 #%zu)", i);
	OK(nb_fault_list(NULL, 0), 1);
	OK(nb_fault_remove(id), 0);
	RC(nb_fault_remove(id), -ENOENT); /* double remove */
	/* a bdev's rules go with it */
	NEED(nb_bdev_create("null:///abi_f?size_mb=1", NULL, 0) == 0);
	id = nb_fault_inject("inject://abi_f?op=write");
	TRUE(id > 0);
	done = 0;
	NEED(nb_bdev_destroy("abi_f", on_status, &done) == 0);
	POLL_UNTIL(W.t1, done == 1);
	OK(nb_fault_list(NULL, 0), 0);
	RC(nb_fault_remove(id), -ENOENT);
	ERR(nb_fault_inject("inject://abi_f?op=write"));

	/* nb_bdev_set_timeout */
	RC(nb_bdev_set_timeout(NULL, 1000, 1, on_timeout, NULL), -EINVAL);
	void *badh[MAX_BAD * 2];
	int n = bad_for(K_DESC, badh);
	for (int i = 0; i < n; i++)
		ERRW(nb_bdev_set_timeout(badh[i], 1000, 1, on_timeout, NULL), "nb_bdev_set_timeout(%p)", badh[i]);
	RC(nb_bdev_set_timeout(W.d, UINT64_MAX, 1, on_timeout, NULL), -EINVAL);
	RC(nb_bdev_set_timeout(W.d, 86400000001ULL, 1, on_timeout, NULL), -EINVAL);
	RC(nb_bdev_set_timeout(W.d, 1000, 0, NULL, NULL), -EINVAL);
	OK(nb_bdev_set_timeout(W.d, 0, 0, NULL, NULL), 0); /* off */
	OK(nb_bdev_set_timeout(W.d, 1000000, 1, NULL, NULL), 0);
	OK(nb_bdev_set_timeout(W.d, 0, 0, NULL, NULL), 0);
	struct nb_bdev_desc *d2;
	NEED(nb_bdev_open_ext("abi_m", 0, on_event, NULL, &d2) == 0);
	OK(nb_bdev_set_timeout(d2, 1000, 1, on_timeout, NULL), 0);
	NEED(nb_bdev_close(d2) == 0);
	RC(nb_bdev_set_timeout(d2, 1000, 1, on_timeout, NULL), -EBADF);

	/* SPDK's error bdev: nb_bdev_error_inject */
	char ee[NB_BDEV_NAME_MAX];
	NEED(nb_bdev_create("null:///abi_eb?size_mb=1", NULL, 0) == 0);
	NEED(nb_bdev_create("error:///abi_eb", ee, sizeof(ee)) == 0);
	RC(nb_bdev_error_inject(NULL, 0, NB_BDEV_ERROR_FAILURE, 1), -EINVAL);
	RC(nb_bdev_error_inject("abi_eb", 0, NB_BDEV_ERROR_FAILURE, 1), -ENODEV); /* not an error bdev */
	RC(nb_bdev_error_inject("missing", 0, NB_BDEV_ERROR_FAILURE, 1), -ENODEV);
	ERR(nb_bdev_error_inject(long_string(5000, "EE_"), 0, NB_BDEV_ERROR_FAILURE, 1));
	ERR(nb_bdev_error_inject(guarded(4097, 'E'), 0, NB_BDEV_ERROR_FAILURE, 1));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_bdev_error_inject(bad_utf8[i], 0, NB_BDEV_ERROR_FAILURE, 1), "nb_bdev_error_inject(bad UTF-8 #%zu)", i);
	int bad_types[] = { -1, NB_BDEV_IO_TYPE_RESET, NB_BDEV_IO_TYPE_NVME_ADMIN, NB_BDEV_IO_TYPE_NVME_IO, 9, INT_MAX, INT_MIN };
	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++)
		RCW(nb_bdev_error_inject(ee, bad_types[i], NB_BDEV_ERROR_FAILURE, 1), -EINVAL, "nb_bdev_error_inject(io_type=%d)",
		    bad_types[i]);
	int bad_errors[] = { 0, 5, -1, INT_MAX, INT_MIN };
	for (size_t i = 0; i < sizeof(bad_errors) / sizeof(bad_errors[0]); i++)
		RCW(nb_bdev_error_inject(ee, 0, bad_errors[i], 1), -EINVAL, "nb_bdev_error_inject(error_type=%d)", bad_errors[i]);
	RC(nb_bdev_error_inject(ee, 0, NB_BDEV_ERROR_FAILURE, 0), -EINVAL); /* count 0 */
	TRUE(nb_bdev_error_inject(ee, 0, NB_BDEV_ERROR_FAILURE, UINT32_MAX) >= 0);
	done = 0;
	NEED(nb_bdev_destroy(ee, on_status, &done) == 0);
	POLL_UNTIL(W.t1, done == 1);
	RC(nb_bdev_error_inject(ee, 0, NB_BDEV_ERROR_FAILURE, 1), -ENODEV); /* gone */
	NEED(nb_bdev_destroy("abi_eb", on_status, &done) == 0);
	POLL_UNTIL(W.t1, done == 2);
	OK(nb_fault_list(NULL, 0), 0);

	/* device monitor: configuration, health, clear */
	RC(nb_device_monitor_configure(5, 0), -EINVAL);
	RC(nb_device_monitor_configure(UINT32_MAX, 0), -EINVAL);
	OK(nb_device_monitor_configure(UINT32_MAX, UINT32_MAX), 0);
	OK(nb_device_monitor_configure(0, 0), 0); /* off */
	struct nb_bdev_health health;
	RC(nb_bdev_get_health(NULL, &health), -EINVAL);
	RC(nb_bdev_get_health(W.b, NULL), -EINVAL);
	RC(nb_bdev_clear_failed(NULL), -EINVAL);
	n = bad_for(K_BDEV, badh);
	for (int i = 0; i < n; i++) {
		health.health_size = sizeof(health);
		ERRW(nb_bdev_get_health(badh[i], &health), "nb_bdev_get_health(%p)", badh[i]);
		ERRW(nb_bdev_clear_failed(badh[i]), "nb_bdev_clear_failed(%p)", badh[i]);
	}
	size_t sizes[] = { 0, 1, 7, 16u << 20, SIZE_MAX, SIZE_MAX / 2 + 1 }; /* no struct is 16 MiB */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		health.health_size = sizes[i];
		RCW(nb_bdev_get_health(W.b, &health), -EINVAL, "nb_bdev_get_health(health_size=%zu)", sizes[i]);
	}
	health.health_size = sizeof(health);
	OK(nb_bdev_get_health(W.b, &health), 0);
	OK(health.failed, 0);
	RC(nb_bdev_clear_failed(W.b), -EALREADY); /* not retired */
	teardown_world();
}

/* Group: reset_io_stat_side_effect — nb_bdev_reset_io_stat refused (no current thread)
 * must not have zeroed anything. */
static void g_reset_io_stat_side_effect(const char *dir)
{
	(void)dir;
	setup_world();
	struct nb_bdev_desc *d;
	NEED(nb_bdev_create("null:///abi_st?size_mb=1", NULL, 0) == 0);
	NEED(nb_bdev_open_ext("abi_st", 0, on_event, NULL, &d) == 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	NEED(ch != NULL);
	for (int i = 0; i < 5; i++)
		NEED(nb_bdev_read_blocks(d, ch, W.dma, 0, 1, on_io, NULL) == 0);
	POLL_UNTIL(W.t1, g_io_callbacks == 5);
	NEED(nb_put_io_channel(ch) == 0); /* its counters retire into the bdev's */
	poll_n(W.t1, 3);
	struct nb_bdev *b = nb_bdev_get_by_name("abi_st");
	struct nb_bdev_io_stat st = { .stat_size = sizeof(st) };
	NEED(nb_bdev_get_io_stat(b, &st) == 0 && st.num_read_ops == 5);
	NEED(nb_set_thread(NULL) == 0);
	ERR(nb_bdev_reset_io_stat(b, on_status, NULL));
	NEED(nb_set_thread(W.t1) == 0);
	OK(nb_bdev_get_io_stat(b, &st), 0);
	OK(st.num_read_ops, 5);
	NEED(nb_bdev_close(d) == 0);
	int done = 0;
	NEED(nb_bdev_destroy("abi_st", on_status, &done) == 0);
	POLL_UNTIL(W.t1, done == 1);
	teardown_world();
}

/* Group: bdev_io_reused_pointer — a struct nb_bdev_io kept after its callback, once its slot
 * carries another I/O: not inside its callback, so not answered. */
static void g_bdev_io_reused_pointer(const char *dir)
{
	(void)dir;
	setup_world();
	uint8_t *buf = W.dma;
	NEED(nb_bdev_read_blocks(W.nd, W.nch, buf, 0, 1, on_io, NULL) == 0);
	POLL_UNTIL(W.t1, g_io_callbacks == 1);
	struct nb_bdev_io *kept = g_saved_io;
	RC(nb_bdev_io_get_type(kept), -EINVAL);
	NEED(nb_bdev_write_blocks(W.nd, W.nch, buf, 0, 1, on_io, NULL) == 0); /* takes the same slot */
	RC(nb_bdev_io_get_type(kept), -EINVAL);
	uint32_t cdw0;
	int sct, sc;
	RC(nb_bdev_io_get_nvme_status(kept, &cdw0, &sct, &sc), -EINVAL);
	POLL_UNTIL(W.t1, g_io_callbacks == 2);
	teardown_world();
}

/* Group: nvme — passthrough on handles that are not valid and on bdevs that are not NVMe,
 * probe with bad arrays, controller calls with bad names, and pcie:// URIs that cannot be
 * attached (this machine has no NVMe: every one fails with a message, none crashes). */
static void g_nvme(const char *dir)
{
	(void)dir;
	setup_world();
	struct nb_nvme_cmd cmd = { .opc = 0x06, .cdw10 = 1 };
	void *bad[MAX_BAD * 2];
	int n = bad_for(K_DESC, bad);
	for (int i = 0; i < n; i++) {
		ERRW(nb_bdev_nvme_admin_passthru(bad[i], W.bch, &cmd, W.dma, 4096, on_io, NULL),
		     "nb_bdev_nvme_admin_passthru(desc %p)", bad[i]);
		ERRW(nb_bdev_nvme_io_passthru(bad[i], W.bch, &cmd, W.dma, 4096, on_io, NULL),
		     "nb_bdev_nvme_io_passthru(desc %p)", bad[i]);
	}
	n = bad_for(K_CHANNEL, bad);
	for (int i = 0; i < n; i++)
		ERRW(nb_bdev_nvme_admin_passthru(W.d, bad[i], &cmd, W.dma, 4096, on_io, NULL),
		     "nb_bdev_nvme_admin_passthru(ch %p)", bad[i]);
	RC(nb_bdev_nvme_admin_passthru(NULL, W.bch, &cmd, W.dma, 4096, on_io, NULL), -EINVAL);
	RC(nb_bdev_nvme_admin_passthru(W.d, NULL, &cmd, W.dma, 4096, on_io, NULL), -EINVAL);
	RC(nb_bdev_nvme_admin_passthru(W.d, W.bch, NULL, W.dma, 4096, on_io, NULL), -EINVAL);
	RC(nb_bdev_nvme_admin_passthru(W.d, W.bch, &cmd, W.dma, 4096, NULL, NULL), -EINVAL);
	RC(nb_bdev_nvme_admin_passthru(W.d, W.nch, &cmd, W.dma, 4096, on_io, NULL), -EINVAL); /* another bdev's channel */
	RC(nb_bdev_nvme_admin_passthru(W.d, W.bch, &cmd, W.dma, 4096, on_io, NULL), -ENOTSUP); /* malloc */
	RC(nb_bdev_nvme_io_passthru(W.d, W.bch, &cmd, NULL, SIZE_MAX, on_io, NULL), -ENOTSUP);
	RC(nb_bdev_nvme_io_passthru(W.ro, W.bch, &cmd, W.dma, 4096, on_io, NULL), -ENOTSUP);
	NEED(nb_set_thread(W.t2) == 0);
	RC(nb_bdev_nvme_io_passthru(W.d, W.bch, &cmd, W.dma, 4096, on_io, NULL), -EINVAL); /* not its thread */
	NEED(nb_set_thread(W.t1) == 0);

	struct nb_nvme_probe_info infos[4];
	int found = nb_nvme_probe(NULL, 0);
	TRUE(found >= 0);
	OK(nb_nvme_probe(infos, 4), found);
	RC(nb_nvme_probe(NULL, 1), -EINVAL);
	RC(nb_nvme_probe(infos, -1), -EINVAL);
	RC(nb_nvme_probe(infos, INT_MIN), -EINVAL);

	struct nb_nvme_ctrlr_info info = { .info_size = sizeof(info) };
	RC(nb_nvme_ctrlr_get_info(NULL, &info), -EINVAL);
	RC(nb_nvme_ctrlr_get_info("abi_m", &info), -ENOTSUP);
	RC(nb_nvme_ctrlr_get_info("abi_missing", &info), -ENODEV);
	RC(nb_nvme_ctrlr_get_info("abi_m", NULL), -ENOTSUP);
	RC(nb_nvme_ctrlr_reset(NULL), -EINVAL);
	RC(nb_nvme_ctrlr_reset("abi_n"), -ENOTSUP);
	RC(nb_nvme_ctrlr_reset(""), -ENODEV);
	ERR(nb_nvme_ctrlr_get_info(long_string(5000, "b"), &info));
	ERR(nb_nvme_ctrlr_get_info(guarded(4097, 'b'), &info));
	ERR(nb_nvme_ctrlr_reset(guarded(4097, 'b')));
	for (size_t i = 0; i < N_BAD_UTF8; i++) {
		ERRW(nb_nvme_ctrlr_get_info(bad_utf8[i], &info), "nb_nvme_ctrlr_get_info(bad UTF-8 #%zu)", i);
		ERRW(nb_nvme_ctrlr_reset(bad_utf8[i]), "nb_nvme_ctrlr_reset(bad UTF-8 #%zu)", i);
	}

	static const char *const uris[] = {
		"pcie://", "pcie:///", "pcie:////1", "pcie:///0000:00:04.0/", "pcie:///0000:00:04.0//1",
		"pcie:///0000:00:04.0/1/1", "pcie:///0000:00:04.0/0", "pcie:///0000:00:04.0/-1",
		"pcie:///0000:00:04.0/4294967295", "pcie:///0000:00:04.0/99999999999", "pcie:///0000:00:04.0/1x",
		"pcie:///00000:00:04.0/1", "pcie:///0000:000:04.0/1", "pcie:///0000:00:20.0/1", "pcie:///0000:00:04.8/1",
		"pcie:///0000:00:04/1", "pcie:///0000:00:04.0.0/1", "pcie:///g000:00:04.0/1", "pcie:///:00:04.0/1",
		"pcie:///0000:00:04.0/1?mode=", "pcie:///0000:00:04.0/1?mode=VFIO", "pcie:///0000:00:04.0/1?timeout_ms=x",
		"pcie:///0000:00:04.0/1?timeout_ms=3600001", "pcie:///0000:00:04.0/1?x=1", "pcie:///0000:00:04.0?name=n",
		"pcie:///0000:00:04.0/1?name=", "pcie://h/0000:00:04.0/1", "pcie:///0000:00:04.0/1?mode=vfio",
		"pcie:///0000:00:04.0/1?mode=uio", "pcie:///0000:00:00.0/1", "pcie:///ffff:ff:1f.7/1",
		"pcie:///../../../etc/1", "pcie:///0000:00:04.0%00/1",
	};
	for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++)
		ERRW(nb_bdev_create(uris[i], NULL, 0), "nb_bdev_create(\"%s\")", uris[i]);
	TRUE(nb_bdev_get_by_name("0000:00:04.0n1") == NULL);
	teardown_world();
}

/* =========================================================================================
 * Group: rpc — the RPC server's addresses, one server per process, stop on its own thread.
 * ======================================================================================= */

static void g_rpc(const char *dir)
{
	char path[256], addr[256];
	setup_world();
	NEED(nb_set_thread(W.t1) == 0);
	static const char *const bad[] = {
		"", "unix:relative", "1.2.3.4:99999", "1.2.3.4", "example.com:80", "[::1]80",
		"::1:80", "10.0.0.1:-1", "/nonexistent-dir/x/y.sock", "/proc/nb.sock",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ERRW(nb_rpc_server_start(bad[i]), "nb_rpc_server_start(\"%s\")", bad[i]);
	ERR(nb_rpc_server_start(long_string(200, "/")));
	ERR(nb_rpc_server_start(guarded(4097, '/')));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_rpc_server_start(bad_utf8[i]), "nb_rpc_server_start(bad UTF-8 #%zu)", i);
	RC(nb_rpc_server_stop(), -ENOENT);

	snprintf(path, sizeof(path), "%s/rpc.sock", dir);
	OK(nb_rpc_server_start(path), 0);
	RC(nb_rpc_server_start(path), -EALREADY);
	RC(nb_rpc_server_start("127.0.0.1:0"), -EALREADY);
	OK(nb_rpc_server_get_addr(addr, sizeof(addr)), (long long)strlen(path));
	TRUE(strcmp(addr, path) == 0);
	OK(nb_rpc_server_get_addr(NULL, 0), (long long)strlen(path));
	OK(nb_rpc_server_get_addr(addr, 4), (long long)strlen(path)); /* truncated, as snprintf */
	TRUE(strlen(addr) == 3);
	struct stat st;
	TRUE(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
	NEED(nb_set_thread(W.t2) == 0);
	RC(nb_rpc_server_stop(), -EINVAL); /* not its thread */
	NEED(nb_set_thread(W.t1) == 0);
	OK(nb_rpc_server_stop(), 0);
	TRUE(stat(path, &st) != 0 && errno == ENOENT);
	RC(nb_rpc_server_stop(), -ENOENT);

	OK(nb_rpc_server_start("127.0.0.1:0"), 0);
	TRUE(nb_rpc_server_get_addr(addr, sizeof(addr)) > 0 && strncmp(addr, "127.0.0.1:", 10) == 0 &&
	     atoi(addr + 10) > 0);
	OK(nb_rpc_server_stop(), 0);

	/* The metrics endpoint: TCP only, one per process, stopped on its own thread. */
	ERR(nb_metrics_server_start("/tmp/nb-metrics.sock"));
	ERR(nb_metrics_server_start("1.2.3.4:99999"));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_metrics_server_start(bad_utf8[i]), "nb_metrics_server_start(bad UTF-8 #%zu)", i);
	RC(nb_metrics_server_stop(), -ENOENT);
	RC(nb_metrics_server_get_addr(addr, sizeof(addr)), -ENOENT);
	OK(nb_metrics_server_start("127.0.0.1:0"), 0);
	RC(nb_metrics_server_start("127.0.0.1:0"), -EALREADY);
	TRUE(nb_metrics_server_get_addr(addr, sizeof(addr)) > 0 && strncmp(addr, "127.0.0.1:", 10) == 0);
	NEED(nb_set_thread(W.t2) == 0);
	RC(nb_metrics_server_stop(), -EINVAL);
	NEED(nb_set_thread(W.t1) == 0);
	OK(nb_metrics_server_stop(), 0);
	teardown_world();
}

/* =========================================================================================
 * Group: rpc_methods — the host's own RPC methods: names, answers once (from any thread),
 * stale and forged request handles, notifications, unregistering.
 * ======================================================================================= */

static int rpc_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	NEED(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	NEED(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* Reads one reply line (the server ends each with a newline) while polling the server's thread. */
static void rpc_read(struct nb_thread *t, int fd, char *buf, size_t len)
{
	size_t n = 0;
	uint64_t end = nb_get_ticks() + 5 * nb_get_ticks_hz();
	buf[0] = 0;
	while (nb_get_ticks() < end && !memchr(buf, '\n', n)) {
		nb_thread_poll(t, 0, 0);
		ssize_t r = recv(fd, buf + n, len - 1 - n, MSG_DONTWAIT);
		if (r > 0)
			n += (size_t)r;
		buf[n] = 0;
	}
	NEED(memchr(buf, '\n', n) != NULL);
}

static void *answer_from_other_thread(void *arg)
{
	return (void *)(intptr_t)nb_rpc_request_send_error(arg, -ENODEV, NULL);
}

static void g_rpc_methods(const char *dir)
{
	char path[256], reply[4096];
	void *bad[MAX_BAD * 2];
	setup_world();
	NEED(nb_set_thread(W.t1) == 0);
	static const char *const bad_names[] = { "", "a b", "x/y", "tab\there", "quote\"", "bdev\n" };
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		RCW(nb_rpc_register_method(bad_names[i], on_rpc_method, NULL), -EINVAL, "register(\"%s\")", bad_names[i]);
	RC(nb_rpc_register_method(long_string(256, "m"), on_rpc_method, NULL), -EINVAL);
	ERR(nb_rpc_register_method(guarded(4097, 'm'), on_rpc_method, NULL));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_rpc_register_method(bad_utf8[i], on_rpc_method, NULL), "register(bad UTF-8 #%zu)", i);
	RC(nb_rpc_register_method(NULL, on_rpc_method, NULL), -EINVAL);
	RC(nb_rpc_register_method("abi_method", NULL, NULL), -EINVAL);
	RC(nb_rpc_register_method("bdev_get_bdevs", on_rpc_method, NULL), -EEXIST); /* a built-in one */
	OK(nb_rpc_register_method(long_string(255, "m"), on_rpc_method, NULL), 0);
	OK(nb_rpc_register_method("abi_method", on_rpc_method, NULL), 0);
	RC(nb_rpc_register_method("abi_method", on_rpc_method, NULL), -EEXIST);
	RC(nb_rpc_unregister_method(NULL), -EINVAL);
	RC(nb_rpc_unregister_method("bdev_get_bdevs"), -ENOENT);
	RC(nb_rpc_unregister_method("abi_none"), -ENOENT);

	snprintf(path, sizeof(path), "%s/rpc_methods.sock", dir);
	OK(nb_rpc_server_start(path), 0);
	int fd = rpc_connect(path);
	static const char req1[] = "{\"jsonrpc\":\"2.0\",\"method\":\"abi_method\",\"id\":1,\"params\":{\"a\": [1, 2]}}";
	NEED(send(fd, req1, strlen(req1), MSG_NOSIGNAL) == (ssize_t)strlen(req1));
	POLL_UNTIL(W.t1, g_rpc_calls == 1);
	TRUE(!g_rpc_params_null[0] && strcmp(g_rpc_params[0], "{\"a\": [1, 2]}") == 0); /* as the client wrote it */
	struct nb_rpc_request *req = g_rpc_reqs[0];
	RC(nb_rpc_request_send_result(req, NULL), -EINVAL);
	static const char *const not_json[] = { "", "not json", "{", "1 2", "{\"a\":}", "\xff" };
	for (size_t i = 0; i < sizeof(not_json) / sizeof(not_json[0]); i++)
		RCW(nb_rpc_request_send_result(req, not_json[i]), -EINVAL, "send_result(\"%s\")", not_json[i]);
	OK(nb_rpc_request_send_result(req, "{\"ok\": true}"), 0);
	RC(nb_rpc_request_send_result(req, "true"), -EBADF); /* answered: stale */
	RC(nb_rpc_request_send_error(req, -EIO, NULL), -EBADF);
	rpc_read(W.t1, fd, reply, sizeof(reply));
	TRUE(strstr(reply, "\"id\":1") && strstr(reply, "\"result\":{\"ok\": true}"));
	int nbad = bad_for(K_THREAD, bad);
	for (int i = 0; i < nbad; i++) {
		ERRW(nb_rpc_request_send_result(bad[i], "true"), "nb_rpc_request_send_result(%p)", bad[i]);
		ERRW(nb_rpc_request_send_error(bad[i], -EIO, "x"), "nb_rpc_request_send_error(%p)", bad[i]);
	}
	ERR(nb_rpc_request_send_result((struct nb_rpc_request *)W.t1, "true")); /* a thread handle */

	/* No params: NULL. Answered from another OS thread, with strerror's text for -ENODEV. */
	static const char req2[] = "{\"jsonrpc\":\"2.0\",\"method\":\"abi_method\",\"id\":\"two\"}";
	NEED(send(fd, req2, strlen(req2), MSG_NOSIGNAL) == (ssize_t)strlen(req2));
	POLL_UNTIL(W.t1, g_rpc_calls == 2);
	TRUE(g_rpc_params_null[1]);
	pthread_t th;
	void *trc = NULL;
	NEED(pthread_create(&th, NULL, answer_from_other_thread, g_rpc_reqs[1]) == 0);
	pthread_join(th, &trc);
	OK((intptr_t)trc, 0);
	rpc_read(W.t1, fd, reply, sizeof(reply));
	TRUE(strstr(reply, "\"id\":\"two\"") && strstr(reply, "\"code\":-19") && strstr(reply, "No such device"));

	/* A notification is answered too, and nothing comes back; then a JSON-RPC code's own text. */
	static const char req3[] = "{\"jsonrpc\":\"2.0\",\"method\":\"abi_method\",\"params\":[3]}"
				   "{\"jsonrpc\":\"2.0\",\"method\":\"abi_method\",\"id\":4}";
	NEED(send(fd, req3, strlen(req3), MSG_NOSIGNAL) == (ssize_t)strlen(req3));
	POLL_UNTIL(W.t1, g_rpc_calls == 4);
	TRUE(strcmp(g_rpc_params[2], "[3]") == 0 && g_rpc_params_null[3]);
	OK(nb_rpc_request_send_result(g_rpc_reqs[2], "true"), 0); /* the notification's: dropped */
	OK(nb_rpc_request_send_error(g_rpc_reqs[3], -32602, NULL), 0);
	rpc_read(W.t1, fd, reply, sizeof(reply));
	TRUE(strncmp(reply, "{\"jsonrpc\":\"2.0\",\"id\":4,", 24) == 0 && strstr(reply, "\"code\":-32602") &&
	     strstr(reply, "Invalid parameters"));

	/* rpc_get_methods lists it; once unregistered it is not found. */
	static const char req5[] = "{\"jsonrpc\":\"2.0\",\"method\":\"rpc_get_methods\",\"id\":5}";
	NEED(send(fd, req5, strlen(req5), MSG_NOSIGNAL) == (ssize_t)strlen(req5));
	rpc_read(W.t1, fd, reply, sizeof(reply));
	TRUE(strstr(reply, "\"abi_method\"") && strstr(reply, "\"bdev_get_bdevs\""));
	OK(nb_rpc_unregister_method("abi_method"), 0);
	RC(nb_rpc_unregister_method("abi_method"), -ENOENT);
	NEED(send(fd, req1, strlen(req1), MSG_NOSIGNAL) == (ssize_t)strlen(req1));
	rpc_read(W.t1, fd, reply, sizeof(reply));
	TRUE(strstr(reply, "\"code\":-32601") && g_rpc_calls == 4);
	close(fd);
	OK(nb_rpc_server_stop(), 0);
	/* Registrations outlive a server; nb_env_fini (in teardown_world) drops them. */
	OK(nb_rpc_register_method("abi_method", on_rpc_method, NULL), 0);
	teardown_world();
	env_init_quiet(0);
	OK(nb_rpc_register_method("abi_method", on_rpc_method, NULL), 0);
	OK(nb_rpc_unregister_method("abi_method"), 0);
	NEED(nb_env_fini() == 0);
}

/* =========================================================================================
 * Group: nbd_disk — kernel NBD disks through the C API, as far as a machine without the nbd
 * module (and so without /dev/nbdX) shows them: every refusal comes at once, with no callback,
 * and leaves the bdev free. The guest test (tests/vm nbd_kernel) attaches real devices.
 * ======================================================================================= */

static void g_nbd_disk(const char *dir)
{
	(void)dir;
	struct nb_nbd_disk_info info[4];
	setup_world();
	NEED(nb_set_thread(W.t1) == 0);
	NEED(nb_bdev_create("malloc:///abi_k?size_mb=1", NULL, 0) == 0); /* no descriptor open on it */
	NEED(nb_set_thread(NULL) == 0);
	RC(nb_nbd_disk_start("abi_k", "/dev/nbd0", on_nbd_disk, NULL), -EINVAL); /* no current thread */
	NEED(nb_set_thread(W.t1) == 0);
	RC(nb_nbd_disk_start(NULL, "/dev/nbd0", on_nbd_disk, NULL), -EINVAL);
	ERR(nb_nbd_disk_start(guarded(4097, 'a'), NULL, on_nbd_disk, NULL));
	ERR(nb_nbd_disk_start("abi_k", guarded(4097, '/'), on_nbd_disk, NULL));
	for (size_t i = 0; i < N_BAD_UTF8; i++) {
		ERRW(nb_nbd_disk_start(bad_utf8[i], NULL, on_nbd_disk, NULL), "nb_nbd_disk_start(bad UTF-8 #%zu)", i);
		ERRW(nb_nbd_disk_start("abi_k", bad_utf8[i], on_nbd_disk, NULL), "nb_nbd_disk_start(dev bad UTF-8 #%zu)",
		     i);
	}
	static const char *const not_nbd[] = { "", "/tmp/x", "/dev/sda", "/dev/nbd", "/dev/nbd0p1", "nbd0",
					       "/dev/nbd-1", "/dev/nbdx", "/dev/nbd99999999999" };
	for (size_t i = 0; i < sizeof(not_nbd) / sizeof(not_nbd[0]); i++)
		RCW(nb_nbd_disk_start("abi_k", not_nbd[i], on_nbd_disk, NULL), -ENODEV, "nb_nbd_disk_start(\"%s\")",
		    not_nbd[i]);
	if (access("/sys/block/nbd0/pid", F_OK) != 0)
		RC(nb_nbd_disk_start("abi_none", "/dev/nbd0", on_nbd_disk, NULL), -ENODEV); /* no such bdev */
	if (access("/dev/nbd0", F_OK) != 0) {
		RC(nb_nbd_disk_start("abi_k", NULL, on_nbd_disk, NULL), -ENODEV); /* no device to choose */
		TRUE(strstr(nb_last_error(), "nbd module") != NULL);
		RC(nb_nbd_disk_start("abi_k", "/dev/nbd0", on_nbd_disk, NULL), -ENOENT); /* opening it */
		TRUE(strstr(nb_last_error(), "/dev/nbd0") != NULL);
	}
	poll_n(W.t1, 100);
	TRUE(g_nbd_disk_calls == 0); /* a refusal at once never calls back */
	OK(nb_nbd_disk_list(NULL, 0), 0);
	RC(nb_nbd_disk_list(NULL, 1), -EINVAL);
	RC(nb_nbd_disk_list(info, -1), -EINVAL);
	OK(nb_nbd_disk_list(info, 4), 0);
	RC(nb_nbd_disk_stop(NULL, NULL, NULL), -EINVAL);
	RC(nb_nbd_disk_stop("/dev/nbd0", on_status, NULL), -ENODEV);
	RC(nb_nbd_disk_stop("/tmp/x", NULL, NULL), -ENODEV);
	ERR(nb_nbd_disk_stop(guarded(4097, '/'), NULL, NULL));
	/* Nothing kept the bdev: a writer may still claim it (the disk opens its bdev to write). */
	struct nb_bdev_desc *d = NULL;
	OK(nb_bdev_open_ext("abi_k", 1, on_event, NULL, &d), 0);
	OK(nb_bdev_claim(d, "abi_nbd_disk"), 0);
	OK(nb_bdev_release_claim(d), 0);
	OK(nb_bdev_close(d), 0);
	int destroyed = 0;
	OK(nb_bdev_destroy("abi_k", on_status, &destroyed), 0);
	POLL_UNTIL(W.t1, destroyed == 1);
	teardown_world();
}

/* =========================================================================================
 * Group: config — SPDK JSON config files: bad paths and contents, a load that fails half-way,
 * save and load round trip
 * ======================================================================================= */

static int g_config_status = 1, g_config_done;

static void on_config_loaded(void *ctx, int status)
{
	(void)ctx;
	g_config_status = status;
	g_config_done++;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	NEED(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void g_config(const char *dir)
{
	char path[256], saved[256];
	setup_world();
	NEED(nb_set_thread(W.t1) == 0);
	ERR(nb_config_load(NULL, on_config_loaded, NULL));
	ERR(nb_config_save(NULL));
	ERR(nb_config_load("/nonexistent-dir/cfg.json", on_config_loaded, NULL));
	ERR(nb_config_save("/nonexistent-dir/cfg.json"));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_config_load(bad_utf8[i], on_config_loaded, NULL), "nb_config_load(bad UTF-8 #%zu)", i);
	static const char *const not_configs[] = {
		"", "not json", "[]", "{}", "{\"subsystems\":5}", "{\"subsystems\":[{\"config\":[]}]}",
		"{\"subsystems\":[{\"subsystem\":\"martian\",\"config\":[]}]}",
		"{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":[{\"params\":{}}]}]}",
	};
	snprintf(path, sizeof(path), "%s/bad.json", dir);
	for (size_t i = 0; i < sizeof(not_configs) / sizeof(not_configs[0]); i++) {
		write_file(path, not_configs[i]);
		RCW(nb_config_load(path, on_config_loaded, NULL), -EINVAL, "nb_config_load(\"%s\")", not_configs[i]);
	}
	TRUE(g_config_done == 0);

	/* The third entry fails: the first two are destroyed again and the message names it. */
	snprintf(path, sizeof(path), "%s/half.json", dir);
	write_file(path, "{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":["
			 "{\"method\":\"bdev_malloc_create\",\"params\":{\"name\":\"cfg_m\",\"num_blocks\":64,"
			 "\"block_size\":512}},"
			 "{\"method\":\"bdev_null_create\",\"params\":{\"name\":\"cfg_n\",\"num_blocks\":64,"
			 "\"block_size\":512}},"
			 "{\"method\":\"bdev_malloc_create\",\"params\":{\"name\":\"cfg_bad\",\"num_blocks\":64,"
			 "\"block_size\":3}}]}]}");
	OK(nb_config_load(path, on_config_loaded, NULL), 0);
	POLL_UNTIL(W.t1, g_config_done == 1);
	TRUE(g_config_status == -EINVAL);
	TRUE(strstr(nb_last_error(), "entry 2 (bdev_malloc_create)") != NULL);
	POLL_UNTIL(W.t1, nb_bdev_get_by_name("cfg_m") == NULL && nb_bdev_get_by_name("cfg_n") == NULL);

	/* A passthru listed before its base (as SPDK saves it), saved and loaded back. */
	snprintf(path, sizeof(path), "%s/good.json", dir);
	write_file(path, "{\"subsystems\":[{\"subsystem\":\"iobuf\",\"config\":[{\"method\":"
			 "\"iobuf_set_options\",\"params\":{\"small_pool_count\":8192}}]},"
			 "{\"subsystem\":\"bdev\",\"config\":["
			 "{\"method\":\"bdev_passthru_create\",\"params\":{\"base_bdev_name\":\"cfg_m\","
			 "\"name\":\"cfg_pt\"}},"
			 "{\"method\":\"bdev_malloc_create\",\"params\":{\"name\":\"cfg_m\",\"num_blocks\":64,"
			 "\"block_size\":512}},{\"method\":\"bdev_wait_for_examine\"}]}]}");
	OK(nb_config_load(path, on_config_loaded, NULL), 0);
	POLL_UNTIL(W.t1, g_config_done == 2);
	TRUE(g_config_status == 0);
	TRUE(nb_bdev_get_by_name("cfg_m") != NULL && nb_bdev_get_by_name("cfg_pt") != NULL);
	snprintf(saved, sizeof(saved), "%s/saved.json", dir);
	OK(nb_config_save(saved), 0);
	char text[65536];
	FILE *f = fopen(saved, "r");
	NEED(f != NULL);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	TRUE(strstr(text, "\"subsystems\"") && strstr(text, "\"bdev_passthru_create\"") && strstr(text, "\"cfg_pt\""));
	/* Loaded again while its bdevs exist, it fails on the first one, and the undo destroys
	 * only what the load made: every bdev that was there before stays. */
	OK(nb_config_load(saved, on_config_loaded, NULL), 0);
	POLL_UNTIL(W.t1, g_config_done == 3);
	TRUE(g_config_status == -EINVAL);
	TRUE(strstr(nb_last_error(), "File exists") != NULL);
	TRUE(nb_bdev_get_by_name("cfg_m") != NULL && nb_bdev_get_by_name("cfg_pt") != NULL);
	TRUE(nb_bdev_get_by_name("abi_m") != NULL);
	NEED(nb_bdev_destroy("cfg_m", NULL, NULL) == 0);
	POLL_UNTIL(W.t1, nb_bdev_get_by_name("cfg_m") == NULL);
	teardown_world();
}

/* =========================================================================================
 * Group: nbd — the NBD server's start, exports and stop with hostile arguments
 * ======================================================================================= */

static void g_nbd(const char *dir)
{
	char path[256], addr[256];
	setup_world();
	NEED(nb_set_thread(W.t1) == 0);
	static const char *const bad[] = {
		"", "relative.sock", "1.2.3.4:99999", "1.2.3.4", "example.com:10809", "[::1]80", "/nonexistent-dir/x.sock",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ERRW(nb_nbd_server_start(bad[i]), "nb_nbd_server_start(\"%s\")", bad[i]);
	ERR(nb_nbd_server_start(guarded(4097, '/')));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_nbd_server_start(bad_utf8[i]), "nb_nbd_server_start(bad UTF-8 #%zu)", i);
	RC(nb_nbd_server_add_export("e", "abi_m", 0, NULL), -ENOENT);
	RC(nb_nbd_server_stop(), -ENOENT);

	snprintf(path, sizeof(path), "%s/nbd.sock", dir);
	OK(nb_nbd_server_start(path), 0);
	RC(nb_nbd_server_start("127.0.0.1:0"), -EALREADY);
	OK(nb_nbd_server_get_addr(addr, sizeof(addr)), (long long)strlen(path));
	OK(nb_nbd_server_get_addr(addr, 4), (long long)strlen(path));
	TRUE(strlen(addr) == 3);
	OK(nb_nbd_server_connection_count(), 0);
	ERR(nb_nbd_server_add_export(NULL, "abi_m", 0, NULL));
	ERR(nb_nbd_server_add_export("e", NULL, 0, NULL));
	ERR(nb_nbd_server_add_export("e", "nosuch", 0, NULL));
	ERR(nb_nbd_server_add_export("e", "", 0, NULL));
	ERR(nb_nbd_server_add_export(guarded(4097, 'n'), "abi_m", 0, NULL));
	ERR(nb_nbd_server_add_export("e", "abi_m", 0, guarded(4097, 'd')));
	for (size_t i = 0; i < N_BAD_UTF8; i++) {
		ERRW(nb_nbd_server_add_export(bad_utf8[i], "abi_m", 0, NULL), "add_export(bad UTF-8 #%zu)", i);
		ERRW(nb_nbd_server_add_export("e", "abi_m", 0, bad_utf8[i]), "add_export(description #%zu)", i);
	}
	OK(nb_nbd_server_add_export("e", "abi_m", 0, "described"), 0);
	OK(nb_nbd_server_add_export("", "abi_m", 1, NULL), 0);
	RC(nb_nbd_server_add_export("e", "abi_m", 1, NULL), -EEXIST);
	ERR(nb_nbd_server_remove_export(NULL));
	RC(nb_nbd_server_remove_export("nosuch"), -ENOENT);
	OK(nb_nbd_server_remove_export("e"), 0);
	RC(nb_nbd_server_remove_export("e"), -ENOENT);
	NEED(nb_set_thread(W.t2) == 0);
	RC(nb_nbd_server_stop(), -EINVAL); /* not its thread */
	NEED(nb_set_thread(W.t1) == 0);
	OK(nb_nbd_server_stop(), 0);
	RC(nb_nbd_server_stop(), -ENOENT);
	RC(nb_nbd_server_connection_count(), -ENOENT);
	OK(nb_nbd_server_start("127.0.0.1:0"), 0);
	TRUE(nb_nbd_server_get_addr(addr, sizeof(addr)) > 0 && strncmp(addr, "127.0.0.1:", 10) == 0);
	OK(nb_nbd_server_stop(), 0);
	teardown_world();
}

/* =========================================================================================
 * Group: nvmf — the NVMe/TCP target's start, subsystems, namespaces, hosts and listeners with
 * hostile arguments
 * ======================================================================================= */

static void g_nvmf(const char *dir)
{
	(void)dir;
	const char *nqn = "nqn.2026-12.io.nativebdev:abi";
	struct nb_nvmf_target_opts o;
	setup_world();
	NEED(nb_set_thread(W.t1) == 0);
	ERR(nb_nvmf_target_opts_init(&o, 0));
	ERR(nb_nvmf_target_opts_init(&o, (size_t)-1));
	OK(nb_nvmf_target_opts_init(&o, sizeof(o)), 0);
	TRUE(o.max_queue_depth == 128 && o.in_capsule_data_size == 4096 && o.max_io_size == 131072);
	o.max_io_size = 5000; /* not a power of two */
	ERR(nb_nvmf_target_start(&o));
	o.max_io_size = 131072;
	o.in_capsule_data_size = 17;
	ERR(nb_nvmf_target_start(&o));
	o.opts_size = 1;
	ERR(nb_nvmf_target_start(&o));
	RC(nb_nvmf_subsystem_create(nqn, NULL, NULL, 0, 1), -ENOENT);
	OK(nb_nvmf_target_start(NULL), 0);
	RC(nb_nvmf_target_start(NULL), -EALREADY);
	ERR(nb_nvmf_subsystem_create(NULL, NULL, NULL, 0, 1));
	static const char *const bad_nqn[] = { "", "nqn", "nqn.2026-12", "iqn.2026-12.io.x:y", "nqn.2026-12.io.x:has space" };
	for (size_t i = 0; i < sizeof(bad_nqn) / sizeof(bad_nqn[0]); i++)
		ERRW(nb_nvmf_subsystem_create(bad_nqn[i], NULL, NULL, 0, 1), "subsystem_create(\"%s\")", bad_nqn[i]);
	ERR(nb_nvmf_subsystem_create(guarded(4097, 'n'), NULL, NULL, 0, 1));
	ERR(nb_nvmf_subsystem_create(nqn, "serial-longer-than-twenty", NULL, 0, 1));
	ERR(nb_nvmf_subsystem_create(nqn, NULL, NULL, 5000, 1));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_nvmf_subsystem_create(nqn, bad_utf8[i], NULL, 0, 1), "subsystem_create(serial #%zu)", i);
	OK(nb_nvmf_subsystem_create(nqn, NULL, NULL, 4, 0), 0);
	RC(nb_nvmf_subsystem_create(nqn, NULL, NULL, 0, 1), -EEXIST);
	ERR(nb_nvmf_subsystem_add_ns(nqn, NULL, 0, NULL));
	RC(nb_nvmf_subsystem_add_ns(nqn, "nosuch", 0, NULL), -ENODEV);
	ERR(nb_nvmf_subsystem_add_ns(nqn, "abi_m", 5, NULL)); /* above max_namespaces */
	RC(nb_nvmf_subsystem_add_ns("nqn.2026-12.io.nativebdev:none", "abi_m", 0, NULL), -ENOENT);
	OK(nb_nvmf_subsystem_add_ns(nqn, "abi_m", 0, NULL), 1);
	RC(nb_nvmf_subsystem_remove_ns(nqn, 2), -ENOENT);
	ERR(nb_nvmf_subsystem_add_host(nqn, NULL));
	ERR(nb_nvmf_subsystem_add_host(nqn, "not an nqn"));
	OK(nb_nvmf_subsystem_add_host(nqn, "nqn.2026-12.io.nativebdev:host"), 0);
	RC(nb_nvmf_subsystem_add_host(nqn, "nqn.2026-12.io.nativebdev:host"), -EEXIST);
	RC(nb_nvmf_subsystem_remove_host(nqn, "nqn.2026-12.io.nativebdev:other"), -ENOENT);
	OK(nb_nvmf_subsystem_remove_host(nqn, "nqn.2026-12.io.nativebdev:host"), 0);
	OK(nb_nvmf_subsystem_allow_any_host(nqn, 1), 0);
	static const char *const bad_port[] = { "", "x", "-1", "65536", "4420 " };
	for (size_t i = 0; i < sizeof(bad_port) / sizeof(bad_port[0]); i++)
		ERRW(nb_nvmf_subsystem_add_listener(nqn, "127.0.0.1", bad_port[i]), "add_listener(port \"%s\")", bad_port[i]);
	ERR(nb_nvmf_subsystem_add_listener(nqn, "not-an-address", "0"));
	ERR(nb_nvmf_subsystem_add_listener(nqn, NULL, "0"));
	ERR(nb_nvmf_subsystem_add_listener(nqn, "127.0.0.1", NULL));
	int port = nb_nvmf_subsystem_add_listener(nqn, "127.0.0.1", "0");
	TRUE(port > 0);
	char svc[16];
	snprintf(svc, sizeof(svc), "%d", port);
	RC(nb_nvmf_subsystem_add_listener(nqn, "127.0.0.1", svc), -EEXIST);
	RC(nb_nvmf_subsystem_remove_listener(nqn, "127.0.0.1", "1"), -ENOENT);
	OK(nb_nvmf_subsystem_remove_listener(nqn, "127.0.0.1", svc), 0);
	NEED(nb_set_thread(W.t2) == 0);
	RC(nb_nvmf_subsystem_delete(nqn), -EINVAL); /* not its thread */
	RC(nb_nvmf_target_stop(), -EINVAL);
	NEED(nb_set_thread(W.t1) == 0);
	OK(nb_nvmf_subsystem_remove_ns(nqn, 1), 0);
	OK(nb_nvmf_subsystem_delete(nqn), 0);
	RC(nb_nvmf_subsystem_delete(nqn), -ENOENT);
	OK(nb_nvmf_target_connection_count(), 0);
	OK(nb_nvmf_target_stop(), 0);
	RC(nb_nvmf_target_stop(), -ENOENT);
	teardown_world();
}

/* =========================================================================================
 * Driver
 * ======================================================================================= */

/* =========================================================================================
 * Group: crypto — named keys and crypto:// URIs with hostile arguments
 * ======================================================================================= */

#define HK1 "00112233445566778899aabbccddeeff"
#define HK2 "ffeeddccbbaa99887766554433221100"

static void g_crypto(const char *dir)
{
	(void)dir;
	setup_world();
	struct nb_crypto_key_info keys[2];
	RC(nb_crypto_key_create(NULL, "AES_XTS", HK1, HK2, NULL), -EINVAL);
	RC(nb_crypto_key_create("abi_k", NULL, HK1, HK2, NULL), -EINVAL);
	RC(nb_crypto_key_create("abi_k", "AES_XTS", NULL, HK2, NULL), -EINVAL);
	RC(nb_crypto_key_create("abi_k", "AES_XTS", HK1, NULL, NULL), -EINVAL);
	RC(nb_crypto_key_create("abi_k", "AES_XTS", HK1, HK1, NULL), -EINVAL);
	RC(nb_crypto_key_create("abi_k", "AES_XTS", HK1, HK2, "bogus"), -EINVAL);
	RC(nb_crypto_key_create("", "AES_XTS", HK1, HK2, NULL), -EINVAL);
	ERR(nb_crypto_key_create(long_string(5000, "k"), "AES_XTS", HK1, HK2, NULL));
	ERR(nb_crypto_key_create("abi_k", "AES_XTS", guarded(4097, 'a'), HK2, NULL));
	ERR(nb_crypto_key_create("abi_k", guarded(4097, 'A'), HK1, HK2, NULL));
	for (size_t i = 0; i < N_BAD_UTF8; i++) {
		ERRW(nb_crypto_key_create(bad_utf8[i], "AES_XTS", HK1, HK2, NULL), "key name bad UTF-8 #%zu", i);
		ERRW(nb_crypto_key_create("abi_k", "AES_XTS", bad_utf8[i], HK2, NULL), "key hex bad UTF-8 #%zu", i);
	}
	OK(nb_crypto_key_list(NULL, 0), 0); /* nothing was made by any of that */
	RC(nb_crypto_key_list(NULL, 1), -EINVAL);
	RC(nb_crypto_key_list(keys, -1), -EINVAL);
	OK(nb_crypto_key_create("abi_k", "AES_XTS", HK1, HK2, NULL), 0);
	RC(nb_crypto_key_create("abi_k", "AES_XTS", HK1, HK2, NULL), -EEXIST);
	OK(nb_crypto_key_list(keys, INT_MAX), 1);
	TRUE(strcmp(keys[0].name, "abi_k") == 0 && keys[0].key_bits == 128 && keys[0].user_count == 0);
	RC(nb_crypto_key_destroy(NULL), -EINVAL);
	RC(nb_crypto_key_destroy("missing"), -ENOENT);
	ERR(nb_crypto_key_destroy(guarded(4097, 'k')));
	static const char *const bad[] = {
		"crypto:///", "crypto:///c?", "crypto:///c?base=abi_m", "crypto:///c?key_name=abi_k",
		"crypto:///c?base=missing&key_name=abi_k", "crypto:///c?base=abi_m&key_name=missing",
		"crypto:///c?base=abi_m&key_name=abi_k&key=" HK1, "crypto:///c?base=abi_m&key=" HK1 "&key2=" HK1,
		"crypto:///c?base=abi_m&key=zz&key2=" HK2, "crypto:///c?base=abi_m&cipher=X&key=" HK1 "&key2=" HK2,
		"crypto:///c?base=abi_m&key_name=abi_k&x=1", "crypto://host/c?base=abi_m&key_name=abi_k",
		"crypto:///c?base=abi_m&key=%zz",
	};
	char name[64];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ERRW(nb_bdev_create(bad[i], name, sizeof(name)), "nb_bdev_create(\"%s\")", bad[i]);
	OK(nb_crypto_key_list(keys, 2), 1); /* no inline key left behind */
	OK(nb_bdev_create("crypto:///abi_c?base=abi_m&key_name=abi_k", name, sizeof(name)), 0);
	RC(nb_crypto_key_destroy("abi_k"), -EBUSY);
	TRUE(strstr(nb_last_error(), "abi_c") != NULL);
	OK(nb_crypto_key_list(keys, 2), 1);
	TRUE(keys[0].user_count == 1 && strcmp(keys[0].users, "abi_c") == 0);
}

/* =========================================================================================
 * Group: composite — nexus functions, split/raid0/concat/nexus URIs with hostile arguments
 * ======================================================================================= */

static void on_nexus_child(const char *nexus, const char *child, int state, int reason, int synced, void *ctx)
{
	(void)nexus;
	(void)child;
	(void)state;
	(void)reason;
	(void)synced;
	(*(int *)ctx)++;
}

static void g_composite(const char *dir)
{
	(void)dir;
	setup_world();
	struct nb_nexus_child_info info[2];
	char made[64];
	NEED(nb_bdev_create("malloc:///abi_cm?size_mb=1", made, sizeof(made)) == 0);
	const char *kids[] = {"abi_cm"};
	const char *none[] = {NULL};
	RC(nb_nexus_create(NULL, 0, kids, 1), -EINVAL);
	RC(nb_nexus_create("abi_nx", 0, NULL, 1), -EINVAL);
	RC(nb_nexus_create("abi_nx", 0, kids, 0), -EINVAL);
	RC(nb_nexus_create("abi_nx", 0, kids, SIZE_MAX), -EINVAL);
	RC(nb_nexus_create("abi_nx", 0, none, 1), -EINVAL);
	RC(nb_nexus_create("abi_nx", 1, kids, 1), -EINVAL);       /* not whole blocks */
	RC(nb_nexus_create("abi_nx", 1ULL << 60, kids, 1), -ENOSPC);
	ERR(nb_nexus_create(long_string(5000, "n"), 0, kids, 1));
	ERR(nb_nexus_create("abi_nx", 0, (const char *const[]){guarded(4097, 'x')}, 1));
	for (size_t i = 0; i < N_BAD_UTF8; i++)
		ERRW(nb_nexus_create(bad_utf8[i], 0, kids, 1), "nexus name bad UTF-8 #%zu", i);
	RC(nb_nexus_list_children("abi_nx", info, 2), -ENODEV);
	RC(nb_nexus_list_children(NULL, info, 2), -EINVAL);
	RC(nb_nexus_destroy("abi_nx", NULL, NULL), -ENODEV);
	RC(nb_nexus_destroy("abi_m", NULL, NULL), -ENODEV); /* not a nexus */
	RC(nb_nexus_set_event_cb("abi_nx", NULL, NULL), -ENODEV);
	RC(nb_nexus_add_child("abi_nx", "abi_m"), -ENODEV);
	RC(nb_nexus_remove_child("abi_nx", "abi_m"), -ENODEV);
	RC(nb_nexus_fault_child("abi_nx", "abi_m", NB_NEXUS_FAULT_ADMIN_FAILED), -ENODEV);
	RC(nb_nexus_online_child("abi_nx", "abi_m"), -ENODEV);
	RC(nb_nexus_rebuild_pause("abi_nx", "abi_m"), -ENODEV);
	RC(nb_nexus_rebuild_resume("abi_nx", "abi_m"), -ENODEV);
	RC(nb_nexus_rebuild_stop("abi_nx", "abi_m"), -ENODEV);
	RC(nb_nexus_rebuild_start("abi_nx", "abi_m"), -ENODEV);
	RC(nb_nexus_set_rebuild_rate("abi_nx", 1), -ENODEV);
	RC(nb_nexus_set_rebuild_verify("abi_nx", 1), -ENODEV);
	RC(nb_nexus_rebuild_history("abi_nx", NULL, 0), -ENODEV);
	RC(nb_nexus_rebuild_pause(NULL, "abi_m"), -EINVAL);
	RC(nb_nexus_rebuild_history(NULL, NULL, 0), -EINVAL);

	OK(nb_nexus_create("abi_nx", 0, kids, 1), 0);
	int events = 0;
	OK(nb_nexus_set_event_cb("abi_nx", on_nexus_child, &events), 0);
	RC(nb_nexus_list_children("abi_nx", NULL, 1), -EINVAL);
	RC(nb_nexus_list_children("abi_nx", info, -1), -EINVAL);
	OK(nb_nexus_list_children("abi_nx", NULL, 0), 1);
	OK(nb_nexus_list_children("abi_nx", info, INT_MAX), 1);
	TRUE(strcmp(info[0].name, "abi_cm") == 0 && info[0].state == NB_NEXUS_CHILD_OPEN && info[0].synced == 1);
	RC(nb_nexus_add_child("abi_nx", NULL), -EINVAL);
	RC(nb_nexus_add_child("abi_nx", "abi_cm"), -EEXIST);
	RC(nb_nexus_add_child("abi_nx", "missing"), -ENODEV);
	ERR(nb_nexus_add_child("abi_nx", guarded(4097, 'c')));
	RC(nb_nexus_remove_child("abi_nx", "missing"), -ENOENT);
	RC(nb_nexus_remove_child("abi_nx", "abi_cm"), -EBUSY); /* the last healthy child */
	RC(nb_nexus_fault_child("abi_nx", "abi_cm", NB_NEXUS_FAULT_NONE), -EINVAL);
	RC(nb_nexus_fault_child("abi_nx", "abi_cm", 8), -EINVAL);
	RC(nb_nexus_fault_child("abi_nx", "abi_cm", NB_NEXUS_FAULT_IO_ERROR), -EBUSY);
	RC(nb_nexus_online_child("abi_nx", NULL), -EINVAL);
	OK(nb_nexus_online_child("abi_nx", "abi_cm"), 0); /* open already */
	RC(nb_nexus_rebuild_pause("abi_nx", NULL), -EINVAL);
	RC(nb_nexus_rebuild_pause("abi_nx", "missing"), -ENOENT);
	RC(nb_nexus_rebuild_resume("abi_nx", "abi_cm"), -ENOENT); /* no rebuild */
	RC(nb_nexus_rebuild_stop("abi_nx", "abi_cm"), -ENOENT);
	RC(nb_nexus_rebuild_start("abi_nx", "abi_cm"), -EINVAL); /* in sync */
	ERR(nb_nexus_rebuild_stop("abi_nx", guarded(4097, 'c')));
	RC(nb_nexus_set_rebuild_rate("abi_nx", UINT64_MAX), -EINVAL);
	OK(nb_nexus_set_rebuild_rate("abi_nx", 0), 0);
	RC(nb_nexus_set_rebuild_verify("abi_nx", 2), -EINVAL);
	RC(nb_nexus_set_rebuild_verify("abi_nx", -1), -EINVAL);
	OK(nb_nexus_set_rebuild_verify("abi_nx", 0), 0);
	RC(nb_nexus_rebuild_history("abi_nx", NULL, 1), -EINVAL);
	RC(nb_nexus_rebuild_history("abi_nx", (struct nb_nexus_rebuild_record *)info, -1), -EINVAL);
	OK(nb_nexus_rebuild_history("abi_nx", NULL, 0), 0);
	/* Off any thread: refused, not a crash. */
	NEED(nb_set_thread(NULL) == 0);
	RC(nb_nexus_add_child("abi_nx", "abi_cm"), -EINVAL);
	RC(nb_nexus_rebuild_start("abi_nx", "abi_cm"), -EINVAL);
	NEED(nb_set_thread(W.t1) == 0);
	TRUE(events == 0);
	OK(nb_nexus_set_event_cb("abi_nx", NULL, NULL), 0);

	static const char *const bad[] = {
		"nexus:///", "nexus:///x", "nexus:///x?children=", "nexus:///x?children=missing",
		"nexus:///x?children=abi_m,abi_m", "nexus:///x?children=abi_m&size=abc", "nexus:///x?children=%zz",
		"nexus:///x?children=abi_m&q=1", "nexus:///x?children=malloc%3A%2F%2F%2Fy%3Fsize_mb%3D0",
		"split:///", "split:///abi_m", "split:///abi_m?split_count=0", "split:///abi_m?split_count=99999",
		"split:///missing?split_count=2", "split:///abi_m?split_count=2&split_size_mb=999999",
		"raid0:///r", "raid0:///r?base_bdevs=abi_m", "raid0:///r?strip_size_kb=3&base_bdevs=abi_m",
		"raid0:///r?strip_size_kb=4&base_bdevs=", "raid0:///r?strip_size_kb=4&base_bdevs=abi_m,abi_m",
		"concat:///r?strip_size_kb=4&base_bdevs=missing", "concat:///r?strip_size_kb=99999999999&base_bdevs=abi_m",
		"raid0://host/r?strip_size_kb=4&base_bdevs=abi_m",
	};
	char name[64];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ERRW(nb_bdev_create(bad[i], name, sizeof(name)), "nb_bdev_create(\"%s\")", bad[i]);
	OK(nb_nexus_destroy("abi_nx", NULL, NULL), 0);
}

/* =========================================================================================
 * Group: lvol — the lvol functions with hostile arguments, then each once on a store on malloc
 * ======================================================================================= */

static void on_lvs_unloaded(void *ctx, int status)
{
	*(int *)ctx = status == 0 ? 1 : -1;
}

/* counts the problems of class super_block (what a bdev with no blobstore gives) */
static void on_check_problem(void *ctx, const char *kind, const char *message)
{
	if (strcmp(kind, "super_block") == 0 && message[0] != 0)
		(*(int *)ctx)++;
}

static void g_lvol(const char *dir)
{
	(void)dir;
	setup_world();
	char name[64];
	RC(nb_lvol_snapshot(NULL, "s", name, sizeof(name)), -EINVAL);
	RC(nb_lvol_snapshot("abi_nolvs/v", "s", name, sizeof(name)), -ENODEV);
	RC(nb_lvol_clone(NULL, "c", name, sizeof(name)), -EINVAL);
	RC(nb_lvol_resize(NULL, 1), -EINVAL);
	RC(nb_lvol_resize("abi_nolvs/v", 1 << 20), -ENODEV);
	RC(nb_lvol_inflate(NULL, 0), -EINVAL);
	RC(nb_lvol_set_read_only(NULL), -EINVAL);
	RC(nb_lvol_delete(NULL, NULL, NULL), -EINVAL);
	RC(nb_lvol_delete("abi_nolvs/v", NULL, NULL), -ENODEV);
	RC(nb_lvs_unload(NULL, 0, NULL, NULL), -EINVAL);
	RC(nb_lvs_unload("abi_nolvs", 0, NULL, NULL), -ENODEV);
	NEED(nb_bdev_create("lvs:///abi_lvs?mode=create&cluster_size=1M&disk=malloc%3A%2F%2F%2Fabi_lvm%3Fsize_mb%3D16",
			    name, sizeof(name)) == 0);
	NEED(nb_bdev_create("lvol:///v?size=4M&lvs=lvs%3A%2F%2F%2Fabi_lvs", name, sizeof(name)) == 0);
	TRUE(strcmp(name, "abi_lvs/v") == 0);
	RC(nb_lvol_snapshot("abi_lvs/v", NULL, name, sizeof(name)), -EINVAL);
	RC(nb_lvol_snapshot("abi_lvs/v", "bad/name", name, sizeof(name)), -EINVAL);
	OK(nb_lvol_snapshot("abi_lvs/v", "s", name, sizeof(name)), 0);
	TRUE(strcmp(name, "abi_lvs/s") == 0);
	RC(nb_lvol_clone("abi_lvs/v", "c", name, sizeof(name)), -EINVAL); /* not read-only */
	OK(nb_lvol_clone("abi_lvs/s", "c", name, sizeof(name)), 0);
	RC(nb_lvol_resize("abi_lvs/v", 0), -EINVAL);
	RC(nb_lvol_resize("abi_lvs/v", UINT64_MAX), -EINVAL);
	OK(nb_lvol_resize("abi_lvs/v", 8 << 20), 0);
	RC(nb_lvol_inflate("abi_lvs/s", 0), -EINVAL); /* no parent */
	OK(nb_lvol_inflate("abi_lvs/c", 1), 0);
	OK(nb_lvol_set_read_only("abi_lvs/c"), 0);
	OK(nb_lvol_delete("abi_lvs/s", NULL, NULL), 0); /* one clone left: it takes the clusters */
	int done = 0;
	OK(nb_lvs_unload("abi_lvs", 1, on_lvs_unloaded, &done), 0);
	POLL_UNTIL(W.t1, done != 0);
	TRUE(done == 1);

	/* nb_lvs_check: hostile arguments, a blank bdev (one problem: no blobstore), a loaded store
	 * refused, the same store once written clean (no problem) */
	int blank = 0;
	RC(nb_lvs_check(NULL, NULL, NULL), -EINVAL);
	RC(nb_lvs_check("abi_nobdev", on_check_problem, &blank), -ENODEV);
	TRUE(blank == 0);
	NEED(nb_bdev_create("malloc:///abi_lvc?size_mb=16", name, sizeof(name)) == 0);
	OK(nb_lvs_check("abi_lvc", on_check_problem, &blank), 1);
	TRUE(blank == 1);
	OK(nb_lvs_check("abi_lvc", NULL, NULL), 1);
	NEED(nb_bdev_create("lvs:///abi_lvs2?mode=create&cluster_size=1M&disk=bdev%3A%2F%2F%2Fabi_lvc",
			    name, sizeof(name)) == 0);
	RC(nb_lvs_check("abi_lvc", NULL, NULL), -EBUSY);
	done = 0;
	OK(nb_lvs_unload("abi_lvs2", 0, on_lvs_unloaded, &done), 0);
	POLL_UNTIL(W.t1, done != 0);
	TRUE(done == 1);
	OK(nb_lvs_check("abi_lvc", NULL, NULL), 0);
	OK(nb_bdev_destroy("abi_lvc", NULL, NULL), 0);
}

struct group {
	const char *name;
	void (*fn)(const char *dir);
	int timeout_s;
	const char *note; /* what a failure here means */
};

static const struct group groups[] = {
	{ "lifecycle", g_lifecycle, 60, "" },
	{ "env_dma", g_env_dma, 60, "" },
	{ "env_opts_size_max", g_env_opts_size_max, 30, "nb_env_opts_init(opts, SIZE_MAX)" },
	{ "env_init_side_effects", g_env_init_side_effects, 30, "a refused nb_env_init changes the log level" },
	{ "mempool", g_mempool, 60, "" },
	{ "mempool_double_put", g_mempool_double_put, 30, "double put accepted, or a refused put_bulk put some" },
	{ "threads_pollers", g_threads_pollers, 60, "" },
	{ "channels", g_channels, 60, "" },
	{ "reactors", g_reactors, 60, "" },
	{ "bdev_control", g_bdev_control, 60, "" },
	{ "bdev_io", g_bdev_io, 120, "" },
	{ "faults", g_faults, 60, "" },
	{ "uring_alignment", g_uring_alignment, 60, "" },
	{ "aio_alignment", g_aio_alignment, 60, "" },
	{ "cross_thread", g_cross_thread, 60, "" },
	{ "strings", g_strings, 60, "" },
	{ "string_unterminated_4096", g_string_unterminated_4096, 30, "a string reader goes past 4096 bytes" },
	{ "iov_length_overflow", g_iov_length_overflow, 30, "iovec lengths that wrap past 2^64" },
	{ "fifo_open_hang", g_fifo_open_hang, 15, "opening a FIFO blocks nb_bdev_create" },
	{ "bdev_io_reused_pointer", g_bdev_io_reused_pointer, 30, "a kept bdev_io pointer answers for another I/O" },
	{ "thread_exit_then_register", g_thread_exit_then_register, 30, "pollers/channels taken after nb_thread_exit" },
	{ "thread_exhaustion", g_thread_exhaustion, 120, "" },
	{ "uri_authority_ignored", g_uri_authority_ignored, 30, "scheme://host/path: the host is dropped silently" },
	{ "io_device_key_collision", g_io_device_key_collision, 30, "a bdev's removal unregisters a host io_device" },
	{ "null_resize_overflow", g_null_resize_overflow, 30, "nb_bdev_resize past 1 PiB: size_bytes wraps" },
	{ "reset_io_stat_side_effect", g_reset_io_stat_side_effect, 30, "a refused nb_bdev_reset_io_stat zeroed stats" },
	{ "nvme", g_nvme, 60, "" },
	{ "rpc", g_rpc, 30, "" },
	{ "rpc_methods", g_rpc_methods, 30, "" },
	{ "nbd", g_nbd, 30, "" },
	{ "nbd_disk", g_nbd_disk, 30, "" },
	{ "nvmf", g_nvmf, 30, "" },
	{ "crypto", g_crypto, 60, "" },
	{ "config", g_config, 60, "" },
	{ "composite", g_composite, 60, "" },
	{ "lvol", g_lvol, 60, "" },
};
#define N_GROUPS (sizeof(groups) / sizeof(groups[0]))

static int run_group(const char *name, const char *dir)
{
	for (size_t i = 0; i < N_GROUPS; i++) {
		if (strcmp(groups[i].name, name) != 0)
			continue;
		g_group = name;
		groups[i].fn(dir);
		if (g_internal_logged) {
			g_failures++;
			fprintf(stderr, "[%s] FAIL: the library logged %d internal error(s)\n", name, g_internal_logged);
		}
		printf("[%s] %d checks, %d failures\n", name, g_checks, g_failures);
		fflush(stdout);
		return g_failures ? 1 : 0;
	}
	fprintf(stderr, "unknown group '%s'\n", name);
	return 2;
}

static void mkdir_p(const char *dir)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	mkdir(buf, 0755);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && strcmp(argv[1], "--group") == 0)
		return run_group(argv[2], argc >= 4 ? argv[3] : ".");
	const char *dir = argc >= 2 ? argv[1] : ".";
	const char *only = argc >= 3 ? argv[2] : NULL;
	mkdir_p(dir);
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		perror("readlink /proc/self/exe");
		return 2;
	}
	exe[n] = '\0';
	int failed = 0, ran = 0;
	char summary[N_GROUPS][200];
	for (size_t i = 0; i < N_GROUPS; i++) {
		summary[i][0] = '\0';
		if (only && strcmp(only, groups[i].name) != 0)
			continue;
		ran++;
		char *args[] = { exe, "--group", (char *)groups[i].name, (char *)dir, NULL };
		pid_t pid;
		double t0 = now_s();
		if (posix_spawn(&pid, exe, NULL, NULL, args, environ) != 0) {
			perror("posix_spawn");
			return 2;
		}
		int status = 0, hung = 0;
		for (;;) {
			pid_t r = waitpid(pid, &status, WNOHANG);
			if (r == pid)
				break;
			if (now_s() - t0 > groups[i].timeout_s) {
				hung = 1;
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				break;
			}
			usleep(20000);
		}
		const char *verdict;
		char buf[64];
		if (hung) {
			snprintf(buf, sizeof(buf), "HANG (killed after %d s)", groups[i].timeout_s);
			verdict = buf;
		} else if (WIFSIGNALED(status)) {
			snprintf(buf, sizeof(buf), "CRASH (signal %d)", WTERMSIG(status));
			verdict = buf;
		} else if (WEXITSTATUS(status) == 0) {
			verdict = "PASS";
		} else if (WEXITSTATUS(status) == 2) {
			verdict = "SETUP FAILED";
		} else {
			verdict = "FAIL";
		}
		int bad = strcmp(verdict, "PASS") != 0;
		failed += bad;
		snprintf(summary[i], sizeof(summary[i]), "%-26s %-24s %5.1f s  %s", groups[i].name, verdict, now_s() - t0,
			 bad ? groups[i].note : "");
	}
	printf("\n==== ABI hardening summary ====\n");
	for (size_t i = 0; i < N_GROUPS; i++)
		if (summary[i][0])
			printf("  %s\n", summary[i]);
	printf("%d of %d groups passed\n", ran - failed, ran);
	return failed ? 1 : 0;
}
