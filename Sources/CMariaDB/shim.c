/* CMariaDB shim: small wrappers for what Swift cannot import from mysql.h. */
#include "CMariaDB.h"
const char *posthorn_mariadb_client_info(void) { return mysql_get_client_info(); }
unsigned long posthorn_mariadb_client_multi_results(void) { return CLIENT_MULTI_RESULTS; }
