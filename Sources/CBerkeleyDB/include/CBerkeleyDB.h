/* CBerkeleyDB: Berkeley DB (libdb) for Swift, used by hash: and btree:
 * tables. DB handles are structs of function pointers; the wrappers below
 * call through them so Swift code stays plain. The library is loaded on
 * demand (dlopen) by the first call; see shim.c. */
#ifndef POSTHORN_CBERKELEYDB_H
#define POSTHORN_CBERKELEYDB_H
#include <db.h>

/* Loads libdb if not yet loaded. NULL when it is usable, else why it is
 * not (dlerror's text). Call before the first posthorn_db_* call. */
const char *posthorn_db_load_error(void);

/* Open (creating when flags say so) a database file of the given type
 * (DB_HASH or DB_BTREE). Returns 0 or a Berkeley DB / errno code. */
int posthorn_db_open(DB **dbp, const char *path, DBTYPE type, u_int32_t flags, int mode);
/* As posthorn_db_open, with a cache of cachesize bytes (0: the default),
 * as Postfix's berkeley_db_create_buffer_size and _read_buffer_size. */
int posthorn_db_open_cache(DB **dbp, const char *path, DBTYPE type, u_int32_t flags, int mode, u_int32_t cachesize);
int posthorn_db_get(DB *db, const void *key, u_int32_t keylen, void **value, u_int32_t *valuelen);
int posthorn_db_put(DB *db, const void *key, u_int32_t keylen, const void *value, u_int32_t valuelen, u_int32_t flags);
int posthorn_db_del(DB *db, const void *key, u_int32_t keylen);
int posthorn_db_sync(DB *db);
int posthorn_db_close(DB *db);
int posthorn_db_fd(DB *db, int *fd);
int posthorn_db_cursor(DB *db, DBC **cursor);
/* Step a cursor (DB_FIRST, DB_NEXT). Returns 0, DB_NOTFOUND or an error. */
int posthorn_dbc_get(DBC *cursor, void **key, u_int32_t *keylen, void **value, u_int32_t *valuelen, u_int32_t flags);
int posthorn_dbc_close(DBC *cursor);
const char *posthorn_db_strerror(int error);
const char *posthorn_db_version(int *major, int *minor, int *patch);
#endif
