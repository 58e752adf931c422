/* OpenSSL on demand: the executables do not link libssl/libcrypto (merely
 * mapping libcrypto costs every process some 400 KiB of private dirty
 * memory for its relocations, and smtpd runs one process per session).
 * Each OpenSSL function that Posthorn calls is a trampoline here, with the
 * prototype of the OpenSSL 3 headers; the first call loads libssl.so.3
 * (which brings libcrypto.so.3) and finds the real function
 * (posthorn_lazy_loader.h). RTLD_LOCAL: nothing else in the process binds
 * to these symbols by accident; dlsym on the handle searches libssl and
 * then its dependencies, so it finds libcrypto's functions too.
 *
 * A process that never calls OpenSSL never maps it. The TLS library calls
 * posthorn_openssl_load_error() before it creates its first context and
 * turns a failure into a configuration error.
 *
 * A new OpenSSL function (or header macro that expands to one) in
 * Sources/TLS or the shim needs one TRAMPOLINE line below: without it the
 * link fails with "undefined reference". Header macros and inline
 * functions (SSL_CTX_set_mode, SSL_set_tlsext_host_name, ...) need their
 * underlying functions (SSL_CTX_ctrl, SSL_ctrl). No variadic functions:
 * call a non-variadic equivalent. */

#define POSTHORN_LAZY_SONAMES "libssl.so.3"
#include "posthorn_lazy_loader.h"
#include <string.h>
/* OpenSSL's declarations, and so the trampolines below, are hidden (see
 * posthorn_lazy_loader.h). */
#pragma GCC visibility push(hidden)
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#pragma GCC visibility pop
#include "COpenSSL.h"

const char *posthorn_openssl_load_error(void) { return lazy_load_error(); }
int posthorn_openssl_loaded(void) { return lazy_loaded(); }

