/* COpenSSL shim: wrappers for OpenSSL macros. */
#include "COpenSSL.h"

unsigned long posthorn_ssl_version_number(void) { return OPENSSL_VERSION_NUMBER; }
uint64_t posthorn_ssl_ctx_set_options(SSL_CTX *ctx, uint64_t options) { return SSL_CTX_set_options(ctx, options); }
long posthorn_ssl_set_sni(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
