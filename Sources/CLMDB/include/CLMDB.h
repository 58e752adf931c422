/* CLMDB: LMDB (liblmdb) for Swift, used by lmdb: tables. */
#ifndef POSTHORN_CLMDB_H
#define POSTHORN_CLMDB_H
#include <lmdb.h>
#endif
