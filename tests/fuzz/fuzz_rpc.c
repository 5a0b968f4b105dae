/* libFuzzer harness for the JSON-RPC server: each input is what a client (rpc.py or a hostile
 * one) sends on one connection to nb_rpc_server_start's Unix socket.
 *
 * The server runs on this OS thread's host-driven thread with every method the runtime has.
 * Per input: connect, send the input while polling the server and reading whatever it answers,
 * half-close, and poll until the server closes its side (after the client's end of stream it
 * must: a reply still deferred goes nowhere). The reply stream must be one JSON object (or a
 * batch's array) per line, the server's framing, each naming "jsonrpc" — a crash, a hang or a
 * garbled reply is a failure. Then a fresh connection must still get spdk_get_version answered, and everything
 * the input made through the methods is taken down again (bdevs, crypto keys, fault rules, an
 * NBD server) before the usual checks: no DMA memory, no descriptor, no thread left.
 *
 * Inputs that name spdk_kill_instance are skipped: it signals this process, as it must.
 *
 * Feedback: each reply's error code (or "result") and the method it answered are hashed into
 * libFuzzer's extra counters (see fuzz_common.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "fuzz_methods.h"

#define FUZZ_MAX_INPUT 8192

static struct sockaddr_un g_addr;
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	(void)fuzz_feature; /* the shared helpers this harness does not need */
	(void)fuzz_arm;
	(void)fuzz_check_error;
	fuzz_env_init("fuzz_rpc");
	/* Bases for the methods that build on one (passthru, error, delay, crypto, raid, nexus). */
	FUZZ_CHECK(nb_bdev_create("malloc:///Malloc0?size_mb=1", NULL, 0) == 0, "Malloc0");
	FUZZ_CHECK(nb_bdev_create("null:///Null0?size_mb=1", NULL, 0) == 0, "Null0");
	g_addr.sun_family = AF_UNIX;
	snprintf(g_addr.sun_path, sizeof(g_addr.sun_path), "/tmp/nb_fuzz_rpc.%d.sock", (int)getpid());
	FUZZ_CHECK(nb_rpc_server_start(g_addr.sun_path) == 0, "nb_rpc_server_start");
	remember_bdevs(g_baseline_bdevs, sizeof(g_baseline_bdevs));
	fuzz_take_baseline();
	return 0;
}

static void feature(uint32_t kind, const char *text, size_t len)
{
	uint32_t h = (2166136261u ^ kind) * 16777619u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)text[i]) * 16777619u;
	g_features[h % FUZZ_FEATURES]++;
}

/* One reply line: a JSON object (a batch: an array of them) with "jsonrpc"; its code or
 * "result" is the feature. */
static void check_reply(const char *line, size_t len, const char *what)
{
	FUZZ_CHECK(len >= 2 && ((line[0] == '{' && line[len - 1] == '}') || (line[0] == '[' && line[len - 1] == ']')),
		   "a reply is not one JSON object (or a batch's array) per line: "
		   "%.*s; input %s", (int)(len < 200 ? len : 200), line, what);
	FUZZ_CHECK(memmem(line, len, "\"jsonrpc\":\"2.0\"", 15) != NULL, "a reply without jsonrpc 2.0: %.*s; input %s",
		   (int)(len < 200 ? len : 200), line, what);
	const char *code = memmem(line, len, "\"code\":", 7);
	if (code) {
		const char *end = code + 7;
		while (end < line + len && (*end == '-' || (*end >= '0' && *end <= '9')))
			end++;
		feature(1, code, (size_t)(end - code));
	} else {
		feature(2, "result", 6);
	}
}

/* Sends `data`, half-closes, reads replies until the server closes; returns the bytes read. */
static size_t exchange(const uint8_t *data, size_t n, const char *what, int *replies)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0, "socket");
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) == 0, "connect: %s", strerror(errno));
	size_t sent = 0, received = 0, have = 0;
	int half_closed = 0, closed = 0;
	static char buf[1 << 16];
	uint64_t deadline = nb_get_ticks() + 8 * nb_get_ticks_hz();
	while (!closed) {
		FUZZ_CHECK(nb_get_ticks() < deadline, "the server did not close the connection; input %s", what);
		nb_thread_poll(g_thread, 0, 0);
		if (sent < n) {
			ssize_t w = send(fd, data + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN)
				sent = n; /* the server closed first (a parse error): the rest goes nowhere */
		}
		if (sent == n && !half_closed) {
			shutdown(fd, SHUT_WR);
			half_closed = 1;
		}
		for (int i = 0; i < 16; i++) {
			ssize_t r = recv(fd, buf + have, sizeof(buf) - have - 1, MSG_DONTWAIT);
			if (r > 0) {
				received += (size_t)r;
				have += (size_t)r;
				char *start = buf, *nl;
				while ((nl = memchr(start, '\n', have - (size_t)(start - buf))) != NULL) {
					check_reply(start, (size_t)(nl - start), what);
					(*replies)++;
					start = nl + 1;
				}
				have -= (size_t)(start - buf);
				memmove(buf, start, have);
				FUZZ_CHECK(have < sizeof(buf) - 1, "a reply line over 64 KiB; input %s", what);
				continue;
			}
			if (r == 0 || (r < 0 && errno != EAGAIN))
				closed = 1;
			break;
		}
	}
	FUZZ_CHECK(have == 0, "the reply stream ended inside a line; input %s", what);
	close(fd);
	return received;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT || memmem(data, size, "kill_instance", 13) != NULL)
		return -1;
	char what[64];
	size_t head = size < 24 ? size : 24;
	for (size_t i = 0; i < head; i++)
		snprintf(what + 2 * i, 3, "%02x", data[i]);
	what[2 * head] = '\0';
	int replies = 0;
	size_t received = exchange(data, size, what, &replies);
	char count = (char)(replies < 8 ? replies : 8);
	feature(3, &count, 1);
	feature(4, received ? "some" : "none", 4);
	/* The server still serves. */
	static const char version[] = "{\"jsonrpc\":\"2.0\",\"method\":\"spdk_get_version\",\"id\":1}";
	int ok = 0;
	exchange((const uint8_t *)version, sizeof(version) - 1, what, &ok);
	FUZZ_CHECK(ok == 1, "spdk_get_version got %d replies after input %s", ok, what);
	undo_methods();
	check_bdevs_as_before(what);
	fuzz_check_baseline(what);
	return 0;
}
