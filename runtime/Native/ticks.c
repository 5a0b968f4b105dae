/* nb_get_ticks and nb_get_ticks_hz, in C so that they never enter the .NET runtime: they are
 * the library's async-signal-safe functions (include/nativebdev.h, "Signals"). An export of
 * the runtime entered from a signal handler that interrupted the runtime aborts the process.
 *
 * The clock is chosen and calibrated here, once, when the library is loaded (before any
 * managed code runs), and the managed side (runtime/Env/Ticks.cs) takes both from here, so
 * the host's ticks and the I/O stamps of the statistics are one clock: the CPU's time-stamp
 * counter where the kernel reports it constant and non-stop (as SPDK does), its frequency
 * measured against CLOCK_MONOTONIC over 2 ms; otherwise CLOCK_MONOTONIC in nanoseconds,
 * which is what Stopwatch.GetTimestamp reads. rdtsc and clock_gettime are async-signal-safe;
 * the two variables are written before any other code of the library can run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int nb_use_tsc;
static uint64_t nb_hz = 1000000000;

static inline uint64_t nb_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static uint64_t nb_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int nb_invariant_tsc(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (f == NULL)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	int yes = 0;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "flags", 5) == 0) {
			yes = strstr(line, " constant_tsc") != NULL && strstr(line, " nonstop_tsc") != NULL;
			break;
		}
	}
	free(line);
	fclose(f);
	return yes;
}

__attribute__((constructor)) static void nb_ticks_init(void)
{
	if (!nb_invariant_tsc())
		return;
	uint64_t ns0 = nb_monotonic_ns();
	uint64_t tsc0 = nb_rdtsc();
	uint64_t ns1;
	while ((ns1 = nb_monotonic_ns()) < ns0 + 2000000) {
	}
	uint64_t tsc1 = nb_rdtsc();
	nb_hz = (uint64_t)((unsigned __int128)(tsc1 - tsc0) * 1000000000u / (ns1 - ns0));
	nb_use_tsc = 1;
}

/* The time-stamp counter, for the managed side to call without a GC transition. */
__attribute__((visibility("hidden"))) uint64_t nb_native_rdtsc(void)
{
	return nb_rdtsc();
}

/* The clock chosen at load: returns nb_native_rdtsc's address when it is the time-stamp
 * counter, NULL when it is CLOCK_MONOTONIC in nanoseconds; *hz is its frequency. */
__attribute__((visibility("hidden"))) void *nb_native_clock(uint64_t *hz)
{
	*hz = nb_hz;
	return nb_use_tsc ? (void *)nb_native_rdtsc : NULL;
}

uint64_t nb_get_ticks(void)
{
	return nb_use_tsc ? nb_rdtsc() : nb_monotonic_ns();
}

uint64_t nb_get_ticks_hz(void)
{
	return nb_hz;
}
