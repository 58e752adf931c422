/* CSQLite: SQLite 3 for Swift, used by sqlite: tables. */
#ifndef POSTHORN_CSQLITE_H
#define POSTHORN_CSQLITE_H
#include <sqlite3.h>
/* SQLITE_TRANSIENT is a cast macro that Swift cannot import. */
int posthorn_sqlite3_bind_text(sqlite3_stmt *stmt, int index, const char *text, int length);
#endif
