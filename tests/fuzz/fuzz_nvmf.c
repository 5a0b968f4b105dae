/* libFuzzer harness for the NVMe/TCP target: each input is what a host sends on one connection.
 *
 * The target (nb_nvmf_target_start, subsystem nqn.2026-12.io.nativebdev:fuzz allowing any
 * host, namespace 1 a malloc 1 MiB of 512-byte blocks, a listener on 127.0.0.1 at a port the
 * kernel chooses) runs on this OS thread's host-driven thread. Per input: connect, send the
 * input while polling the target and reading what it answers, half-close, and poll until the
 * target closes its side (it must: after the host's end of stream nothing is left but what is
 * in flight). Then everything must be as before: no connection left
 * (nb_nvmf_target_connection_count), no DMA memory, no file descriptor, no thread.
 *
 * Inputs whose first byte is odd get a canned start in front — ICReq (with header and data
 * digests when bit 1 is set too), an admin Connect with its 1024 bytes in the capsule, and a
 * Property Set of CC.EN — so the fuzzer reaches admin commands, R2T and H2CData at once; even
 * inputs are sent as they are (the initialization itself is fuzzed).
 *
 * Feedback: each PDU the target answers (its type, a response's status, a C2HTermReq's fatal
 * error status) and how the connection ended are hashed into libFuzzer's extra counters. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "fuzz_common.h"

#define FUZZ_MAX_INPUT 8192
#define NQN "nqn.2026-12.io.nativebdev:fuzz"

static struct sockaddr_in g_addr;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	(void)fuzz_feature; /* the shared helpers this harness does not need */
	(void)fuzz_arm;
	(void)fuzz_check_error;
	fuzz_env_init("fuzz_nvmf");
	FUZZ_CHECK(nb_bdev_create("malloc:///fz_ns?size_mb=1", NULL, 0) == 0, "namespace bdev");
	FUZZ_CHECK(nb_nvmf_target_start(NULL) == 0, "nb_nvmf_target_start");
	FUZZ_CHECK(nb_nvmf_subsystem_create(NQN, "FUZZ", "fuzzed target", 0, 1) == 0, "subsystem");
	FUZZ_CHECK(nb_nvmf_subsystem_add_ns(NQN, "fz_ns", 0, NULL) == 1, "namespace");
	int port = nb_nvmf_subsystem_add_listener(NQN, "127.0.0.1", "0");
	FUZZ_CHECK(port > 0, "listener");
	g_addr.sin_family = AF_INET;
	g_addr.sin_port = htons((uint16_t)port);
	g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fuzz_take_baseline();
	return 0;
}

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	le16(p, (uint16_t)v);
	le16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A command capsule without digests: common header, SQE (opcode, cid, nsid, cdw10-12), and
 * `data` bytes in the capsule (an SGL data block at offset 0). */
static size_t capsule(uint8_t *p, uint8_t opc, uint16_t cid, uint32_t nsid, uint32_t cdw10, uint32_t cdw11,
		      uint32_t cdw12, size_t data)
{
	memset(p, 0, 72);
	p[0] = 0x04;
	p[2] = 72;
	p[3] = data ? 72 : 0;
	le32(p + 4, (uint32_t)(72 + data));
	uint8_t *sqe = p + 8;
	sqe[0] = opc;
	sqe[1] = data ? 0x40 : 0;
	le16(sqe + 2, cid);
	le32(sqe + 4, nsid);
	if (data) {
		le32(sqe + 32, (uint32_t)data); /* SGL length; type 01h: data block, offset */
		sqe[39] = 0x01;
	}
	le32(sqe + 40, cdw10);
	le32(sqe + 44, cdw11);
	le32(sqe + 48, cdw12);
	return 72;
}

