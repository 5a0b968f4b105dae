/* nbdev_tgt: the storage daemon, as SPDK's spdk_tgt is one — reactors on a core mask, the
 * JSON-RPC server on a Unix socket (or TCP), an SPDK JSON config loaded at start-up, and a
 * clean stop on SIGINT or SIGTERM (or spdk_kill_instance): stop serving RPC, destroy every
 * bdev (in-flight I/O completes, open descriptors get REMOVE), stop the reactors, exit 0.
 *
 *   nbdev_tgt [-m MASK] [-r RPC_ADDR] [-c|--json CONFIG] [--wait-for-rpc] [--log-level LEVEL]
 *             [--metrics IP:PORT]
 *
 * -m       core mask for the reactors ("0x3", "[0,2]"); default: the first core
 * -r       RPC listen address: a Unix socket path (relative ones too, as spdk_tgt) or IP:PORT
 *          (default /var/tmp/spdk.sock)
 * -c       SPDK JSON config to load at start-up (--json is the same); a config that fails
 *          stops the daemon with exit status 1, as spdk_tgt does
 * --wait-for-rpc  serve RPC first and load the config only when framework_start_init comes
 * --log-level     error, warn, notice (default), info or debug
 * --metrics       serve Prometheus metrics (GET /metrics) on IP:PORT
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "nativebdev.h"

struct tgt {
	const char *mask;
	const char *rpc_addr;
	const char *config;
	const char *metrics;
	int wait_for_rpc;
	struct nb_thread *app;
	atomic_int started;      /* 1 serving, -errno start-up failed */
	atomic_int config_status; /* 1 pending, else the load's status */
	atomic_int stopped;
	int bdevs_left;
};

static struct tgt g_tgt = { .rpc_addr = "/var/tmp/spdk.sock", .config_status = 1 };
static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
	g_signal = sig;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void on_config_loaded(void *ctx, int status)
{
	struct tgt *t = ctx;
	if (status != 0)
		fprintf(stderr, "nbdev_tgt: %s\n", nb_last_error());
	atomic_store(&t->config_status, status);
}

static void load_config(void *ctx)
{
	struct tgt *t = ctx;
	if (!t->config) {
		atomic_store(&t->config_status, 0);
		return;
	}
	int rc = nb_config_load(t->config, on_config_loaded, t);
	if (rc != 0) {
		fprintf(stderr, "nbdev_tgt: config %s: %s\n", t->config, nb_last_error());
		atomic_store(&t->config_status, rc);
	}
}

/* On the app thread, which serves RPC. */
static void start(void *ctx)
{
	struct tgt *t = ctx;
	int rc = nb_rpc_server_start(t->rpc_addr);
	if (rc != 0) {
		fprintf(stderr, "nbdev_tgt: RPC server on %s: %s\n", t->rpc_addr, nb_last_error());
		atomic_store(&t->started, rc);
		return;
	}
	if (t->metrics && (rc = nb_metrics_server_start(t->metrics)) != 0) {
		fprintf(stderr, "nbdev_tgt: metrics on %s: %s\n", t->metrics, nb_last_error());
		nb_rpc_server_stop();
		atomic_store(&t->started, rc);
		return;
	}
	if (t->wait_for_rpc)
		nb_rpc_wait_for_start_init(load_config, t);
	else
		load_config(t);
	atomic_store(&t->started, 1);
}

static void on_bdev_destroyed(void *ctx, int status)
{
	struct tgt *t = ctx;
	(void)status;
	if (--t->bdevs_left == 0)
		atomic_store(&t->stopped, 1);
}

/* On the app thread: no new RPC, then every bdev goes (vbdevs with their bases). */
static void stop(void *ctx)
{
	struct tgt *t = ctx;
	if (atomic_load(&t->started) == 1) {
		nb_rpc_server_stop();
		if (t->metrics)
			nb_metrics_server_stop();
	}
	/* Hosts are disconnected and the listeners closed before their namespaces' bdevs go
	 * (-ENOENT: no target was started). */
	int rc = nb_nvmf_target_stop();
	if (rc != 0 && rc != -ENOENT)
		fprintf(stderr, "nbdev_tgt: stopping the NVMe/TCP target: %s\n", nb_last_error());
	t->bdevs_left = 1;
	/* nb_bdev_first skips bdevs being destroyed; one that refuses leaves the walk to the next. */
	for (struct nb_bdev *b = nb_bdev_first(); b;) {
		char name[NB_BDEV_NAME_MAX];
		snprintf(name, sizeof(name), "%s", nb_bdev_get_name(b));
		t->bdevs_left++;
		if (nb_bdev_destroy(name, on_bdev_destroyed, t) == 0) {
			b = nb_bdev_first();
		} else {
			t->bdevs_left--; /* going already, with its base */
			fprintf(stderr, "nbdev_tgt: destroy %s: %s\n", name, nb_last_error());
			b = nb_bdev_next(b);
		}
	}
	on_bdev_destroyed(t, 0);
}

