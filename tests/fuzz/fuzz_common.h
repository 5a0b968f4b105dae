/* Shared by the libFuzzer harnesses: one environment per process, a host-driven thread bound
 * to the fuzzing OS thread, and the checks every input must pass. A failed check abort()s,
 * which libFuzzer reports as a crash with the input that caused it. */
#ifndef NB_FUZZ_COMMON_H
#define NB_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nativebdev.h"

static struct nb_thread *g_thread;

/* Feedback from inside the library. Only this harness is instrumented (the NativeAOT library
 * is not), so libFuzzer would see almost no coverage. What the library does is visible in
 * what it answers, though: each distinct kind of error message (its text with the quoted
 * input and the numbers taken out) and each kind of success is hashed into libFuzzer's
 * "extra counters", which it treats as coverage. An input that makes the library take a new
 * error path, or succeed in a new way, is thereby kept in the corpus. */
#define FUZZ_FEATURES 8192
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t g_features[FUZZ_FEATURES];

static void fuzz_feature(const char *text, long salt, const char *input)
{
	/* Messages quote the input ('...', which may hold quotes itself): everything from the
	 * first quote to the last one is left out, and so are digits. The text after the last
	 * quote is left out too where it may be input: when the message may have been cut short
	 * (nb_last_error keeps 255 characters of a long one; a decoded %00 ends it early), or
	 * when that text occurs in the input. */
	const char *first = strchr(text, '\''), *last = strrchr(text, '\'');
	if (first && (first == last || strlen(text) >= 250 || strcasestr(input, "%00") != NULL ||
		      (last[1] != '\0' && strstr(input, last + 1) != NULL)))
		last = text + strlen(text);
	uint32_t h = 2166136261u ^ (uint32_t)salt;
	for (const char *p = text; *p; p++) {
		if (first && p >= first && p <= last)
			continue;
		if (*p >= '0' && *p <= '9')
			continue;
		h = (h ^ (uint8_t)*p) * 16777619u;
	}
	g_features[h % FUZZ_FEATURES]++;
}
static uint64_t g_dma_used_baseline;
static int g_fd_baseline;

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FUZZ CHECK FAILED (%s:%d): %s\n  ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n  last error: %s\n", nb_last_error());                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The library logs "internal error: <exception>" when an exception reaches its ABI boundary:
 * a bug by its own definition. Make it a crash the fuzzer reports. Everything else is quiet.
 * Only a message that begins so counts: others quote the input, and an input that holds the
 * words (a method named "bdevinternal error_passthru_create") is no bug. */
static void fuzz_log(int level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	if (strncmp(msg, "internal error: ", 16) == 0) {
		fprintf(stderr, "library logged: %s\n", msg);
		abort();
	}
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* What each open descriptor is, for the report of a leak. */
static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char path[300], target[256];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
		}
	}
	closedir(d);
}

static uint64_t dma_used(void)
{
	struct nb_env_info info = { .info_size = sizeof(info) };
	FUZZ_CHECK(nb_env_get_info(&info) == 0, "nb_env_get_info");
	return info.dma_pool_used;
}

static inline int bdev_count(void)
{
	int n = 0;
	for (struct nb_bdev *b = nb_bdev_first(); b && n < 100000; b = nb_bdev_next(b))
		n++;
	return n;
}

/* Environment with a 256 MiB DMA limit (malloc bdevs larger than that fail with -ENOMEM
 * before any memory is mapped), a thread bound to this OS thread. */
static void fuzz_env_init(const char *name)
{
	struct nb_env_opts o;
	FUZZ_CHECK(nb_env_opts_init(&o, sizeof(o)) == 0, "opts");
	o.name = name;
	o.log_level = NB_LOG_ERROR;
	o.dma_pool_size = 16ULL << 20;
	o.dma_pool_max_size = 256ULL << 20;
	FUZZ_CHECK(nb_env_init(&o) == 0, "nb_env_init");
	FUZZ_CHECK(nb_log_set_callback(fuzz_log, NULL) == 0, "log callback");
	g_thread = nb_thread_create(name, NULL);
	FUZZ_CHECK(g_thread != NULL, "thread");
	FUZZ_CHECK(nb_set_thread(g_thread) == 0, "nb_set_thread");
}

/* After the environment's own set-up: what every input must leave as it found. */
static void fuzz_take_baseline(void)
{
	for (int i = 0; i < 4; i++)
		nb_thread_poll(g_thread, 0, 0);
	g_dma_used_baseline = dma_used();
	g_fd_baseline = count_fds();
}

static void fuzz_check_baseline(const char *input)
{
	uint64_t used = dma_used();
	FUZZ_CHECK(used == g_dma_used_baseline, "DMA memory leaked: %llu bytes in use, %llu before; input \"%s\"",
		   (unsigned long long)used, (unsigned long long)g_dma_used_baseline, input);
	/* A bdev creation that waits on the network (nvmf://) runs on an OS thread of its own and
	 * holds its socket until it fails (within its timeout_ms); a leak never gives it back. */
	int fds = count_fds();
	for (int i = 0; fds != g_fd_baseline && i < 9000; i++) {
		nb_thread_poll(g_thread, 0, 0);
		usleep(1000);
		fds = count_fds();
	}
	if (fds != g_fd_baseline)
		list_fds();
	FUZZ_CHECK(fds == g_fd_baseline, "file descriptors leaked: %d open, %d before; input \"%s\"", fds, g_fd_baseline,
		   input);
	FUZZ_CHECK(nb_thread_count() == 1, "threads leaked: %d alive; input \"%s\"", nb_thread_count(), input);
	FUZZ_CHECK(nb_fault_list(NULL, 0) == 0, "fault rules leaked: %d; input \"%s\"", nb_fault_list(NULL, 0), input);
}

/* A failed call: a negative errno and a message of its own (the caller armed a marker). */
/* The marker is the whole message of a refused nb_log_set_level(-777777): compared in full,
 * since messages quote the input and the fuzzer soon learns to put "-777777" in it. */
static char g_marker[256];
static void fuzz_arm(void)
{
	nb_log_set_level(-777777);
	if (g_marker[0] == '\0')
		snprintf(g_marker, sizeof(g_marker), "%s", nb_last_error());
}

static void fuzz_check_error(const char *what, const char *input)
{
	const char *m = nb_last_error();
	FUZZ_CHECK(m != NULL && m[0] != '\0', "%s failed without a message; input \"%s\"", what, input);
	FUZZ_CHECK(strcmp(m, g_marker) != 0, "%s failed without setting its own message; input \"%s\"", what, input);
	FUZZ_CHECK(strncmp(m, "internal error", 14) != 0, "%s hit the library's exception catch-all; input \"%s\"",
		   what, input);
}

#endif
