/* CBerkeleyDB shim: plain functions over Berkeley DB's method tables, and
 * trampolines that load Berkeley DB on demand, as Postfix's dynamicmaps
 * do: the programs do not link libdb, so a process that opens no hash: or
 * btree: table never maps it. Each trampoline has the name and prototype
 * that db.h declares (the compiler checks the two agree); its first call
 * dlopens the library, finds the real function and keeps it. Everything
 * else is reached through the method tables of handles that db_create
 * returns. Table openers call posthorn_db_load_error() first, so that a
 * missing library is a table error; a trampoline that still cannot load
 * it aborts (a bug). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* The library's declarations, and so the trampolines below, are hidden:
 * they never leave the executable's symbol table, so a shared library that
 * links this library itself binds to the real functions. The C library's
 * headers come first so that their declarations keep default visibility. */
#pragma GCC visibility push(hidden)
#include "CBerkeleyDB.h"
#pragma GCC visibility pop

/* The library's soname on Debian 12 (package libdb5.3). */
#define BERKELEY_DB_SONAME "libdb-5.3.so"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *library;
static char load_error[512];

static void load(void) {
    library = dlopen(BERKELEY_DB_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (library == 0) {
        const char *text = dlerror();
        snprintf(load_error, sizeof load_error, "%s", text ? text : BERKELEY_DB_SONAME ": cannot load");
    }
}

const char *posthorn_db_load_error(void) {
    pthread_once(&load_once, load);
    return library ? 0 : load_error;
}

/* The real function `name`, looked up once and kept in *slot. */
static void *resolve(void **slot, const char *name) {
    void *real = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (real) return real;
    const char *error = posthorn_db_load_error();
    if (error == 0 && (real = dlsym(library, name)) == 0) error = dlerror();
    if (real == 0) {
        fprintf(stderr, "posthorn: fatal: %s: cannot use %s: %s\n", name, BERKELEY_DB_SONAME, error ? error : "symbol not found");
        abort();
    }
    __atomic_store_n(slot, real, __ATOMIC_RELEASE);
    return real;
}

/* One trampoline: the library function `name`, with its header's prototype. */
#define TRAMPOLINE(type, name, params, args) \
    type name params { static void *real; return ((__typeof__(name) *) resolve(&real, #name)) args; }

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
