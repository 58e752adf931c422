/* COpenSSL: OpenSSL (libssl, libcrypto) for Swift. Macros that Swift cannot
 * import are wrapped as small functions named posthorn_ssl_*. */
#ifndef POSTHORN_COPENSSL_H
#define POSTHORN_COPENSSL_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/opensslv.h>

/* OpenSSL's version number (OPENSSL_VERSION_NUMBER is a macro). */
unsigned long posthorn_ssl_version_number(void);
/* SSL_CTX_set_options is a function in 3.x but a macro in 1.x. */
uint64_t posthorn_ssl_ctx_set_options(SSL_CTX *ctx, uint64_t options);
/* SSL_set_tlsext_host_name is a macro around SSL_ctrl. */
long posthorn_ssl_set_sni(SSL *ssl, const char *name);
#endif
