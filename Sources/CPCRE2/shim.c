/* CPCRE2 shim: width-independent wrappers for the 8-bit PCRE2 API. */
#include <string.h>
#include "CPCRE2.h"

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
