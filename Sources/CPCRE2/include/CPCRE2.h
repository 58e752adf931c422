/* CPCRE2: PCRE2 (8-bit code units) for Swift, used by pcre: tables.
 * PCRE2's API names are macros over the code-unit width; the wrappers
 * below give Swift callable functions. The library is loaded on demand
 * (dlopen) by the first call; see shim.c. */
#ifndef POSTHORN_CPCRE2_H
#define POSTHORN_CPCRE2_H
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Loads libpcre2-8 if not yet loaded. NULL when it is usable, else why it
 * is not (dlerror's text). Call before the first posthorn_pcre2_* call. */
const char *posthorn_pcre2_load_error(void);

/* Compile a pattern; on failure returns NULL and sets *error and *offset. */
pcre2_code_8 *posthorn_pcre2_compile(const char *pattern, size_t length, uint32_t options, int *error, size_t *offset);
void posthorn_pcre2_code_free(pcre2_code_8 *code);
/* Match subject; fills ovector (pairs of offsets, at most ovecsize pairs).
 * Returns PCRE2's result: > 0 the number of pairs set, PCRE2_ERROR_NOMATCH, or an error. */
int posthorn_pcre2_match(const pcre2_code_8 *code, const char *subject, size_t length, uint32_t options, size_t *ovector, uint32_t ovecsize);
/* The number of capturing groups in a compiled pattern. */
uint32_t posthorn_pcre2_capture_count(const pcre2_code_8 *code);
/* The message for an error code, written to buffer. */
int posthorn_pcre2_error_message(int error, char *buffer, size_t size);
#endif
