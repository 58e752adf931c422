/* CPCRE2 shim: width-independent wrappers for the 8-bit PCRE2 API, and
 * trampolines that load PCRE2 on demand, as Postfix's dynamicmaps do: the
 * programs do not link libpcre2-8, so a process that opens no pcre: table
 * never maps it. Each trampoline has the name and prototype that pcre2.h
 * declares (the generic names are macros for the _8 ones; the compiler
 * checks the two agree); its first call dlopens the library, finds the
 * real function and keeps it. Table openers call posthorn_pcre2_load_error()
 * first, so that a missing library is a table error; a trampoline that
 * still cannot load it aborts (a bug). */
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
#include "CPCRE2.h"
#pragma GCC visibility pop

/* The library's soname on Debian 12 (package libpcre2-8-0). */
#define PCRE2_SONAME "libpcre2-8.so.0"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *library;
static char load_error[512];

static void load(void) {
    library = dlopen(PCRE2_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (library == 0) {
        const char *text = dlerror();
        snprintf(load_error, sizeof load_error, "%s", text ? text : PCRE2_SONAME ": cannot load");
    }
}

const char *posthorn_pcre2_load_error(void) {
    pthread_once(&load_once, load);
    return library ? 0 : load_error;
}

/* The real function `name`, looked up once and kept in *slot. */
static void *resolve(void **slot, const char *name) {
    void *real = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (real) return real;
    const char *error = posthorn_pcre2_load_error();
    if (error == 0 && (real = dlsym(library, name)) == 0) error = dlerror();
    if (real == 0) {
        fprintf(stderr, "posthorn: fatal: %s: cannot use %s: %s\n", name, PCRE2_SONAME, error ? error : "symbol not found");
        abort();
    }
    __atomic_store_n(slot, real, __ATOMIC_RELEASE);
    return real;
}

/* The name after macro expansion: "pcre2_match_8" for pcre2_match. */
#define SYMBOL_NAME(name) #name
/* One trampoline: the library function `name`, with its header's prototype. */
#define TRAMPOLINE(type, name, params, args) \
    type name params { static void *real; return ((__typeof__(name) *) resolve(&real, SYMBOL_NAME(name))) args; }
#define TRAMPOLINE_VOID(name, params, args) \
    void name params { static void *real; ((__typeof__(name) *) resolve(&real, SYMBOL_NAME(name))) args; }

TRAMPOLINE(pcre2_code *, pcre2_compile, (PCRE2_SPTR pattern, PCRE2_SIZE length, uint32_t options, int *error, PCRE2_SIZE *offset, pcre2_compile_context *context), (pattern, length, options, error, offset, context))
TRAMPOLINE_VOID(pcre2_code_free, (pcre2_code *code), (code))
TRAMPOLINE(int, pcre2_pattern_info, (const pcre2_code *code, uint32_t what, void *where), (code, what, where))
TRAMPOLINE(pcre2_match_data *, pcre2_match_data_create, (uint32_t pairs, pcre2_general_context *context), (pairs, context))
TRAMPOLINE_VOID(pcre2_match_data_free, (pcre2_match_data *data), (data))
TRAMPOLINE(int, pcre2_match, (const pcre2_code *code, PCRE2_SPTR subject, PCRE2_SIZE length, PCRE2_SIZE start, uint32_t options, pcre2_match_data *data, pcre2_match_context *context), (code, subject, length, start, options, data, context))
TRAMPOLINE(uint32_t, pcre2_get_ovector_count, (pcre2_match_data *data), (data))
TRAMPOLINE(PCRE2_SIZE *, pcre2_get_ovector_pointer, (pcre2_match_data *data), (data))
TRAMPOLINE(int, pcre2_get_error_message, (int error, PCRE2_UCHAR *buffer, PCRE2_SIZE size), (error, buffer, size))

pcre2_code_8 *posthorn_pcre2_compile(const char *pattern, size_t length, uint32_t options, int *error, size_t *offset) {
    return pcre2_compile((PCRE2_SPTR) pattern, length, options, error, offset, 0);
}

void posthorn_pcre2_code_free(pcre2_code_8 *code) { pcre2_code_free(code); }

int posthorn_pcre2_match(const pcre2_code_8 *code, const char *subject, size_t length, uint32_t options, size_t *ovector, uint32_t ovecsize) {
    pcre2_match_data *md = pcre2_match_data_create(ovecsize, 0);
    if (md == 0) return PCRE2_ERROR_NOMEMORY;
    int rc = pcre2_match(code, (PCRE2_SPTR) subject, length, 0, options, md, 0);
    if (rc > 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        uint32_t pairs = pcre2_get_ovector_count(md);
        if (pairs > ovecsize) pairs = ovecsize;
        for (uint32_t i = 0; i < 2 * pairs; i++) ovector[i] = ov[i];
    }
    pcre2_match_data_free(md);
    return rc;
}

int posthorn_pcre2_error_message(int error, char *buffer, size_t size) {
    return pcre2_get_error_message(error, (PCRE2_UCHAR *) buffer, size);
}

uint32_t posthorn_pcre2_capture_count(const pcre2_code_8 *code) {
    uint32_t count = 0;
    if (pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &count) != 0) return 0;
    return count;
}
