/* CMariaDB shim: small wrappers for what Swift cannot import from mysql.h,
 * and trampolines that load MariaDB Connector/C on demand, as Postfix's
 * dynamicmaps do: the programs do not link libmariadb, so a process that
 * opens no mysql: table never maps it. Each trampoline has the name and
 * prototype that mysql.h declares (the compiler checks the two agree); its
 * first call dlopens the library, finds the real function and keeps it.
 * Table openers call posthorn_mariadb_load_error() first, so that a missing
 * library is a table error; a trampoline that still cannot load it aborts
 * (a bug). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
/* The library's declarations, and so the trampolines below, are hidden:
 * they never leave the executable's symbol table, so a shared library that
 * links this library itself binds to the real functions. The C library's
 * headers come first so that their declarations keep default visibility. */
#pragma GCC visibility push(hidden)
#include "CMariaDB.h"
#pragma GCC visibility pop

/* The library's soname on Debian 12 (package libmariadb3). */
#define MARIADB_SONAME "libmariadb.so.3"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *library;
static char load_error[512];

static void load(void) {
    library = dlopen(MARIADB_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (library == 0) {
        const char *text = dlerror();
        snprintf(load_error, sizeof load_error, "%s", text ? text : MARIADB_SONAME ": cannot load");
    }
}

const char *posthorn_mariadb_load_error(void) {
    pthread_once(&load_once, load);
    return library ? 0 : load_error;
}

/* The real function `name`, looked up once and kept in *slot. */
static void *resolve(void **slot, const char *name) {
    void *real = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (real) return real;
    const char *error = posthorn_mariadb_load_error();
    if (error == 0 && (real = dlsym(library, name)) == 0) error = dlerror();
    if (real == 0) {
        fprintf(stderr, "posthorn: fatal: %s: cannot use %s: %s\n", name, MARIADB_SONAME, error ? error : "symbol not found");
        abort();
    }
    __atomic_store_n(slot, real, __ATOMIC_RELEASE);
    return real;
}

/* One trampoline: the library function `name`, with its header's prototype. */
#define TRAMPOLINE(type, name, params, args) \
    type STDCALL name params { static void *real; return ((__typeof__(name) *) resolve(&real, #name)) args; }
#define TRAMPOLINE_VOID(name, params, args) \
    void STDCALL name params { static void *real; ((__typeof__(name) *) resolve(&real, #name)) args; }

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
