/* Minimal assertion helpers for the C tests: a failed check prints where, what, and the
 * library's last error, and exits non-zero (CTest marks the test failed). */
#ifndef NB_TEST_CHECK_H
#define NB_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nativebdev.h"

static int check_count;

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		check_count++;                                                               \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n  last error: %s\n", __FILE__, \
				__LINE__, #cond, nb_last_error());                                   \
			exit(1);                                                             \
		}                                                                            \
	} while (0)

#define CHECK_EQ(a, b)                                                                         \
	do {                                                                                   \
		long long _a = (long long)(a), _b = (long long)(b);                            \
		check_count++;                                                                 \
		if (_a != _b) {                                                                \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, expected %s == %lld\n" \
				"  last error: %s\n", __FILE__, __LINE__, #a, _a, #b, _b,          \
				nb_last_error());                                                  \
			exit(1);                                                               \
		}                                                                              \
	} while (0)

/* The call failed with `err` and left a non-empty message. */
#define CHECK_ERR(call, err)                                                                  \
	do {                                                                                  \
		CHECK_EQ((call), (err));                                                      \
		CHECK(nb_last_error() != NULL && nb_last_error()[0] != '\0');                 \
	} while (0)

/* A pointer-returning call failed and left a message. */
#define CHECK_NULL_ERR(call)                                                                  \
	do {                                                                                  \
		CHECK((call) == NULL);                                                        \
		CHECK(nb_last_error()[0] != '\0');                                            \
	} while (0)

#define CHECK_DONE()                                                                          \
	do {                                                                                  \
		printf("%s: %d checks passed\n", __FILE__, check_count);                      \
		return 0;                                                                     \
	} while (0)

/* Polls `t` until cond holds or about 5 s pass. */
#define POLL_UNTIL(t, cond)                                                                   \
	do {                                                                                  \
		uint64_t _end = nb_get_ticks() + 5 * nb_get_ticks_hz();                       \
		while (!(cond) && nb_get_ticks() < _end)                                      \
			nb_thread_poll((t), 0, 0);                                            \
		CHECK(cond);                                                                  \
	} while (0)

/* The process's resident memory in KiB (/proc/self/statm): the memory tests' measure. */
static inline long nb_test_resident_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	CHECK(f != NULL);
	CHECK(fscanf(f, "%ld %ld", &pages, &resident) == 2);
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static inline int nb_test_env_init(void)
{
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.name = "test";
	opts.log_level = NB_LOG_WARN;
	return nb_env_init(&opts);
}

#endif
