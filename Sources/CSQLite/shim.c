/* CSQLite shim: wrappers for SQLite macros, and trampolines that load
 * SQLite on demand, as Postfix's dynamicmaps do: the programs do not link
 * libsqlite3, so a process that opens no sqlite: table never maps it.
 * Each trampoline has the name and prototype that sqlite3.h declares (the
 * compiler checks the two agree); its first call dlopens the library,
 * finds the real function and keeps it. Table openers call
 * posthorn_sqlite3_load_error() first, so that a missing library is a
 * table error; a trampoline that still cannot load it aborts (a bug). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
/* The library's declarations, and so the trampolines below, are hidden:
 * they never leave the executable's symbol table, so a shared library that
 * links this library itself binds to the real functions. The C library's
 * headers come first so that their declarations keep default visibility. */
#pragma GCC visibility push(hidden)
#include "CSQLite.h"
#pragma GCC visibility pop

/* The library's soname on Debian 12 (package libsqlite3-0). */
#define SQLITE_SONAME "libsqlite3.so.0"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *library;
static char load_error[512];

static void load(void) {
    library = dlopen(SQLITE_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (library == 0) {
        const char *text = dlerror();
        snprintf(load_error, sizeof load_error, "%s", text ? text : SQLITE_SONAME ": cannot load");
    }
}

const char *posthorn_sqlite3_load_error(void) {
    pthread_once(&load_once, load);
    return library ? 0 : load_error;
}

/* The real function `name`, looked up once and kept in *slot. */
static void *resolve(void **slot, const char *name) {
    void *real = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (real) return real;
    const char *error = posthorn_sqlite3_load_error();
    if (error == 0 && (real = dlsym(library, name)) == 0) error = dlerror();
    if (real == 0) {
        fprintf(stderr, "posthorn: fatal: %s: cannot use %s: %s\n", name, SQLITE_SONAME, error ? error : "symbol not found");
        abort();
    }
    __atomic_store_n(slot, real, __ATOMIC_RELEASE);
    return real;
}

/* One trampoline: the library function `name`, with its header's prototype. */
#define TRAMPOLINE(type, name, params, args) \
    type name params { static void *real; return ((__typeof__(name) *) resolve(&real, #name)) args; }

TRAMPOLINE(int, sqlite3_open, (const char *filename, sqlite3 **db), (filename, db))
TRAMPOLINE(int, sqlite3_open_v2, (const char *filename, sqlite3 **db, int flags, const char *vfs), (filename, db, flags, vfs))
TRAMPOLINE(int, sqlite3_close, (sqlite3 *db), (db))
TRAMPOLINE(int, sqlite3_busy_timeout, (sqlite3 *db, int ms), (db, ms))
TRAMPOLINE(const char *, sqlite3_errmsg, (sqlite3 *db), (db))
TRAMPOLINE(const char *, sqlite3_errstr, (int status), (status))
TRAMPOLINE(int, sqlite3_exec, (sqlite3 *db, const char *sql, int (*callback)(void *, int, char **, char **), void *arg, char **errmsg), (db, sql, callback, arg, errmsg))
TRAMPOLINE(int, sqlite3_prepare_v2, (sqlite3 *db, const char *sql, int bytes, sqlite3_stmt **stmt, const char **tail), (db, sql, bytes, stmt, tail))
TRAMPOLINE(int, sqlite3_bind_text, (sqlite3_stmt *stmt, int index, const char *text, int length, void (*destructor)(void *)), (stmt, index, text, length, destructor))
TRAMPOLINE(int, sqlite3_step, (sqlite3_stmt *stmt), (stmt))
TRAMPOLINE(int, sqlite3_column_count, (sqlite3_stmt *stmt), (stmt))
TRAMPOLINE(int, sqlite3_column_type, (sqlite3_stmt *stmt, int column), (stmt, column))
TRAMPOLINE(const unsigned char *, sqlite3_column_text, (sqlite3_stmt *stmt, int column), (stmt, column))
TRAMPOLINE(int, sqlite3_column_bytes, (sqlite3_stmt *stmt, int column), (stmt, column))
TRAMPOLINE(int, sqlite3_finalize, (sqlite3_stmt *stmt), (stmt))

int posthorn_sqlite3_bind_text(sqlite3_stmt *stmt, int index, const char *text, int length) {
    return sqlite3_bind_text(stmt, index, text, length, SQLITE_TRANSIENT);
}
