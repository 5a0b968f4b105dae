/* libFuzzer harness for the NBD server: each input is what a client sends on one connection.
 *
 * The server (nb_nbd_server_start on 127.0.0.1:0, exports "disk": malloc 1 MiB with 512-byte
 * blocks, and "ro": malloc 1 MiB with 4 KiB blocks, read-only) runs on this OS thread's
 * host-driven thread. Per input: connect, send the input while polling the server and reading
 * whatever it answers, half-close, and poll until the server closes its side (it must: after
 * the client's end of stream nothing is left to do but finish what is in flight). Then
 * everything must be as before: no connection left (nb_nbd_server_connection_count), no DMA
 * memory, no file descriptor, no thread. A server that never closes is a hang (-timeout).
 *
 * Inputs whose first byte is odd get a canned handshake in front (client flags, structured
 * replies, base:allocation and NBD_OPT_GO of "disk" or, when bit 1 is set too, "ro"), so the
 * fuzzer reaches the transmission phase at once; even ones are sent as they are (the handshake
 * itself is fuzzed).
 *
 * Feedback: each kind of answer (option reply types, request errors, reply chunk types, how
 * the connection ended) is hashed into libFuzzer's extra counters (see fuzz_common.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "fuzz_common.h"

#define FUZZ_MAX_INPUT 8192

static struct sockaddr_in g_addr;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	(void)fuzz_feature; /* the shared helpers this harness does not need */
	(void)fuzz_arm;
	(void)fuzz_check_error;
	fuzz_env_init("fuzz_nbd");
	FUZZ_CHECK(nb_bdev_create("malloc:///fz_disk?size_mb=1", NULL, 0) == 0, "disk bdev");
	FUZZ_CHECK(nb_bdev_create("malloc:///fz_ro?size_mb=1&blk_size=4096", NULL, 0) == 0, "ro bdev");
	FUZZ_CHECK(nb_nbd_server_start("127.0.0.1:0") == 0, "nb_nbd_server_start");
	FUZZ_CHECK(nb_nbd_server_add_export("disk", "fz_disk", 0, "fuzzed") == 0, "export disk");
	FUZZ_CHECK(nb_nbd_server_add_export("ro", "fz_ro", 1, NULL) == 0, "export ro");
	char addr[64];
	FUZZ_CHECK(nb_nbd_server_get_addr(addr, sizeof(addr)) > 0, "address");
	g_addr.sin_family = AF_INET;
	g_addr.sin_port = htons((uint16_t)atoi(strrchr(addr, ':') + 1));
	g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fuzz_take_baseline();
	return 0;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static size_t option(uint8_t *p, uint32_t opt, const uint8_t *data, uint32_t len)
{
	memcpy(p, "IHAVEOPT", 8);
	be32(p + 8, opt);
	be32(p + 12, len);
	memcpy(p + 16, data, len);
	return 16 + len;
}

/* Client flags, STRUCTURED_REPLY, SET_META_CONTEXT base:allocation, GO with BLOCK_SIZE. */
static size_t canned_handshake(uint8_t *p, const char *name)
{
	size_t n = 0;
	uint32_t nl = (uint32_t)strlen(name);
	be32(p, 3);
	n += 4;
	n += option(p + n, 8, NULL, 0);
	uint8_t meta[64];
	be32(meta, nl);
	memcpy(meta + 4, name, nl);
	be32(meta + 4 + nl, 1);
	be32(meta + 8 + nl, 15);
	memcpy(meta + 12 + nl, "base:allocation", 15);
	n += option(p + n, 10, meta, 27 + nl);
	uint8_t go[64];
	be32(go, nl);
	memcpy(go + 4, name, nl);
	go[4 + nl] = 0;
	go[5 + nl] = 1;
	go[6 + nl] = 0;
	go[7 + nl] = 3;
	n += option(p + n, 7, go, 8 + nl);
	return n;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void feature(uint32_t kind, uint32_t value)
{
	uint32_t h = (2166136261u ^ kind) * 16777619u;
	h = (h ^ value) * 16777619u;
	g_features[h % FUZZ_FEATURES]++;
}

/* What the server answered, as features: option reply types, request errors, chunk types.
 * Scans a window of what came (the head of each receive), magic by magic. */
static void answer_features(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i + 20 <= n; i++) {
		uint32_t m = rd32(b + i);
		if (m == 0x0003e889 && rd32(b + i + 4) == 0x045565a9)
			feature(1, rd32(b + i + 8) * 31 + rd32(b + i + 12));
		else if (m == 0x67446698)
			feature(2, rd32(b + i + 4));
		else if (m == 0x668e33ef)
			feature(3, rd32(b + i + 4) ^ (i + 26 <= n ? rd32(b + i + 20) : 0));
	}
}

static char g_hex[64];

static const char *hex_head(const uint8_t *data, size_t size)
{
	size_t n = size < 24 ? size : 24;
	for (size_t i = 0; i < n; i++)
		snprintf(g_hex + 2 * i, 3, "%02x", data[i]);
	g_hex[2 * n] = '\0';
	return g_hex;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return -1;
	static uint8_t input[FUZZ_MAX_INPUT + 256];
	size_t n = 0;
	if (size > 0 && (data[0] & 1)) {
		n = canned_handshake(input, (data[0] & 2) ? "ro" : "disk");
		memcpy(input + n, data + 1, size - 1);
		n += size - 1;
	} else {
		memcpy(input, data, size);
		n = size;
	}
	const char *what = hex_head(data, size);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0, "socket");
	int rc = connect(fd, (struct sockaddr *)&g_addr, sizeof(g_addr));
	FUZZ_CHECK(rc == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
	size_t sent = 0, received = 0;
	int half_closed = 0, closed = 0, reset = 0;
	static uint8_t buf[1 << 16];
	uint64_t deadline = nb_get_ticks() + 8 * nb_get_ticks_hz();
	while (!closed) {
		FUZZ_CHECK(nb_get_ticks() < deadline, "the server did not close the connection; input %s (%zu bytes)",
			   what, size);
		nb_thread_poll(g_thread, 0, 0);
		if (sent < n) {
			ssize_t w = send(fd, input + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != ENOTCONN)
				sent = n; /* the server closed first: the rest has nowhere to go */
		}
		if (sent == n && !half_closed) {
			shutdown(fd, SHUT_WR);
			half_closed = 1;
		}
		for (int i = 0; i < 16; i++) {
			ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0) {
				if (received < 1 << 20)
					answer_features(buf, (size_t)r < 4096 ? (size_t)r : 4096);
				received += (size_t)r;
				continue;
			}
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				reset = r < 0;
				closed = 1;
			}
			break;
		}
	}
	close(fd);
	feature(4, (uint32_t)(half_closed * 2 + reset));
	feature(5, received == 0 ? 0 : 32 - (uint32_t)__builtin_clzll(received));
	/* The server's side goes once the bdev gave back every request. */
	while (nb_nbd_server_connection_count() != 0) {
		FUZZ_CHECK(nb_get_ticks() < deadline + 2 * nb_get_ticks_hz(),
			   "%d connections not released; input %s", nb_nbd_server_connection_count(), what);
		nb_thread_poll(g_thread, 0, 0);
	}
	fuzz_check_baseline(what);
	return 0;
}