static int parse_level(const char *s)
{
	static const char *const names[] = { "error", "warn", "notice", "info", "debug" };
	for (int i = 0; i < 5; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: nbdev_tgt [-m MASK] [-r RPC_ADDR] [-c|--json CONFIG] [--wait-for-rpc] "
			"[--log-level error|warn|notice|info|debug] [--metrics IP:PORT]\n");
}

int main(int argc, char **argv)
{
	double t0 = now_ms();
	static const struct option longopts[] = {
		{ "json", required_argument, NULL, 'c' },
		{ "config", required_argument, NULL, 'c' },
		{ "wait-for-rpc", no_argument, NULL, 'W' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tgt *t = &g_tgt;
	int level = NB_LOG_NOTICE, opt;
	while ((opt = getopt_long(argc, argv, "m:r:c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'm': t->mask = optarg; break;
		case 'r': t->rpc_addr = optarg; break;
		case 'c': t->config = optarg; break;
		case 'W': t->wait_for_rpc = 1; break;
		case 'M': t->metrics = optarg; break;
		case 'L':
			if ((level = parse_level(optarg)) < 0) {
				fprintf(stderr, "nbdev_tgt: --log-level %s: not error, warn, notice, info or debug\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int rc = nb_env_init(NULL);
	if (rc != 0) {
		fprintf(stderr, "nbdev_tgt: nb_env_init: %s\n", nb_last_error());
		return 1;
	}
	nb_log_set_level(level);
	/* The app thread is pinned with the first reactor: it serves RPC and loads the config. */
	char first[32] = "0x1";
	if (t->mask && (rc = nb_reactors_start(t->mask)) == 0) {
		uint32_t cores[1024];
		int n = nb_reactor_get_cores(cores, 1024);
		if (n > 0)
			snprintf(first, sizeof(first), "[%u]", cores[0]);
	} else if (!t->mask) {
		rc = nb_reactors_start("0x1");
	}
	if (rc != 0) {
		fprintf(stderr, "nbdev_tgt: reactors on %s: %s\n", t->mask ? t->mask : "0x1", nb_last_error());
		nb_env_fini();
		return 1;
	}
	t->app = nb_thread_create("app_thread", first);
	if (!t->app || nb_thread_send_msg(t->app, start, t) != 0) {
		fprintf(stderr, "nbdev_tgt: app thread: %s\n", nb_last_error());
		return 1;
	}
	while (atomic_load(&t->started) == 0 && !g_signal)
		usleep(100);
	int status = 0;
	if (atomic_load(&t->started) < 0) {
		status = 1;
	} else {
		printf("nbdev_tgt: serving RPC on %s after %.1f ms\n", t->rpc_addr, now_ms() - t0);
		char addr[128];
		if (t->metrics && nb_metrics_server_get_addr(addr, sizeof(addr)) > 0)
			printf("nbdev_tgt: metrics on http://%s/metrics\n", addr);
		fflush(stdout);
	}
	int reported = 0;
	while (status == 0 && !g_signal) {
		int c = atomic_load(&t->config_status);
		if (c < 0)
			status = 1; /* spdk_tgt exits when its config fails */
		else if (c == 0 && !reported) {
			printf("nbdev_tgt: initialised after %.1f ms\n", now_ms() - t0);
			fflush(stdout);
			reported = 1;
		}
		usleep(1000);
	}
	if (g_signal)
		printf("nbdev_tgt: signal %d: stopping\n", (int)g_signal);
	if (nb_thread_send_msg(t->app, stop, t) == 0)
		while (!atomic_load(&t->stopped))
			usleep(1000);
	nb_reactors_stop();
	nb_thread_exit(t->app);
	while (nb_thread_is_exited(t->app) != 1)
		nb_thread_poll(t->app, 0, 0);
	nb_thread_destroy(t->app);
	if ((rc = nb_env_fini()) != 0) {
		fprintf(stderr, "nbdev_tgt: nb_env_fini: %s\n", nb_last_error());
		return 1;
	}
	printf("nbdev_tgt: stopped\n");
	return status;
}
