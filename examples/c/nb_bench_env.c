/* Foundation benchmark: cross-thread message throughput, the cost of an empty
 * nb_thread_poll, start-up time to a ready environment, and resident memory after init.
 * Run by `./build.sh bench`. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "nativebdev.h"

extern char **environ;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, nb_last_error());
	exit(1);
}

/* --- start-up probe: a child process that inits and reports --- */
static int startup_probe(void)
{
	if (nb_env_init(NULL) != 0)
		die("nb_env_init");
	printf("%.9f %ld\n", now_s(), rss_kib());
	fflush(stdout);
	nb_env_fini();
	return 0;
}

static void startup(const char *self)
{
	double best = 1e9, sum = 0;
	long rss = 0;
	const int runs = 5;
	for (int i = 0; i < runs; i++) {
		int fds[2];
		if (pipe(fds) != 0)
			exit(1);
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
		char *argv[] = { (char *)self, "--startup-probe", NULL };
		pid_t pid;
		double t0 = now_s();
		if (posix_spawn(&pid, self, &fa, NULL, argv, environ) != 0)
			exit(1);
		close(fds[1]);
		char buf[128] = { 0 };
		ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
		close(fds[0]);
		waitpid(pid, NULL, 0);
		double ready;
		if (n <= 0 || sscanf(buf, "%lf %ld", &ready, &rss) != 2)
			exit(1);
		double dt = ready - t0;
		sum += dt;
		if (dt < best)
			best = dt;
	}
	printf("startup: process start to ready environment: %.1f ms (best of %d), %.1f ms mean\n",
	       best * 1e3, runs, sum / runs * 1e3);
	printf("memory: resident after init with the default DMA pool: %.1f MiB\n", rss / 1024.0);
}

/* --- message throughput --- */
static atomic_long g_received;
static void on_msg(void *ctx)
{
	(void)ctx;
	atomic_store_explicit(&g_received, atomic_load_explicit(&g_received, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

struct consumer {
	struct nb_thread *t;
	long want;
	atomic_int stop;
};

static void *consume(void *arg)
{
	struct consumer *c = arg;
	pin(0);
	while (atomic_load_explicit(&g_received, memory_order_relaxed) < c->want)
		nb_thread_poll(c->t, 256, 0);
	return NULL;
}

static void messages(long n)
{
	struct nb_thread *t = nb_thread_create("consumer", NULL);
	if (!t)
		die("nb_thread_create");
	struct consumer c = { .t = t, .want = n };
	atomic_store(&g_received, 0);
	pthread_t ct;
	pin(1);
	double t0 = now_s();
	pthread_create(&ct, NULL, consume, &c);
	long full = 0;
	for (long i = 0; i < n; i++)
		while (nb_thread_send_msg(t, on_msg, NULL) == -ENOMEM)
			full++;
	pthread_join(ct, NULL);
	double dt = now_s() - t0;
	printf("messages: one producer (core 1) to one consumer (core 0), host-driven: %.2f M msgs/s "
	       "(%ld msgs in %.3f s, ring full %ld times)\n",
	       n / dt / 1e6, n, dt, full);
	fflush(stdout);
	nb_thread_exit(t);
	while (nb_thread_is_exited(t) != 1)
		nb_thread_poll(t, 0, 0);
	nb_thread_destroy(t);
}

static void reactor_messages(long n)
{
	pin(1);
	if (nb_reactors_start("0x1") != 0)
		die("nb_reactors_start");
	struct nb_thread *t = nb_thread_create("consumer", NULL);
	atomic_store(&g_received, 0);
	pin(1);
	double t0 = now_s();
	long full = 0;
	for (long i = 0; i < n; i++)
		while (nb_thread_send_msg(t, on_msg, NULL) == -ENOMEM)
			full++;
	while (atomic_load(&g_received) < n)
		;
	double dt = now_s() - t0;
	printf("messages: one producer (core 1) to a reactor on core 0: %.2f M msgs/s\n", n / dt / 1e6);
	fflush(stdout);
	nb_thread_exit(t);
	while (nb_thread_is_exited(t) != 1)
		usleep(100);
	nb_reactors_stop();
	nb_thread_destroy(t);
}

static void empty_poll(long n)
{
	struct nb_thread *t = nb_thread_create("idle", NULL);
	pin(0);
	for (long i = 0; i < 100000; i++)
		nb_thread_poll(t, 0, 0);
	double t0 = now_s();
	for (long i = 0; i < n; i++)
		nb_thread_poll(t, 0, 0);
	double dt = now_s() - t0;
	printf("poll: empty nb_thread_poll: %.1f ns per call (%ld calls)\n", dt / n * 1e9, n);
	nb_thread_exit(t);
	while (nb_thread_is_exited(t) != 1)
		nb_thread_poll(t, 0, 0);
	nb_thread_destroy(t);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--startup-probe") == 0)
		return startup_probe();
	startup(argv[0]);
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.log_level = NB_LOG_WARN;
	if (nb_env_init(&opts) != 0)
		die("nb_env_init");
	empty_poll(10000000);
	messages(20000000);
	reactor_messages(10000000);
	nb_env_fini();
	return 0;
}