/* libssl */
TRAMPOLINE(int, OPENSSL_init_ssl, (uint64_t opts, const OPENSSL_INIT_SETTINGS *settings), (opts, settings))
TRAMPOLINE(const SSL_METHOD *, TLS_server_method, (void), ())
TRAMPOLINE(SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *meth), (meth))
TRAMPOLINE_VOID(SSL_CTX_free, (SSL_CTX *ctx), (ctx))
TRAMPOLINE(long, SSL_CTX_ctrl, (SSL_CTX *ctx, int cmd, long larg, void *parg), (ctx, cmd, larg, parg))
TRAMPOLINE(uint64_t, SSL_CTX_set_options, (SSL_CTX *ctx, uint64_t op), (ctx, op))
TRAMPOLINE(int, SSL_CTX_set_cipher_list, (SSL_CTX *ctx, const char *str), (ctx, str))
TRAMPOLINE(int, SSL_CTX_set_session_id_context, (SSL_CTX *ctx, const unsigned char *sid_ctx, unsigned int sid_ctx_len), (ctx, sid_ctx, sid_ctx_len))
TRAMPOLINE(long, SSL_CTX_set_timeout, (SSL_CTX *ctx, long t), (ctx, t))
TRAMPOLINE(int, SSL_CTX_use_certificate_chain_file, (SSL_CTX *ctx, const char *file), (ctx, file))
TRAMPOLINE(int, SSL_CTX_use_PrivateKey_file, (SSL_CTX *ctx, const char *file, int type), (ctx, file, type))
TRAMPOLINE(int, SSL_CTX_check_private_key, (const SSL_CTX *ctx), (ctx))
TRAMPOLINE(int, SSL_CTX_set_tlsext_ticket_key_evp_cb, (SSL_CTX *ctx, int (*fp)(SSL *, unsigned char *, unsigned char *, EVP_CIPHER_CTX *, EVP_MAC_CTX *, int)), (ctx, fp))
TRAMPOLINE_VOID(SSL_CTX_sess_set_new_cb, (SSL_CTX *ctx, int (*new_session_cb)(struct ssl_st *ssl, SSL_SESSION *sess)), (ctx, new_session_cb))
TRAMPOLINE_VOID(SSL_CTX_sess_set_get_cb, (SSL_CTX *ctx, SSL_SESSION *(*get_session_cb)(struct ssl_st *ssl, const unsigned char *data, int len, int *copy)), (ctx, get_session_cb))
TRAMPOLINE_VOID(SSL_CTX_sess_set_remove_cb, (SSL_CTX *ctx, void (*remove_session_cb)(struct ssl_ctx_st *ctx, SSL_SESSION *sess)), (ctx, remove_session_cb))
TRAMPOLINE(SSL *, SSL_new, (SSL_CTX *ctx), (ctx))
TRAMPOLINE_VOID(SSL_free, (SSL *ssl), (ssl))
TRAMPOLINE(long, SSL_ctrl, (SSL *ssl, int cmd, long larg, void *parg), (ssl, cmd, larg, parg))
TRAMPOLINE(int, SSL_set_fd, (SSL *s, int fd), (s, fd))
TRAMPOLINE(int, SSL_accept, (SSL *ssl), (ssl))
TRAMPOLINE(int, SSL_read, (SSL *ssl, void *buf, int num), (ssl, buf, num))
TRAMPOLINE(int, SSL_peek, (SSL *ssl, void *buf, int num), (ssl, buf, num))
TRAMPOLINE(int, SSL_write, (SSL *ssl, const void *buf, int num), (ssl, buf, num))
TRAMPOLINE(int, SSL_pending, (const SSL *s), (s))
TRAMPOLINE(int, SSL_shutdown, (SSL *s), (s))
TRAMPOLINE(int, SSL_get_error, (const SSL *s, int ret_code), (s, ret_code))
TRAMPOLINE(const char *, SSL_get_version, (const SSL *s), (s))
TRAMPOLINE(int, SSL_version, (const SSL *ssl), (ssl))
TRAMPOLINE(int, SSL_session_reused, (const SSL *s), (s))
TRAMPOLINE(const SSL_CIPHER *, SSL_get_current_cipher, (const SSL *s), (s))
TRAMPOLINE(const char *, SSL_CIPHER_get_name, (const SSL_CIPHER *c), (c))
TRAMPOLINE(int, SSL_CIPHER_get_bits, (const SSL_CIPHER *c, int *alg_bits), (c, alg_bits))
TRAMPOLINE(X509 *, SSL_get_certificate, (const SSL *ssl), (ssl))
TRAMPOLINE(int, SSL_get_signature_type_nid, (const SSL *s, int *pnid), (s, pnid))
TRAMPOLINE_VOID(SSL_CTX_set_verify, (SSL_CTX *ctx, int mode, SSL_verify_cb callback), (ctx, mode, callback))
TRAMPOLINE_VOID(SSL_CTX_set_verify_depth, (SSL_CTX *ctx, int depth), (ctx, depth))
TRAMPOLINE(int, SSL_CTX_load_verify_locations, (SSL_CTX *ctx, const char *CAfile, const char *CApath), (ctx, CAfile, CApath))
TRAMPOLINE(STACK_OF(X509_NAME) *, SSL_load_client_CA_file, (const char *file), (file))
TRAMPOLINE_VOID(SSL_CTX_set_client_CA_list, (SSL_CTX *ctx, STACK_OF(X509_NAME) *name_list), (ctx, name_list))
TRAMPOLINE(X509 *, SSL_get1_peer_certificate, (const SSL *s), (s))
TRAMPOLINE(long, SSL_get_verify_result, (const SSL *ssl), (ssl))
TRAMPOLINE(const unsigned char *, SSL_SESSION_get_id, (const SSL_SESSION *s, unsigned int *len), (s, len))
TRAMPOLINE(int, i2d_SSL_SESSION, (const SSL_SESSION *in, unsigned char **pp), (in, pp))
TRAMPOLINE(SSL_SESSION *, d2i_SSL_SESSION, (SSL_SESSION **a, const unsigned char **pp, long length), (a, pp, length))

