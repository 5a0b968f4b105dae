/* A nexus over two NVMe/TCP children, each served by its own nbdev_tgt process on loopback
 * (Mayastor's volume: the host's nexus, its replicas on other nodes):
 *   test_nexus_nvmf NBDEV_TGT WORK_DIR
 * Each target exports a file (uring) over NVMe/TCP. The host writes a pattern through the
 * nexus at queue depth 16 while target 1 is killed with SIGKILL: its child must fault
 * (io_error, after the initiator's fast_io_fail_timeout) and no host write may fail. Writes go
 * on with one child; target 1 restarts on the same port and file; the child is brought back
 * with nb_nexus_online_child and rebuilt *partially* (only the segments written while it was
 * out, counted against the rebuild's record) while the host keeps writing. At the end every
 * block reads back through the nexus as last written, and once both targets have stopped
 * (SIGTERM, exit 0) the two files are byte for byte identical.
 * Then the initiator alone, on a bare nvmf:// bdev of target 0: the target killed under writes
 * and started again within ctrlr_loss_timeout_s (no write fails, every acknowledged one reads
 * back), and killed for longer than ctrlr_loss_timeout_s (the writes fail, none hangs). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

#define BLOCK 4096u
#define BLOCKS 8192u /* 32 MiB per child */
#define DEPTH 16
#define NQN_FMT "nqn.2026-12.io.nativebdev:replica%d"
/* The replica's namespace UUID, the same across restarts: the host knows its replica by it. */
#define UUID_FMT "6a1b2c3d-0000-4000-8000-00000000000%d"

static const char *g_tgt, *g_work;
static struct nb_thread *g_t;
static pid_t g_pid[2];
static int g_port[2];
static char g_file[2][512];
static char g_child[2][512];
static uint32_t g_gen[BLOCKS]; /* the generation last acknowledged per block (0: never written) */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t len = sizeof(a);
	CHECK_EQ(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

static int port_accepts(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

/* Starts (or restarts) target i: the same file, port and subsystem every time. */
static void start_target(int i)
{
	char cfg[600], sock[600], log[600];
	snprintf(cfg, sizeof(cfg), "%s/tgt%d.json", g_work, i);
	snprintf(sock, sizeof(sock), "%s/tgt%d.sock", g_work, i);
	snprintf(log, sizeof(log), "%s/tgt%d.log", g_work, i);
	FILE *f = fopen(cfg, "w");
	CHECK(f != NULL);
	fprintf(f,
		"{\"subsystems\": [\n"
		" {\"subsystem\": \"bdev\", \"config\": [\n"
		"  {\"method\": \"bdev_uring_create\", \"params\": {\"filename\": \"%s\", \"name\": \"Replica%d\","
		" \"block_size\": %u}}]},\n"
		" {\"subsystem\": \"nvmf\", \"config\": [\n"
		"  {\"method\": \"nvmf_create_transport\", \"params\": {\"trtype\": \"TCP\"}},\n"
		"  {\"method\": \"nvmf_create_subsystem\", \"params\": {\"nqn\": \"" NQN_FMT "\","
		" \"allow_any_host\": true}},\n"
		"  {\"method\": \"nvmf_subsystem_add_ns\", \"params\": {\"nqn\": \"" NQN_FMT "\","
		" \"namespace\": {\"bdev_name\": \"Replica%d\", \"uuid\": \"" UUID_FMT "\"}}},\n"
		"  {\"method\": \"nvmf_subsystem_add_listener\", \"params\": {\"nqn\": \"" NQN_FMT "\","
		" \"listen_address\": {\"trtype\": \"tcp\", \"adrfam\": \"ipv4\", \"traddr\": \"127.0.0.1\","
		" \"trsvcid\": \"%d\"}}}]}]}\n",
		g_file[i], i, BLOCK, i, i, i, i, i, g_port[i]);
	fclose(f);
	unlink(sock);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* Nothing else of the test's (a CTest or flock descriptor kept open by a target that
		 * outlived a failed run would hold it for good). */
		for (int k = 3; k < 1024; k++)
			close(k);
		execl(g_tgt, g_tgt, "-r", sock, "-c", cfg, (char *)NULL);
		_exit(127);
	}
	g_pid[i] = pid;
	double end = now_s() + 20;
	while (!port_accepts(g_port[i]) && now_s() < end)
		usleep(10000);
	if (!port_accepts(g_port[i])) {
		char cmd[700];
		snprintf(cmd, sizeof(cmd), "tail -n 30 %s >&2", log);
		(void)system(cmd);
	}
	CHECK(port_accepts(g_port[i]));
}

