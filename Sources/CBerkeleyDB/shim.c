/* CBerkeleyDB shim: plain functions over Berkeley DB's method tables, and
 * trampolines for the few functions db.h exports, which load Berkeley DB on
 * first use (posthorn_lazy_loader.h): a process that opens no hash: or
 * btree: table never maps libdb. Everything else is reached through the
 * method tables of handles that db_create returns. Table openers call
 * posthorn_db_load_error() first, so that a missing library is a table
 * error. */

/* The library's soname on Debian 12 (package libdb5.3). */
#define POSTHORN_LAZY_SONAMES "libdb-5.3.so"
#include "posthorn_lazy_loader.h"
#include <string.h>
/* The library's declarations, and so the trampolines below, are hidden
 * (see posthorn_lazy_loader.h). */
#pragma GCC visibility push(hidden)
#include "CBerkeleyDB.h"
#pragma GCC visibility pop

const char *posthorn_db_load_error(void) { return lazy_load_error(); }

TRAMPOLINE(int, db_create, (DB **dbp, DB_ENV *dbenv, u_int32_t flags), (dbp, dbenv, flags))
TRAMPOLINE(char *, db_strerror, (int error), (error))
TRAMPOLINE(char *, db_version, (int *major, int *minor, int *patch), (major, minor, patch))

int posthorn_db_open(DB **dbp, const char *path, DBTYPE type, u_int32_t flags, int mode) {
    DB *db = 0;
    int err = db_create(&db, 0, 0);
    if (err != 0) return err;
    err = db->open(db, 0, path, 0, type, flags, mode);
    if (err != 0) { db->close(db, 0); return err; }
    *dbp = db;
    return 0;
}

int posthorn_db_open_cache(DB **dbp, const char *path, DBTYPE type, u_int32_t flags, int mode, u_int32_t cachesize) {
    DB *db = 0;
    int err = db_create(&db, 0, 0);
    if (err != 0) return err;
    if (cachesize > 0 && (err = db->set_cachesize(db, 0, cachesize, 0)) != 0) { db->close(db, 0); return err; }
    err = db->open(db, 0, path, 0, type, flags, mode);
    if (err != 0) { db->close(db, 0); return err; }
    *dbp = db;
    return 0;
}

static DBT make_dbt(const void *data, u_int32_t len) {
    DBT d; memset(&d, 0, sizeof d); d.data = (void *) data; d.size = len; return d;
}

int posthorn_db_get(DB *db, const void *key, u_int32_t keylen, void **value, u_int32_t *valuelen) {
    DBT k = make_dbt(key, keylen), v; memset(&v, 0, sizeof v);
    int err = db->get(db, 0, &k, &v, 0);
    if (err == 0) { *value = v.data; *valuelen = v.size; }
    return err;
}

int posthorn_db_put(DB *db, const void *key, u_int32_t keylen, const void *value, u_int32_t valuelen, u_int32_t flags) {
    DBT k = make_dbt(key, keylen), v = make_dbt(value, valuelen);
    return db->put(db, 0, &k, &v, flags);
}

int posthorn_db_del(DB *db, const void *key, u_int32_t keylen) {
    DBT k = make_dbt(key, keylen);
    return db->del(db, 0, &k, 0);
}

int posthorn_db_sync(DB *db) { return db->sync(db, 0); }
int posthorn_db_close(DB *db) { return db->close(db, 0); }
int posthorn_db_fd(DB *db, int *fd) { return db->fd(db, fd); }
int posthorn_db_cursor(DB *db, DBC **cursor) { return db->cursor(db, 0, cursor, 0); }

int posthorn_dbc_get(DBC *cursor, void **key, u_int32_t *keylen, void **value, u_int32_t *valuelen, u_int32_t flags) {
    DBT k, v; memset(&k, 0, sizeof k); memset(&v, 0, sizeof v);
    int err = cursor->c_get(cursor, &k, &v, flags);
    if (err == 0) { *key = k.data; *keylen = k.size; *value = v.data; *valuelen = v.size; }
    return err;
}

int posthorn_dbc_close(DBC *cursor) { return cursor->c_close(cursor); }
const char *posthorn_db_strerror(int error) { return db_strerror(error); }
const char *posthorn_db_version(int *major, int *minor, int *patch) { return db_version(major, minor, patch); }
