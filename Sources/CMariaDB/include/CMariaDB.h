/* CMariaDB: MariaDB Connector/C (libmariadb) for Swift, used by mysql: tables. */
#ifndef POSTHORN_CMARIADB_H
#define POSTHORN_CMARIADB_H
#include <mariadb/mysql.h>
#include <mariadb/errmsg.h>
/* The client library's version string. */
const char *posthorn_mariadb_client_info(void);
/* CLIENT_MULTI_RESULTS, a macro with a shift. */
unsigned long posthorn_mariadb_client_multi_results(void);
#endif