/* A failed check exits the test: no target may outlive it. */
static void kill_targets_left(void)
{
	for (int i = 0; i < 2; i++)
		if (g_pid[i] > 0) {
			kill(g_pid[i], SIGKILL);
			waitpid(g_pid[i], NULL, 0);
		}
}

/* SIGTERM: the target drains and exits 0. */
static void stop_target(int i)
{
	int status = 0;
	CHECK_EQ(kill(g_pid[i], SIGTERM), 0);
	CHECK_EQ(waitpid(g_pid[i], &status, 0), g_pid[i]);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	g_pid[i] = 0;
}

static void kill_target(int i)
{
	int status = 0;
	CHECK_EQ(kill(g_pid[i], SIGKILL), 0);
	CHECK_EQ(waitpid(g_pid[i], &status, 0), g_pid[i]);
	CHECK(WIFSIGNALED(status));
	g_pid[i] = 0;
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void fill(uint8_t *p, uint32_t block, uint32_t gen)
{
	uint64_t *w = (uint64_t *)p;
	for (size_t k = 0; k < BLOCK / 8; k++)
		w[k] = ((uint64_t)block << 40) ^ ((uint64_t)gen << 16) ^ (k * 0x9E3779B97F4A7C15ull);
}

/* The queue of host writes: each slot writes one block and records its generation when the
 * write is acknowledged. */
struct slot {
	uint8_t *buf;
	uint32_t block, gen;
	int busy;
};

static struct slot g_slots[DEPTH];
static struct nb_bdev_desc *g_desc;
static struct nb_io_channel *g_ch;
static uint32_t g_next_gen = 1;
static uint64_t g_rng = 88172645463325252ull;
static long g_acked, g_failed, g_in_flight;
static int g_last_error;

static uint32_t g_range = BLOCKS; /* writes go to blocks [0, g_range) */

static uint32_t next_block(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)(g_rng % g_range);
}

static int block_busy(uint32_t block)
{
	for (int i = 0; i < DEPTH; i++)
		if (g_slots[i].busy && g_slots[i].block == block)
			return 1;
	return 0;
}

static void on_write(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct slot *s = arg;
	s->busy = 0;
	g_in_flight--;
	if (status == 0) {
		g_gen[s->block] = s->gen;
		g_acked++;
	} else {
		g_failed++;
		g_last_error = status;
	}
}

static void submit(struct slot *s)
{
	uint32_t b;
	do
		b = next_block();
	while (block_busy(b)); /* one write per block in flight: the last acknowledged is the last */
	s->block = b;
	s->gen = g_next_gen++;
	fill(s->buf, s->block, s->gen);
	s->busy = 1;
	g_in_flight++;
	int rc = nb_bdev_write_blocks(g_desc, g_ch, s->buf, b, 1, on_write, s);
	if (rc != 0) { /* refused at once: a failed controller's bdev */
		s->busy = 0;
		g_in_flight--;
		g_failed++;
		g_last_error = rc;
	}
}

/* Keeps DEPTH writes in flight for `seconds` or until `until` (if any) says so. */
static void write_for(double seconds, int (*until)(void))
{
	double end = now_s() + seconds;
	while (now_s() < end && !(until && until())) {
		for (int i = 0; i < DEPTH; i++)
			if (!g_slots[i].busy)
				submit(&g_slots[i]);
		nb_thread_poll(g_t, 0, 0);
	}
}

static void drain(void)
{
	double end = now_s() + 30;
	while (g_in_flight > 0 && now_s() < end)
		nb_thread_poll(g_t, 0, 0);
	CHECK_EQ(g_in_flight, 0);
}

static struct nb_nexus_child_info g_info[2];

static void list(void)
{
	CHECK_EQ(nb_nexus_list_children("Vol", g_info, 2), 2);
}