/* ICReq, admin Connect (SQSIZE 31, KATO 0: no keep-alive to expire mid-input), CC.EN = 1. */
static size_t canned_start(uint8_t *p, int digests)
{
	size_t n = 0;
	memset(p, 0, 128);
	p[0] = 0x00;
	p[2] = 128;
	le32(p + 4, 128);
	p[11] = digests ? 3 : 0;
	n += 128;
	if (digests)
		return n; /* the fuzzer computes no CRCs: it gets the negotiation and digest errors */
	n += capsule(p + n, 0x7F, 1, 0x01 /* FCTYPE Connect */, 0, 31, 0, 1024);
	memset(p + n, 0, 1024);
	memset(p + n, 0x5A, 16);                    /* host identifier */
	le16(p + n + 16, 0xFFFF);                   /* dynamic controller */
	memcpy(p + n + 256, NQN, strlen(NQN));
	memcpy(p + n + 512, "nqn.2026-12.io.nativebdev:fuzz-host", 35);
	n += 1024;
	n += capsule(p + n, 0x7F, 2, 0x00 /* FCTYPE Property Set */, 0, 0x14, 0x00460001, 0);
	return n;
}

static void feature(uint32_t kind, uint32_t value)
{
	uint32_t h = (2166136261u ^ kind) * 16777619u;
	h = (h ^ value) * 16777619u;
	g_features[h % FUZZ_FEATURES]++;
}

/* Walks the PDUs the target sent (by their PLEN) and records each one's type and status. */
static size_t g_walked;
static void answer_features(const uint8_t *b, size_t n)
{
	while (g_walked + 8 <= n) {
		const uint8_t *h = b + g_walked;
		uint32_t plen = rd32(h + 4);
		if (plen < 8 || g_walked + plen > n)
			break;
		uint32_t detail = 0;
		if (h[0] == 0x05 && plen >= 24)
			detail = (uint32_t)(h[22] | h[23] << 8) >> 1; /* CQE status */
		else if (h[0] == 0x03 && plen >= 24)
			detail = (uint32_t)(h[8] | h[9] << 8); /* fatal error status */
		feature(1, (uint32_t)h[0] << 16 | detail);
		g_walked += plen;
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
	static uint8_t input[FUZZ_MAX_INPUT + 2048];
	size_t n = 0;
	if (size > 0 && (data[0] & 1)) {
		n = canned_start(input, data[0] & 2);
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
	static uint8_t answer[1 << 16];
	g_walked = 0;
	uint64_t deadline = nb_get_ticks() + 8 * nb_get_ticks_hz();
	while (!closed) {
		FUZZ_CHECK(nb_get_ticks() < deadline, "the target did not close the connection; input %s (%zu bytes)",
			   what, size);
		nb_thread_poll(g_thread, 0, 0);
		if (sent < n) {
			ssize_t w = send(fd, input + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != ENOTCONN)
				sent = n; /* the target closed first: the rest has nowhere to go */
		}
		if (sent == n && !half_closed) {
			shutdown(fd, SHUT_WR);
			half_closed = 1;
		}
		for (int i = 0; i < 16; i++) {
			uint8_t *to = received < sizeof(answer) ? answer + received : answer;
			size_t room = received < sizeof(answer) ? sizeof(answer) - received : sizeof(answer);
			ssize_t r = recv(fd, to, room, MSG_DONTWAIT);
			if (r > 0) {
				received += (size_t)r;
				if (received <= sizeof(answer))
					answer_features(answer, received);
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
	feature(2, (uint32_t)(half_closed * 2 + reset));
	feature(3, received == 0 ? 0 : 32 - (uint32_t)__builtin_clzll(received));
	/* The target's side goes once the bdev gave back every command. */
	while (nb_nvmf_target_connection_count() != 0) {
		FUZZ_CHECK(nb_get_ticks() < deadline + 2 * nb_get_ticks_hz(),
			   "%d connections not released; input %s", nb_nvmf_target_connection_count(), what);
		nb_thread_poll(g_thread, 0, 0);
	}
	fuzz_check_baseline(what);
	return 0;
}
