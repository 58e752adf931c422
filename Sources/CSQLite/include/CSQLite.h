/* CSQLite: SQLite 3 for Swift, used by sqlite: tables. The library is
 * loaded on demand (dlopen) by the first call; see shim.c. */
#ifndef POSTHORN_CSQLITE_H
#define POSTHORN_CSQLITE_H
#include <sqlite3.h>
/* Loads libsqlite3 if not yet loaded. NULL when it is usable, else why it
 * is not (dlerror's text). Call before the first sqlite3_* call. */
const char *posthorn_sqlite3_load_error(void);
/* SQLITE_TRANSIENT is a cast macro that Swift cannot import. */
int posthorn_sqlite3_bind_text(sqlite3_stmt *stmt, int index, const char *text, int length);
#endif