static int child1_faulted(void)
{
	list();
	return g_info[1].state == NB_NEXUS_CHILD_FAULTED;
}

static int child1_synced(void)
{
	list();
	return g_info[1].state == NB_NEXUS_CHILD_OPEN && g_info[1].synced == 1 && g_info[1].rebuilding == 0;
}

struct events {
	int faulted_io_error;
	long acked_at_fault; /* host writes acknowledged when the fault was seen */
};

static struct events g_events;

static void on_child(const char *nexus, const char *child, int state, int reason, int synced, void *ctx)
{
	(void)nexus;
	(void)synced;
	(void)ctx;
	if (strcmp(child, g_child[1]) == 0 && state == NB_NEXUS_CHILD_FAULTED && reason == NB_NEXUS_FAULT_IO_ERROR) {
		g_events.faulted_io_error++;
		g_events.acked_at_fault = g_acked;
	}
}

struct read_result {
	int done, status;
};

static void on_read(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct read_result *r = arg;
	r->done = 1;
	r->status = status;
}

static void verify_all(const char *what)
{
	enum { CHUNK = 64 };
	static const uint8_t zero[BLOCK];
	uint8_t *buf = nb_dma_malloc(BLOCK * CHUNK, BLOCK, NULL), *want = malloc(BLOCK);
	CHECK(buf != NULL && want != NULL);
	for (uint32_t b = 0; b < BLOCKS; b += CHUNK) {
		struct read_result r = { 0, 0 };
		CHECK_EQ(nb_bdev_read_blocks(g_desc, g_ch, buf, b, CHUNK, on_read, &r), 0);
		POLL_UNTIL(g_t, r.done == 1);
		CHECK_EQ(r.status, 0);
		for (uint32_t k = 0; k < CHUNK; k++) {
			const uint8_t *expect = zero;
			if (g_gen[b + k] != 0) {
				fill(want, b + k, g_gen[b + k]);
				expect = want;
			}
			CHECK(memcmp(buf + (size_t)k * BLOCK, expect, BLOCK) == 0);
		}
	}
	printf("every one of %u blocks reads back through %s as last written\n", BLOCKS, what);
	free(want);
	nb_dma_free(buf);
}

static void on_destroyed(void *ctx, int status)
{
	struct read_result *r = ctx;
	r->done = 1;
	r->status = status;
}

static void compare_files(void)
{
	FILE *a = fopen(g_file[0], "rb"), *b = fopen(g_file[1], "rb");
	CHECK(a != NULL && b != NULL);
	static uint8_t x[1 << 16], y[1 << 16];
	size_t n, total = 0;
	while ((n = fread(x, 1, sizeof(x), a)) > 0) {
		CHECK_EQ(fread(y, 1, n, b), n);
		CHECK(memcmp(x, y, n) == 0);
		total += n;
	}
	CHECK_EQ(total, (size_t)BLOCKS * BLOCK);
	fclose(a);
	fclose(b);
	printf("the two replicas' files are identical (%zu bytes)\n", total);
}

static void open_bare(const char *params, char *name, size_t len)
{
	char uri[700];
	snprintf(uri, sizeof(uri), "nvmf://127.0.0.1:%d/" NQN_FMT "?nsid=1&reconnect_delay_ms=100&%s", g_port[0], 0,
		 params);
	CHECK_EQ(nb_bdev_create(uri, name, len), 0);
	CHECK_EQ(nb_bdev_open_ext(name, 1, on_event, NULL, &g_desc), 0);
	g_ch = nb_bdev_get_io_channel(g_desc);
	CHECK(g_ch != NULL);
}

static void close_bare(const char *name)
{
	CHECK_EQ(nb_put_io_channel(g_ch), 0);
	CHECK_EQ(nb_bdev_close(g_desc), 0);
	struct read_result destroyed = { 0, 0 };
	CHECK_EQ(nb_bdev_destroy(name, on_destroyed, &destroyed), 0);
	POLL_UNTIL(g_t, destroyed.done == 1);
}

/* The initiator alone: its target killed under writes and back within ctrlr_loss_timeout —
 * the writes in flight and those arriving meanwhile wait, are sent again after the reconnect,
 * and every acknowledged write reads back. */
