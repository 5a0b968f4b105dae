/* Calls one function of nativebdev.h as the very first call into the library, then reports
 * what it returned and nb_last_error(). first_call.py runs it once per function in a fresh
 * process: the first call starts the .NET runtime, and an export whose own frame holds stack
 * buffers aborts there (TOOLCHAIN.md pitfall A), which only a fresh process can show.
 *
 *   first_call --list           the functions in the table, one a line
 *   first_call NAME zero|forged  calls NAME; prints "result KIND VALUE" and "error MESSAGE"
 */
#include <stdio.h>
#include <string.h>
#include "first_call.h"
#include "nativebdev.h"

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < fc_count; i++)
			printf("%s\n", fc_table[i].name);
		return 0;
	}
	if (argc != 3 || (strcmp(argv[2], "zero") != 0 && strcmp(argv[2], "forged") != 0)) {
		fprintf(stderr, "usage: %s --list | NAME zero|forged\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < fc_count; i++) {
		if (strcmp(fc_table[i].name, argv[1]) != 0)
			continue;
		/* Nothing touches the library before this call. */
		struct fc_result r = fc_table[i].call(strcmp(argv[2], "forged") == 0);
		switch (r.kind) {
		case FC_VOID: printf("result void 0\n"); break;
		case FC_SIGNED: printf("result signed %lld\n", r.s); break;
		case FC_UNSIGNED: printf("result unsigned %llu\n", r.u); break;
		case FC_POINTER: printf("result pointer %s\n", r.p ? "nonnull" : "null"); break;
		}
		const char *e = nb_last_error();
		printf("error %s\n", e ? e : "(NULL)");
		fflush(stdout);
		return 0; /* a normal exit: the runtime's shutdown path runs too */
	}
	fprintf(stderr, "%s: no function %s in the table\n", argv[0], argv[1]);
	return 2;
}
