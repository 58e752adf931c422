/* CPCRE2 shim: width-independent wrappers for the 8-bit PCRE2 API, and
 * trampolines for the pcre2_* functions Posthorn calls (the generic names
 * are macros for the _8 ones), which load PCRE2 on first use
 * (posthorn_lazy_loader.h): a process that opens no pcre: table never maps
 * libpcre2-8. Table openers call posthorn_pcre2_load_error() first, so that
 * a missing library is a table error. */

/* The library's soname on Debian 12 (package libpcre2-8-0). */
#define POSTHORN_LAZY_SONAMES "libpcre2-8.so.0"
#include "posthorn_lazy_loader.h"
#include <string.h>
/* The library's declarations, and so the trampolines below, are hidden
 * (see posthorn_lazy_loader.h). */
#pragma GCC visibility push(hidden)
#include "CPCRE2.h"
#pragma GCC visibility pop

const char *posthorn_pcre2_load_error(void) { return lazy_load_error(); }

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
