/* OpenSSL on demand: the executables do not link libssl/libcrypto (merely
 * mapping libcrypto costs every process some 400 KiB of private dirty
 * memory for its relocations, and smtpd runs one process per session).
 * Each OpenSSL function that Posthorn calls is defined here under its own
 * name, with the prototype of the OpenSSL 3 headers (included, so the
 * compiler checks every definition against the real declaration); the
 * first call loads libssl.so.3 (which brings libcrypto.so.3), looks the
 * real function up and keeps its address.
 *
 * A process that never calls OpenSSL never maps it. The TLS library calls
 * posthorn_openssl_load_error() before it creates its first context and
 * turns a failure into a configuration error; a trampoline that is called
 * although loading failed is a bug: it says so on stderr and aborts.
 *
 * A new OpenSSL function (or header macro that expands to one) in
 * Sources/TLS or the shim needs one LAZY line below: without it the link
 * fails with "undefined reference". Header macros and inline functions
 * (SSL_CTX_set_mode, SSL_set_tlsext_host_name, ...) need their underlying
 * functions (SSL_CTX_ctrl, SSL_ctrl). No variadic functions: call a
 * non-variadic equivalent.
 *
 * The trampolines are hidden, so they never leave the executable's own
 * symbol table: a shared library that links OpenSSL itself (and OpenSSL's
 * own internal calls) binds to the real functions, not to these. */
/* The C library's headers first: their declarations must keep default
 * visibility (the pragma below would hide the ones OpenSSL pulls in). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define OPENSSL_LIBRARY "libssl.so.3"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *library;
static int loaded;
static char load_error[512];

static void load(void) {
    /* RTLD_LOCAL: nothing else in the process binds to these symbols by
     * accident; dlsym on this handle searches libssl and then its
     * dependencies, so it finds libcrypto's functions too. */
    library = dlopen(OPENSSL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *text = dlerror();
        snprintf(load_error, sizeof(load_error), "%s", text ? text : OPENSSL_LIBRARY ": unknown dlopen error");
        return;
    }
    __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
}

const char *posthorn_openssl_load_error(void) {
    pthread_once(&load_once, load);
    return library ? NULL : load_error;
}

int posthorn_openssl_loaded(void) { return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE); }

/* The real function `name`; aborts when OpenSSL cannot be loaded (callers
 * check posthorn_openssl_load_error() first) or lacks the function. */
static void *openssl_symbol(const char *name) {
    const char *error = posthorn_openssl_load_error();
    if (error != NULL) {
        fprintf(stderr, "posthorn: fatal: OpenSSL function %s called, but the OpenSSL library could not be loaded: %s\n",
                name, error);
        abort();
    }
    void *address = dlsym(library, name);
    if (address == NULL) {
        const char *text = dlerror();
        fprintf(stderr, "posthorn: fatal: OpenSSL function %s not found in %s: %s\n", name, OPENSSL_LIBRARY,
                text ? text : "no such symbol");
        abort();
    }
    return address;
}

