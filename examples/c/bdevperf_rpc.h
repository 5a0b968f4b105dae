/* bdevperf -z: SPDK's "wait for the perform_tests RPC" on the -r socket (bdevperf_rpc.c). */
#ifndef BDEVPERF_RPC_H
#define BDEVPERF_RPC_H
#include <stdatomic.h>
#include <stddef.h>

/* Listens on the Unix socket PATH and answers requests until one is perform_tests: returns its
 * connection (the reply goes there) with the request's id text in ID and its params object (or
 * "{}") in PARAMS, malloc'd. -1 when listening fails or *STOP becomes non-zero first. */
int bperf_rpc_wait(const char *path, atomic_int *stop, char *id, size_t idlen, char **params);

/* {"jsonrpc":"2.0","id":ID,"result":RESULT} or {"jsonrpc":"2.0","id":ID,"error":{...}}. */
int bperf_rpc_reply(int fd, const char *id, const char *result);
int bperf_rpc_error(int fd, const char *id, int code, const char *message);

/* The value of KEY in the flat JSON object OBJ (a pointer at its first character), or NULL. */
const char *bperf_json_get(const char *obj, const char *key);

#endif
