/* CLMDB shim: trampolines that load LMDB on demand, as Postfix's
 * dynamicmaps do: the programs do not link liblmdb, so a process that
 * opens no lmdb: table never maps it. Each trampoline has the name and
 * prototype that lmdb.h declares (the compiler checks the two agree); its
 * first call dlopens the library, finds the real function and keeps it.
 * Table openers call posthorn_lmdb_load_error() first, so that a missing
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
#include "CLMDB.h"
#pragma GCC visibility pop

/* The library's soname on Debian 12 (package liblmdb0). */
#define LMDB_SONAME "liblmdb.so.0"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *library;
static char load_error[512];

static void load(void) {
    library = dlopen(LMDB_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (library == 0) {
        const char *text = dlerror();
        snprintf(load_error, sizeof load_error, "%s", text ? text : LMDB_SONAME ": cannot load");
    }
}

const char *posthorn_lmdb_load_error(void) {
    pthread_once(&load_once, load);
    return library ? 0 : load_error;
}

/* The real function `name`, looked up once and kept in *slot. */
static void *resolve(void **slot, const char *name) {
    void *real = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (real) return real;
    const char *error = posthorn_lmdb_load_error();
    if (error == 0 && (real = dlsym(library, name)) == 0) error = dlerror();
    if (real == 0) {
        fprintf(stderr, "posthorn: fatal: %s: cannot use %s: %s\n", name, LMDB_SONAME, error ? error : "symbol not found");
        abort();
    }
    __atomic_store_n(slot, real, __ATOMIC_RELEASE);
    return real;
}

/* One trampoline: the library function `name`, with its header's prototype. */
#define TRAMPOLINE(type, name, params, args) \
    type name params { static void *real; return ((__typeof__(name) *) resolve(&real, #name)) args; }
#define TRAMPOLINE_VOID(name, params, args) \
    void name params { static void *real; ((__typeof__(name) *) resolve(&real, #name)) args; }

TRAMPOLINE(char *, mdb_version, (int *major, int *minor, int *patch), (major, minor, patch))
TRAMPOLINE(char *, mdb_strerror, (int err), (err))
TRAMPOLINE(int, mdb_env_create, (MDB_env **env), (env))
TRAMPOLINE(int, mdb_env_set_mapsize, (MDB_env *env, size_t size), (env, size))
TRAMPOLINE(int, mdb_env_open, (MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode), (env, path, flags, mode))
TRAMPOLINE(int, mdb_env_get_fd, (MDB_env *env, mdb_filehandle_t *fd), (env, fd))
TRAMPOLINE(int, mdb_env_info, (MDB_env *env, MDB_envinfo *stat), (env, stat))
TRAMPOLINE(int, mdb_env_sync, (MDB_env *env, int force), (env, force))
TRAMPOLINE_VOID(mdb_env_close, (MDB_env *env), (env))
TRAMPOLINE(int, mdb_txn_begin, (MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn), (env, parent, flags, txn))
TRAMPOLINE(int, mdb_txn_commit, (MDB_txn *txn), (txn))
TRAMPOLINE_VOID(mdb_txn_abort, (MDB_txn *txn), (txn))
TRAMPOLINE(int, mdb_dbi_open, (MDB_txn *txn, const char *name, unsigned int flags, MDB_dbi *dbi), (txn, name, flags, dbi))
TRAMPOLINE(int, mdb_drop, (MDB_txn *txn, MDB_dbi dbi, int del), (txn, dbi, del))
TRAMPOLINE(int, mdb_get, (MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data), (txn, dbi, key, data))
TRAMPOLINE(int, mdb_put, (MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags), (txn, dbi, key, data, flags))
TRAMPOLINE(int, mdb_del, (MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data), (txn, dbi, key, data))
TRAMPOLINE(int, mdb_cursor_open, (MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cursor), (txn, dbi, cursor))
TRAMPOLINE(int, mdb_cursor_get, (MDB_cursor *cursor, MDB_val *key, MDB_val *data, MDB_cursor_op op), (cursor, key, data, op))
TRAMPOLINE_VOID(mdb_cursor_close, (MDB_cursor *cursor), (cursor))

const char *posthorn_lmdb_version(void) { return mdb_version(0, 0, 0); }
