/* CMariaDB shim: nothing to wrap yet; SwiftPM needs one source file. */
#include "CMariaDB.h"
const char *posthorn_mariadb_client_info(void) { return mysql_get_client_info(); }
