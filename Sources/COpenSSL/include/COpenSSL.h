/* COpenSSL: OpenSSL (libssl, libcrypto) for Swift, loaded on demand
 * (lazy.c). Macros that Swift cannot import are wrapped as small functions
 * named posthorn_ssl_*. */
#ifndef POSTHORN_COPENSSL_H
#define POSTHORN_COPENSSL_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/opensslv.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/objects.h>

/* OpenSSL is loaded on demand (lazy.c): the first call of an OpenSSL
 * function loads libssl.so.3. Before its first OpenSSL call a program
 * calls posthorn_openssl_load_error(), which loads the library and returns
 * NULL, or the reason (dlerror's text) when it cannot be loaded; calling
 * an OpenSSL function after that failure aborts the process.
 * posthorn_openssl_loaded() tells (without loading anything) whether the
 * library is loaded. */
const char *posthorn_openssl_load_error(void);
int posthorn_openssl_loaded(void);

/* OpenSSL's version number (OPENSSL_VERSION_NUMBER is a macro). */
unsigned long posthorn_ssl_version_number(void);
/* SSL_CTX_set_options is a function in 3.x but a macro in 1.x. */
uint64_t posthorn_ssl_ctx_set_options(SSL_CTX *ctx, uint64_t options);
/* SSL_set_tlsext_host_name is a macro around SSL_ctrl. */
long posthorn_ssl_set_sni(SSL *ssl, const char *name);

/* Protocol version bounds (macros around SSL_CTX_ctrl); 0 = no bound. */
int posthorn_ssl_ctx_set_min_proto(SSL_CTX *ctx, int version);
int posthorn_ssl_ctx_set_max_proto(SSL_CTX *ctx, int version);
/* Key exchange groups ("X25519:P-256"), automatic DH parameters. */
int posthorn_ssl_ctx_set_groups(SSL_CTX *ctx, const char *list);
int posthorn_ssl_ctx_set_dh_auto(SSL_CTX *ctx);
/* Partial writes and moving write buffers (SSL_CTX_set_mode). */
void posthorn_ssl_ctx_set_modes(SSL_CTX *ctx);
/* The peer's ephemeral key of the handshake (caller frees), or NULL. */
EVP_PKEY *posthorn_ssl_peer_tmp_key(SSL *ssl);
/* Signature of our handshake: digest NID and signature type NID; 0 when unknown. */
int posthorn_ssl_signature_digest_nid(SSL *ssl);
int posthorn_ssl_signature_type_nid(SSL *ssl);
/* SSL_OP_* values (macros built from SSL_OP_BIT): 0 ALL, 1 NO_COMPRESSION,
 * 2 CIPHER_SERVER_PREFERENCE, 3 NO_TICKET, 4 NO_TLSv1, 5 NO_TLSv1_1, 6 NO_TLSv1_2,
 * 7 IGNORE_UNEXPECTED_EOF (0 before OpenSSL 3). */
uint64_t posthorn_ssl_option(int which);
/* The SSL_ERROR_* / SSL_R_* / ERR_TXT_* constants Swift needs. */
int posthorn_ssl_error_want_read(void);
int posthorn_ssl_error_want_write(void);
int posthorn_ssl_error_zero_return(void);
int posthorn_ssl_error_syscall(void);
int posthorn_err_txt_string(void);

/* Session ticket keys shared between processes (through tlsmgr): the
 * process installs the current key and may be asked for others by name.
 * `lookup` is called for a ticket whose key name is unknown; it returns 1
 * and fills the key (hmac 32 bytes, aes 32 bytes) or returns 0. */
typedef int (*posthorn_ticket_lookup_fn)(const unsigned char name[16], unsigned char hmac[32], unsigned char aes[32]);
void posthorn_ssl_ctx_use_ticket_keys(SSL_CTX *ctx, posthorn_ticket_lookup_fn lookup);
void posthorn_ticket_key_install(const unsigned char name[16], const unsigned char hmac[32], const unsigned char aes[32],
                                 long expires);

/* A server session cache outside the process (tlsmgr): `put` stores a
 * session (DER) under its id, `get` fills `buf` and returns the DER length
 * (0: not found), `del` forgets it. */
typedef int (*posthorn_scache_get_fn)(const unsigned char *id, int idlen, unsigned char *buf, int bufsize);
typedef void (*posthorn_scache_put_fn)(const unsigned char *id, int idlen, const unsigned char *der, int derlen);
typedef void (*posthorn_scache_del_fn)(const unsigned char *id, int idlen);
void posthorn_ssl_ctx_use_session_cache(SSL_CTX *ctx, posthorn_scache_get_fn get, posthorn_scache_put_fn put,
                                        posthorn_scache_del_fn del);
/* Client certificates (ccert.c). Ask for one: SSL_VERIFY_PEER and
 * SSL_VERIFY_CLIENT_ONCE with a callback that never fails the handshake
 * but keeps the failure nearest the leaf; `depth` is the verify depth. */
void posthorn_ssl_ctx_ask_client_cert(SSL_CTX *ctx, int depth);
/* The CA names sent with the request, from `file`: 0 when it cannot be read. */
int posthorn_ssl_ctx_client_ca_names(SSL_CTX *ctx, const char *file);
/* Forgets the kept failure (before each handshake); then reads it: the
 * X509_V_ERR code (0: none), its depth, and the failing certificate's
 * issuer as a one-line name. */
void posthorn_verify_reset(void);
int posthorn_verify_failure(int *depth, const char **issuer);
/* The digest NID of the client's handshake signature; 0 when unknown. */
int posthorn_ssl_peer_signature_digest_nid(SSL *ssl);
/* The UTF-8 text of the first `nid` entry of the subject (issuer != 0:
 * the issuer) name, trailing NULs removed, into buf (NUL-terminated): its
 * length; -1 absent, -2 undecodable, -3 longer than size - 1. */
int posthorn_x509_name_entry(X509 *cert, int issuer, int nid, char *buf, int size);
/* The `mdalg` digest of the certificate (pubkey 0) or of its DER
 * SubjectPublicKeyInfo (pubkey 1) into out (EVP_MAX_MD_SIZE bytes): its
 * length, 0 on failure (unknown digest). */
int posthorn_x509_fingerprint(X509 *cert, const char *mdalg, int pubkey, unsigned char *out);
#endif
