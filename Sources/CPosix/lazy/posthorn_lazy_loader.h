/* posthorn_lazy_loader.h: the on-demand library loader of the C shims that
 * stand for a shared library (COpenSSL, CMariaDB, CBerkeleyDB, CLMDB,
 * CPCRE2, CSQLite), as Postfix's dynamicmaps do: the programs do not link
 * the library, so a process that never calls it never maps it. Header
 * only, for exactly one .c file of each shim; it lives outside CPosix's
 * include/ (it is no part of that module), and Package.swift puts this
 * folder on the shims' header search path. Use:
 *
 *     #define POSTHORN_LAZY_SONAMES "libfoo.so.1"   (one or more, tried in order)
 *     #include "posthorn_lazy_loader.h"   (first: brings the C library headers)
 *     #pragma GCC visibility push(hidden)
 *     #include "CFoo.h"                   (the library's declarations)
 *     #pragma GCC visibility pop
 *     const char *posthorn_foo_load_error(void) { return lazy_load_error(); }
 *     TRAMPOLINE(int, foo_open, (const char *path), (path))
 *
 * The first use (lazy_load_error() or a trampoline) dlopens the library,
 * once per process. Each trampoline has the name and prototype that the
 * library's header declares (the compiler checks the two agree); its first
 * call finds the real function with dlsym and keeps it. Callers ask the
 * load error first, so that a missing library is a clean error; a
 * trampoline that still cannot load it or find its function is a bug: it
 * says so on stderr and aborts.
 *
 * The C library's headers come first, so that their declarations keep
 * default visibility (the library's header, included hidden, pulls them in
 * too); hidden trampolines never leave the executable's symbol table, so a
 * shared library that links the real library binds to the real functions. */
#ifndef POSTHORN_LAZY_LOADER_H
#define POSTHORN_LAZY_LOADER_H
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef POSTHORN_LAZY_SONAMES
#error "define POSTHORN_LAZY_SONAMES before including posthorn_lazy_loader.h"
#endif

static const char *const lazy_sonames[] = {POSTHORN_LAZY_SONAMES};
static pthread_once_t lazy_once = PTHREAD_ONCE_INIT;
static void *lazy_library;       /* the handle; written once, with release */
static const char *lazy_soname;  /* the soname loaded, else the first */
static char lazy_error[512];     /* why none could be loaded */

static void lazy_load(void) {
    lazy_soname = lazy_sonames[0];
    for (size_t i = 0; i < sizeof lazy_sonames / sizeof lazy_sonames[0]; i++) {
        void *handle = dlopen(lazy_sonames[i], RTLD_NOW | RTLD_LOCAL);
        if (handle) {
            lazy_soname = lazy_sonames[i];
            __atomic_store_n(&lazy_library, handle, __ATOMIC_RELEASE);
            return;
        }
        const char *text = dlerror();
        if (i == 0) snprintf(lazy_error, sizeof lazy_error, "%s%s", text ? text : lazy_sonames[0], text ? "" : ": cannot load");
    }
}

/* Whether the library is loaded, without loading it. */
static inline int lazy_loaded(void) { return __atomic_load_n(&lazy_library, __ATOMIC_ACQUIRE) != 0; }

/* Loads the library if not yet loaded. NULL when it is usable, else why it
 * is not (dlerror's text for the first soname). */
static inline const char *lazy_load_error(void) {
    pthread_once(&lazy_once, lazy_load);
    return lazy_loaded() ? 0 : lazy_error;
}

/* The real function `name`, looked up once and kept in *slot. */
static void *lazy_resolve(void **slot, const char *name) {
    void *real = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (real) return real;
    const char *error = lazy_load_error();
    if (error == 0 && (real = dlsym(lazy_library, name)) == 0) error = dlerror();
    if (real == 0) {
        fprintf(stderr, "posthorn: fatal: %s: cannot use %s: %s\n", name, lazy_soname, error ? error : "symbol not found");
        abort();
    }
    __atomic_store_n(slot, real, __ATOMIC_RELEASE);
    return real;
}

/* The function's name after macro expansion ("pcre2_match_8" for the
 * macro pcre2_match). */
#define LAZY_SYMBOL_NAME(name) #name
/* One trampoline: the library function `name`, with its header's prototype. */
#define TRAMPOLINE(type, name, params, args) \
    type name params { static void *real; return ((__typeof__(name) *) lazy_resolve(&real, LAZY_SYMBOL_NAME(name))) args; }
#define TRAMPOLINE_VOID(name, params, args) \
    void name params { static void *real; ((__typeof__(name) *) lazy_resolve(&real, LAZY_SYMBOL_NAME(name))) args; }
#endif
