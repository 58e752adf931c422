/* CPosix: POSIX calls Swift cannot import directly (variadic ones). */
#ifndef POSTHORN_CPOSIX_H
#define POSTHORN_CPOSIX_H
/* syslog(priority, "%s", text). */
void posthorn_syslog(int priority, const char *text);
#endif