/* The real function's address, resolved once. */
#define RESOLVE(name)                                                                 \
    static __typeof__(&name) real_;                                                   \
    __typeof__(&name) fn_ = __atomic_load_n(&real_, __ATOMIC_ACQUIRE);                \
    if (fn_ == NULL) {                                                                \
        fn_ = (__typeof__(&name)) openssl_symbol(#name);                              \
        __atomic_store_n(&real_, fn_, __ATOMIC_RELEASE);                              \
    }
/* ret name params { return real(args); } */
#define LAZY(ret, name, params, args) ret name params { RESOLVE(name) return fn_ args; }
/* The same for a function returning void. */
#define LAZY_VOID(name, params, args) void name params { RESOLVE(name) fn_ args; }

/* libssl */
LAZY(int, OPENSSL_init_ssl, (uint64_t opts, const OPENSSL_INIT_SETTINGS *settings), (opts, settings))
LAZY(const SSL_METHOD *, TLS_server_method, (void), ())
LAZY(SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *meth), (meth))
LAZY_VOID(SSL_CTX_free, (SSL_CTX *ctx), (ctx))
LAZY(long, SSL_CTX_ctrl, (SSL_CTX *ctx, int cmd, long larg, void *parg), (ctx, cmd, larg, parg))
LAZY(uint64_t, SSL_CTX_set_options, (SSL_CTX *ctx, uint64_t op), (ctx, op))
LAZY(int, SSL_CTX_set_cipher_list, (SSL_CTX *ctx, const char *str), (ctx, str))
LAZY(int, SSL_CTX_set_session_id_context, (SSL_CTX *ctx, const unsigned char *sid_ctx, unsigned int sid_ctx_len), (ctx, sid_ctx, sid_ctx_len))
LAZY(long, SSL_CTX_set_timeout, (SSL_CTX *ctx, long t), (ctx, t))
LAZY(int, SSL_CTX_use_certificate_chain_file, (SSL_CTX *ctx, const char *file), (ctx, file))
LAZY(int, SSL_CTX_use_PrivateKey_file, (SSL_CTX *ctx, const char *file, int type), (ctx, file, type))
LAZY(int, SSL_CTX_check_private_key, (const SSL_CTX *ctx), (ctx))
LAZY(int, SSL_CTX_set_tlsext_ticket_key_evp_cb, (SSL_CTX *ctx, int (*fp)(SSL *, unsigned char *, unsigned char *, EVP_CIPHER_CTX *, EVP_MAC_CTX *, int)), (ctx, fp))
LAZY_VOID(SSL_CTX_sess_set_new_cb, (SSL_CTX *ctx, int (*new_session_cb)(struct ssl_st *ssl, SSL_SESSION *sess)), (ctx, new_session_cb))
LAZY_VOID(SSL_CTX_sess_set_get_cb, (SSL_CTX *ctx, SSL_SESSION *(*get_session_cb)(struct ssl_st *ssl, const unsigned char *data, int len, int *copy)), (ctx, get_session_cb))
LAZY_VOID(SSL_CTX_sess_set_remove_cb, (SSL_CTX *ctx, void (*remove_session_cb)(struct ssl_ctx_st *ctx, SSL_SESSION *sess)), (ctx, remove_session_cb))
LAZY(SSL *, SSL_new, (SSL_CTX *ctx), (ctx))
LAZY_VOID(SSL_free, (SSL *ssl), (ssl))
LAZY(long, SSL_ctrl, (SSL *ssl, int cmd, long larg, void *parg), (ssl, cmd, larg, parg))
LAZY(int, SSL_set_fd, (SSL *s, int fd), (s, fd))
LAZY(int, SSL_accept, (SSL *ssl), (ssl))
LAZY(int, SSL_read, (SSL *ssl, void *buf, int num), (ssl, buf, num))
LAZY(int, SSL_peek, (SSL *ssl, void *buf, int num), (ssl, buf, num))
LAZY(int, SSL_write, (SSL *ssl, const void *buf, int num), (ssl, buf, num))
LAZY(int, SSL_pending, (const SSL *s), (s))
LAZY(int, SSL_shutdown, (SSL *s), (s))
LAZY(int, SSL_get_error, (const SSL *s, int ret_code), (s, ret_code))
LAZY(const char *, SSL_get_version, (const SSL *s), (s))
LAZY(int, SSL_version, (const SSL *ssl), (ssl))
LAZY(int, SSL_session_reused, (const SSL *s), (s))
LAZY(const SSL_CIPHER *, SSL_get_current_cipher, (const SSL *s), (s))
LAZY(const char *, SSL_CIPHER_get_name, (const SSL_CIPHER *c), (c))
LAZY(int, SSL_CIPHER_get_bits, (const SSL_CIPHER *c, int *alg_bits), (c, alg_bits))
LAZY(X509 *, SSL_get_certificate, (const SSL *ssl), (ssl))
LAZY(int, SSL_get_signature_type_nid, (const SSL *s, int *pnid), (s, pnid))
LAZY(const unsigned char *, SSL_SESSION_get_id, (const SSL_SESSION *s, unsigned int *len), (s, len))
LAZY(int, i2d_SSL_SESSION, (const SSL_SESSION *in, unsigned char **pp), (in, pp))
LAZY(SSL_SESSION *, d2i_SSL_SESSION, (SSL_SESSION **a, const unsigned char **pp, long length), (a, pp, length))

/* libcrypto */
LAZY_VOID(ERR_clear_error, (void), ())
LAZY(unsigned long, ERR_peek_error, (void), ())
LAZY(unsigned long, ERR_get_error_all, (const char **file, int *line, const char **func, const char **data, int *flags), (file, line, func, data, flags))
LAZY_VOID(ERR_error_string_n, (unsigned long e, char *buf, size_t len), (e, buf, len))
LAZY(int, RAND_bytes, (unsigned char *buf, int num), (buf, num))
LAZY(const EVP_CIPHER *, EVP_aes_256_cbc, (void), ())
LAZY(int, EVP_EncryptInit_ex, (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, ENGINE *impl, const unsigned char *key, const unsigned char *iv), (ctx, cipher, impl, key, iv))
LAZY(int, EVP_DecryptInit_ex, (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, ENGINE *impl, const unsigned char *key, const unsigned char *iv), (ctx, cipher, impl, key, iv))
LAZY(int, EVP_MAC_CTX_set_params, (EVP_MAC_CTX *ctx, const OSSL_PARAM params[]), (ctx, params))
LAZY(OSSL_PARAM, OSSL_PARAM_construct_octet_string, (const char *key, void *buf, size_t bsize), (key, buf, bsize))
LAZY(OSSL_PARAM, OSSL_PARAM_construct_utf8_string, (const char *key, char *buf, size_t bsize), (key, buf, bsize))
LAZY(OSSL_PARAM, OSSL_PARAM_construct_end, (void), ())
LAZY_VOID(EVP_PKEY_free, (EVP_PKEY *pkey), (pkey))
LAZY(int, EVP_PKEY_get_id, (const EVP_PKEY *pkey), (pkey))
LAZY(int, EVP_PKEY_get_bits, (const EVP_PKEY *pkey), (pkey))
LAZY(int, EVP_PKEY_get_group_name, (const EVP_PKEY *pkey, char *name, size_t name_sz, size_t *gname_len), (pkey, name, name_sz, gname_len))
LAZY(EVP_PKEY *, X509_get0_pubkey, (const X509 *x), (x))
LAZY(int, OBJ_sn2nid, (const char *s), (s))
LAZY(const char *, OBJ_nid2sn, (int n), (n))
