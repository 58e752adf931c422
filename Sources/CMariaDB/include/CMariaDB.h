/* CMariaDB: MariaDB Connector/C (libmariadb) for Swift, used by mysql: tables. */
#ifndef POSTHORN_CMARIADB_H
#define POSTHORN_CMARIADB_H
#include <mariadb/mysql.h>
#include <mariadb/errmsg.h>
#endif
