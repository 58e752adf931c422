/* CPosix shim: non-variadic wrappers for variadic POSIX functions. */
#include <syslog.h>
#include "CPosix.h"

void posthorn_syslog(int priority, const char *text) { syslog(priority, "%s", text); }
