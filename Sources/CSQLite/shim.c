/* CSQLite shim: wrappers for SQLite macros, and trampolines for the
 * sqlite3_* functions Posthorn calls, which load SQLite on first use
 * (posthorn_lazy_loader.h): a process that opens no sqlite: table never
 * maps libsqlite3. Table openers call posthorn_sqlite3_load_error() first,
 * so that a missing library is a table error. */

/* The library's soname on Debian 12 (package libsqlite3-0). */
#define POSTHORN_LAZY_SONAMES "libsqlite3.so.0"
#include "posthorn_lazy_loader.h"
/* The library's declarations, and so the trampolines below, are hidden
 * (see posthorn_lazy_loader.h). */
#pragma GCC visibility push(hidden)
#include "CSQLite.h"
#pragma GCC visibility pop

const char *posthorn_sqlite3_load_error(void) { return lazy_load_error(); }

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
