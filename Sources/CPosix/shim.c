/* CPosix shim: wrappers for POSIX calls Swift cannot import (variadic
 * functions, GNU extensions). */
#define _GNU_SOURCE
#include <spawn.h>
#include <syslog.h>
#include "CPosix.h"

void posthorn_syslog(int priority, const char *text) { syslog(priority, "%s", text); }

int posthorn_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
