/* CLMDB shim: trampolines for the mdb_* functions Posthorn calls, which
 * load LMDB on first use (posthorn_lazy_loader.h): a process that opens no
 * lmdb: table never maps liblmdb. Table openers call
 * posthorn_lmdb_load_error() first, so that a missing library is a table
 * error. */

/* The library's soname on Debian 12 (package liblmdb0). */
#define POSTHORN_LAZY_SONAMES "liblmdb.so.0"
#include "posthorn_lazy_loader.h"
/* The library's declarations, and so the trampolines below, are hidden
 * (see posthorn_lazy_loader.h). */
#pragma GCC visibility push(hidden)
#include "CLMDB.h"
#pragma GCC visibility pop

const char *posthorn_lmdb_load_error(void) { return lazy_load_error(); }

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