/* libcrypto */
TRAMPOLINE_VOID(ERR_clear_error, (void), ())
TRAMPOLINE(unsigned long, ERR_peek_error, (void), ())
TRAMPOLINE(unsigned long, ERR_get_error_all, (const char **file, int *line, const char **func, const char **data, int *flags), (file, line, func, data, flags))
TRAMPOLINE_VOID(ERR_error_string_n, (unsigned long e, char *buf, size_t len), (e, buf, len))
TRAMPOLINE(int, RAND_bytes, (unsigned char *buf, int num), (buf, num))
TRAMPOLINE(const EVP_CIPHER *, EVP_aes_256_cbc, (void), ())
TRAMPOLINE(int, EVP_EncryptInit_ex, (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, ENGINE *impl, const unsigned char *key, const unsigned char *iv), (ctx, cipher, impl, key, iv))
TRAMPOLINE(int, EVP_DecryptInit_ex, (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, ENGINE *impl, const unsigned char *key, const unsigned char *iv), (ctx, cipher, impl, key, iv))
TRAMPOLINE(int, EVP_MAC_CTX_set_params, (EVP_MAC_CTX *ctx, const OSSL_PARAM params[]), (ctx, params))
TRAMPOLINE(OSSL_PARAM, OSSL_PARAM_construct_octet_string, (const char *key, void *buf, size_t bsize), (key, buf, bsize))
TRAMPOLINE(OSSL_PARAM, OSSL_PARAM_construct_utf8_string, (const char *key, char *buf, size_t bsize), (key, buf, bsize))
TRAMPOLINE(OSSL_PARAM, OSSL_PARAM_construct_end, (void), ())
TRAMPOLINE_VOID(EVP_PKEY_free, (EVP_PKEY *pkey), (pkey))
TRAMPOLINE(int, EVP_PKEY_get_id, (const EVP_PKEY *pkey), (pkey))
TRAMPOLINE(int, EVP_PKEY_get_bits, (const EVP_PKEY *pkey), (pkey))
TRAMPOLINE(int, EVP_PKEY_get_group_name, (const EVP_PKEY *pkey, char *name, size_t name_sz, size_t *gname_len), (pkey, name, name_sz, gname_len))
TRAMPOLINE(EVP_PKEY *, X509_get0_pubkey, (const X509 *x), (x))
TRAMPOLINE(int, X509_STORE_CTX_get_error, (const X509_STORE_CTX *ctx), (ctx))
TRAMPOLINE(int, X509_STORE_CTX_get_error_depth, (const X509_STORE_CTX *ctx), (ctx))
TRAMPOLINE_VOID(X509_STORE_CTX_set_error, (X509_STORE_CTX *ctx, int s), (ctx, s))
TRAMPOLINE(X509 *, X509_STORE_CTX_get_current_cert, (const X509_STORE_CTX *ctx), (ctx))
TRAMPOLINE(const char *, X509_verify_cert_error_string, (long n), (n))
TRAMPOLINE_VOID(X509_free, (X509 *a), (a))
TRAMPOLINE(X509_NAME *, X509_get_subject_name, (const X509 *a), (a))
TRAMPOLINE(X509_NAME *, X509_get_issuer_name, (const X509 *a), (a))
TRAMPOLINE(char *, X509_NAME_oneline, (const X509_NAME *a, char *buf, int size), (a, buf, size))
TRAMPOLINE(int, X509_NAME_get_index_by_NID, (const X509_NAME *name, int nid, int lastpos), (name, nid, lastpos))
TRAMPOLINE(X509_NAME_ENTRY *, X509_NAME_get_entry, (const X509_NAME *name, int loc), (name, loc))
TRAMPOLINE(ASN1_STRING *, X509_NAME_ENTRY_get_data, (const X509_NAME_ENTRY *ne), (ne))
TRAMPOLINE(int, ASN1_STRING_to_UTF8, (unsigned char **out, const ASN1_STRING *in), (out, in))
TRAMPOLINE_VOID(CRYPTO_free, (void *ptr, const char *file, int line), (ptr, file, line))
TRAMPOLINE(const EVP_MD *, EVP_get_digestbyname, (const char *name), (name))
TRAMPOLINE(int, X509_digest, (const X509 *data, const EVP_MD *type, unsigned char *md, unsigned int *len), (data, type, md, len))
TRAMPOLINE(X509_PUBKEY *, X509_get_X509_PUBKEY, (const X509 *x), (x))
TRAMPOLINE(int, i2d_X509_PUBKEY, (const X509_PUBKEY *a, unsigned char **out), (a, out))
TRAMPOLINE(int, EVP_Digest, (const void *data, size_t count, unsigned char *md, unsigned int *size, const EVP_MD *type, ENGINE *impl), (data, count, md, size, type, impl))
TRAMPOLINE(int, OBJ_sn2nid, (const char *s), (s))
TRAMPOLINE(const char *, OBJ_nid2sn, (int n), (n))
