/* CMariaDB: MariaDB Connector/C (libmariadb) for Swift, used by mysql:
 * tables. The library is loaded on demand (dlopen) by the first call; see
 * shim.c. */
#ifndef POSTHORN_CMARIADB_H
#define POSTHORN_CMARIADB_H
#include <mariadb/mysql.h>
#include <mariadb/errmsg.h>
/* Loads libmariadb if not yet loaded. NULL when it is usable, else why it
 * is not (dlerror's text). Call before the first mysql_* call. */
const char *posthorn_mariadb_load_error(void);
/* The client library's version string. */
const char *posthorn_mariadb_client_info(void);
/* CLIENT_MULTI_RESULTS, a macro with a shift. */
unsigned long posthorn_mariadb_client_multi_results(void);
#endif