static void bare_reconnect(void)
{
	char name[256];
	open_bare("name=Bare0n&ctrlr_loss_timeout_s=30", name, sizeof(name));
	write_for(0.5, NULL);
	long before = g_acked;
	kill_target(0);
	write_for(1.0, NULL);
	long while_down = g_acked - before;
	start_target(0);
	write_for(2.0, NULL);
	drain();
	CHECK_EQ(g_failed, 0);
	CHECK(g_acked > before + while_down + DEPTH);
	printf("bare nvmf bdev: target killed and back: %ld writes acknowledged in the second it was down, "
	       "%ld after it came back, none failed\n", while_down, g_acked - before - while_down);
	verify_all("the reconnected bdev");
	close_bare(name);
}

static int any_failed(void)
{
	return g_failed > 0;
}

/* ctrlr_loss_timeout passes: the I/O fails with an error, none is left hanging. */
static void bare_ctrlr_loss(void)
{
	char name[256];
	open_bare("name=Bare1n&ctrlr_loss_timeout_s=1", name, sizeof(name));
	write_for(0.3, NULL);
	CHECK_EQ(g_failed, 0);
	kill_target(0);
	double killed = now_s();
	write_for(10.0, any_failed);
	double failed_after = now_s() - killed;
	drain();
	CHECK(g_failed > 0);
	CHECK(g_last_error < 0);
	CHECK(failed_after < 6.0);
	printf("bare nvmf bdev past ctrlr_loss_timeout 1 s: writes fail (%d) after %.2f s, none left in flight\n",
	       g_last_error, failed_after);
	close_bare(name);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s NBDEV_TGT WORK_DIR\n", argv[0]);
		return 2;
	}
	g_tgt = argv[1];
	static char work[512];
	if (argv[2][0] == '/' || getcwd(work, sizeof(work) - 2 - strlen(argv[2])) == NULL)
		snprintf(work, sizeof(work), "%s", argv[2]);
	else
		snprintf(work + strlen(work), sizeof(work) - strlen(work), "/%s", argv[2]);
	g_work = work; /* absolute: nbdev_tgt -r takes a path beginning with '/' as a Unix socket */
	signal(SIGPIPE, SIG_IGN);
	atexit(kill_targets_left);
	char parent[512];
	snprintf(parent, sizeof(parent), "%s", g_work);
	char *slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent) {
		*slash = '\0';
		mkdir(parent, 0755);
	}
	mkdir(g_work, 0755);
	for (int i = 0; i < 2; i++) {
		snprintf(g_file[i], sizeof(g_file[i]), "%s/replica%d.img", g_work, i);
		int fd = open(g_file[i], O_RDWR | O_CREAT | O_TRUNC, 0644);
		CHECK(fd >= 0);
		CHECK_EQ(ftruncate(fd, (off_t)BLOCKS * BLOCK), 0);
		close(fd);
		g_port[i] = free_port();
		start_target(i);
	}
	printf("two targets listening on ports %d and %d\n", g_port[0], g_port[1]);

	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("host", NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
	const char *uris[2];
	for (int i = 0; i < 2; i++) {
		/* fast_io_fail 1 s: I/O to a lost target fails after a second, so the nexus retires
		 * its child; ctrlr_loss 2 s: the child's bdev goes away before the target returns, so
		 * online remakes it from this URI. */
		snprintf(g_child[i], sizeof(g_child[i]),
			 "nvmf://127.0.0.1:%d/" NQN_FMT "?nsid=1&name=Replica%dn&reconnect_delay_ms=100"
			 "&fast_io_fail_timeout_s=1&ctrlr_loss_timeout_s=2",
			 g_port[i], i, i);
		uris[i] = g_child[i];
	}
	CHECK_EQ(nb_nexus_create("Vol", 0, uris, 2), 0);
	list();
	/* The child events and list name the child's bdev: remember those names. */
	for (int i = 0; i < 2; i++)
		snprintf(g_child[i], sizeof(g_child[i]), "%s", g_info[i].name);
	CHECK_EQ(nb_nexus_set_event_cb("Vol", on_child, NULL), 0);
	CHECK_EQ(nb_bdev_open_ext("Vol", 1, on_event, NULL, &g_desc), 0);
	g_ch = nb_bdev_get_io_channel(g_desc);
	CHECK(g_ch != NULL);
	for (int i = 0; i < DEPTH; i++) {
		g_slots[i].buf = nb_dma_malloc(BLOCK, BLOCK, NULL);
		CHECK(g_slots[i].buf != NULL);
	}

	write_for(1.0, NULL);
	printf("phase 1, both replicas: %ld writes acknowledged\n", g_acked);
	CHECK(g_acked > 0);
	long before_kill = g_acked;

	kill_target(1);
	double killed = now_s();
	write_for(15.0, child1_faulted);
	CHECK(child1_faulted());
	printf("target 1 killed: child faulted (reason %d) after %.2f s, %ld writes acknowledged meanwhile\n",
	       g_info[1].reason, now_s() - killed, g_acked - before_kill);
	CHECK_EQ(g_info[1].reason, NB_NEXUS_FAULT_IO_ERROR);
	CHECK_EQ(g_events.faulted_io_error, 1);
	CHECK_EQ(g_failed, 0);

	/* One replica only: a few seconds, so the child's bdev is retired (ctrlr_loss_timeout), and
	 * into the first quarter only, so a partial rebuild has less than everything to copy. */
	long before_degraded = g_acked;
	drain();
	g_range = BLOCKS / 4;
	write_for(3.0, NULL);
	drain();
	g_range = BLOCKS;
	CHECK_EQ(g_failed, 0);
	CHECK(g_acked > before_degraded);
	printf("degraded: %ld more writes acknowledged on one replica\n", g_acked - before_degraded);

	start_target(1);
	CHECK_EQ(nb_nexus_online_child("Vol", g_child[1]), 0);
	long before_rebuild = g_acked;
	write_for(30.0, child1_synced);
	drain();
	if (!child1_synced())
		fprintf(stderr, "child 1 '%s': state %d reason %d synced %d rebuilding %d, %llu/%llu blocks\n",
			g_info[1].name, g_info[1].state, g_info[1].reason, g_info[1].synced, g_info[1].rebuilding,
			(unsigned long long)g_info[1].rebuild_blocks_done,
			(unsigned long long)g_info[1].rebuild_blocks_total);
	CHECK(child1_synced());
	CHECK_EQ(g_failed, 0);
	printf("target 1 back: child rebuilt while %ld more writes were acknowledged\n", g_acked - before_rebuild);

	struct nb_nexus_rebuild_record rec[4];
	int records = nb_nexus_rebuild_history("Vol", rec, 4);
	CHECK_EQ(records, 1);
	CHECK_EQ(rec[0].state, NB_NEXUS_REBUILD_COMPLETED);
	CHECK_EQ(rec[0].partial, 1);
	CHECK_EQ(rec[0].blocks_copied, rec[0].blocks_total);
	CHECK(rec[0].blocks_total > 0);
	/* Only what was written while it was out: the first quarter, and the segments of the writes
	 * in flight when it faulted (at most 2 x DEPTH segments of 16 blocks). */
	CHECK(rec[0].blocks_total <= BLOCKS / 4 + 2 * DEPTH * 16);
	printf("partial rebuild: %llu of %u blocks copied\n", (unsigned long long)rec[0].blocks_copied, BLOCKS);

	verify_all("the nexus");
	CHECK_EQ(nb_put_io_channel(g_ch), 0);
	CHECK_EQ(nb_bdev_close(g_desc), 0);
	struct read_result destroyed = { 0, 0 };
	CHECK_EQ(nb_nexus_destroy("Vol", on_destroyed, &destroyed), 0);
	POLL_UNTIL(g_t, destroyed.done == 1);
	CHECK_EQ(destroyed.status, 0);
	stop_target(0);
	stop_target(1);
	compare_files();

	start_target(0);
	bare_reconnect();
	bare_ctrlr_loss();
	for (int i = 0; i < DEPTH; i++)
		nb_dma_free(g_slots[i].buf);

	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(g_t), 0);
	POLL_UNTIL(g_t, nb_thread_is_exited(g_t) == 1);
	CHECK_EQ(nb_thread_destroy(g_t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
