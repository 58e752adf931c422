/* CLMDB shim: nothing to wrap yet; SwiftPM needs one source file. */
#include "CLMDB.h"
const char *posthorn_lmdb_version(void) { return mdb_version(0, 0, 0); }
