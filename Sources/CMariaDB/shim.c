/* CMariaDB shim: small wrappers for what Swift cannot import from mysql.h,
 * and trampolines for the mysql_* functions Posthorn calls, which load
 * MariaDB Connector/C on first use (posthorn_lazy_loader.h): a process that
 * opens no mysql: table never maps libmariadb. Table openers call
 * posthorn_mariadb_load_error() first, so that a missing library is a
 * table error. */

/* The library's soname on Debian 12 (package libmariadb3). */
#define POSTHORN_LAZY_SONAMES "libmariadb.so.3"
#include "posthorn_lazy_loader.h"
/* The library's declarations, and so the trampolines below, are hidden
 * (see posthorn_lazy_loader.h). */
#pragma GCC visibility push(hidden)
#include "CMariaDB.h"
#pragma GCC visibility pop

const char *posthorn_mariadb_load_error(void) { return lazy_load_error(); }

TRAMPOLINE(const char *, mysql_get_client_info, (void), ())
TRAMPOLINE(MYSQL *, mysql_init, (MYSQL *mysql), (mysql))
TRAMPOLINE(int, mysql_options, (MYSQL *mysql, enum mysql_option option, const void *arg), (mysql, option, arg))
TRAMPOLINE(int, mysql_ssl_set, (MYSQL *mysql, const char *key, const char *cert, const char *ca, const char *capath, const char *cipher), (mysql, key, cert, ca, capath, cipher))
TRAMPOLINE(MYSQL *, mysql_real_connect, (MYSQL *mysql, const char *host, const char *user, const char *passwd, const char *db, unsigned int port, const char *unix_socket, unsigned long clientflag), (mysql, host, user, passwd, db, port, unix_socket, clientflag))
TRAMPOLINE_VOID(mysql_close, (MYSQL *sock), (sock))
TRAMPOLINE(unsigned int, mysql_errno, (MYSQL *mysql), (mysql))
TRAMPOLINE(const char *, mysql_error, (MYSQL *mysql), (mysql))
TRAMPOLINE(unsigned long, mysql_real_escape_string, (MYSQL *mysql, char *to, const char *from, unsigned long length), (mysql, to, from, length))
TRAMPOLINE(int, mysql_real_query, (MYSQL *mysql, const char *q, unsigned long length), (mysql, q, length))
TRAMPOLINE(MYSQL_RES *, mysql_store_result, (MYSQL *mysql), (mysql))
TRAMPOLINE(unsigned int, mysql_field_count, (MYSQL *mysql), (mysql))
TRAMPOLINE(unsigned int, mysql_num_fields, (MYSQL_RES *res), (res))
TRAMPOLINE(MYSQL_ROW, mysql_fetch_row, (MYSQL_RES *result), (result))
TRAMPOLINE(unsigned long *, mysql_fetch_lengths, (MYSQL_RES *result), (result))
TRAMPOLINE_VOID(mysql_free_result, (MYSQL_RES *result), (result))
TRAMPOLINE(int, mysql_next_result, (MYSQL *mysql), (mysql))

const char *posthorn_mariadb_client_info(void) { return mysql_get_client_info(); }
unsigned long posthorn_mariadb_client_multi_results(void) { return CLIENT_MULTI_RESULTS; }
