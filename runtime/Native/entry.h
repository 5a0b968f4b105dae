/* What the generated entry points (entry.c) share with fork.c: the flag a fork()ed child
 * sees set, and what nb_last_error() answers there. Hidden: not part of the ABI. */
#ifndef NB_NATIVE_ENTRY_H
#define NB_NATIVE_ENTRY_H

__attribute__((visibility("hidden"))) extern volatile int nb_forked;
__attribute__((visibility("hidden"))) extern const char nb_fork_message[];

#endif
