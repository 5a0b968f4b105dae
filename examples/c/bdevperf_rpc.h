/* bdevperf -z: perform_tests' parameters (bdevperf_rpc.c). */
#ifndef BDEVPERF_RPC_H
#define BDEVPERF_RPC_H

/* The value of KEY in the flat JSON object OBJ (a pointer at its first character), or NULL. */
const char *bperf_json_get(const char *obj, const char *key);

#endif
