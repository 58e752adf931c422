/* CLMDB: LMDB (liblmdb) for Swift, used by lmdb: tables. The library is
 * loaded on demand (dlopen) by the first call; see shim.c. */
#ifndef POSTHORN_CLMDB_H
#define POSTHORN_CLMDB_H
#include <lmdb.h>
/* Loads liblmdb if not yet loaded. NULL when it is usable, else why it is
 * not (dlerror's text). Call before the first mdb_* call. */
const char *posthorn_lmdb_load_error(void);
#endif
