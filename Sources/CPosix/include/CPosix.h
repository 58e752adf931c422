/* CPosix: POSIX calls Swift cannot import directly (variadic ones). */
#ifndef POSTHORN_CPOSIX_H
#define POSTHORN_CPOSIX_H
#include <spawn.h>
/* syslog(priority, "%s", text). */
void posthorn_syslog(int priority, const char *text);
/* posix_spawn_file_actions_addclosefrom_np (a GNU extension). */
int posthorn_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from);
#endif
