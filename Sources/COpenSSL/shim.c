/* COpenSSL shim: wrappers for OpenSSL macros, and the session ticket key
 * callback (a C function pointer table that Swift cannot supply). */
#include "COpenSSL.h"
#include <string.h>
#include <time.h>
#include <openssl/core_names.h>

unsigned long posthorn_ssl_version_number(void) { return OPENSSL_VERSION_NUMBER; }
uint64_t posthorn_ssl_ctx_set_options(SSL_CTX *ctx, uint64_t options) { return SSL_CTX_set_options(ctx, options); }
long posthorn_ssl_set_sni(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }

int posthorn_ssl_ctx_set_min_proto(SSL_CTX *ctx, int version) { return (int) SSL_CTX_set_min_proto_version(ctx, version); }
int posthorn_ssl_ctx_set_max_proto(SSL_CTX *ctx, int version) { return (int) SSL_CTX_set_max_proto_version(ctx, version); }
int posthorn_ssl_ctx_set_groups(SSL_CTX *ctx, const char *list) { return (int) SSL_CTX_set1_groups_list(ctx, list); }
int posthorn_ssl_ctx_set_dh_auto(SSL_CTX *ctx) { return (int) SSL_CTX_set_dh_auto(ctx, 1); }
void posthorn_ssl_ctx_set_modes(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

EVP_PKEY *posthorn_ssl_peer_tmp_key(SSL *ssl) {
    EVP_PKEY *key = NULL;
    if (SSL_get_peer_tmp_key(ssl, &key) != 1) return NULL;
    return key;
}

int posthorn_ssl_signature_digest_nid(SSL *ssl) {
    int nid = 0;
    if (SSL_get_signature_nid(ssl, &nid) != 1) return 0;
    return nid;
}

int posthorn_ssl_signature_type_nid(SSL *ssl) {
    int nid = 0;
    if (SSL_get_signature_type_nid(ssl, &nid) != 1) return 0;
    return nid;
}

uint64_t posthorn_ssl_option(int which) {
    switch (which) {
    case 0: return SSL_OP_ALL;
    case 1: return SSL_OP_NO_COMPRESSION;
    case 2: return SSL_OP_CIPHER_SERVER_PREFERENCE;
    case 3: return SSL_OP_NO_TICKET;
    case 4: return SSL_OP_NO_TLSv1;
    case 5: return SSL_OP_NO_TLSv1_1;
    case 6: return SSL_OP_NO_TLSv1_2;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    case 7: return SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
    default: return 0;
    }
}

int posthorn_ssl_error_want_read(void) { return SSL_ERROR_WANT_READ; }
int posthorn_ssl_error_want_write(void) { return SSL_ERROR_WANT_WRITE; }
int posthorn_ssl_error_zero_return(void) { return SSL_ERROR_ZERO_RETURN; }
int posthorn_ssl_error_syscall(void) { return SSL_ERROR_SYSCALL; }
int posthorn_err_txt_string(void) { return ERR_TXT_STRING; }

/* Ticket keys: the current one (used to issue tickets) and a few older
 * ones still accepted. */
#define TICKET_KEYS 4
static struct ticket_key {
    unsigned char name[16];
    unsigned char hmac[32];
    unsigned char aes[32];
    long expires;
    int used;
} ticket_keys[TICKET_KEYS];
static posthorn_ticket_lookup_fn ticket_lookup;

void posthorn_ticket_key_install(const unsigned char name[16], const unsigned char hmac[32], const unsigned char aes[32],
                                 long expires) {
    int i;
    for (i = 0; i < TICKET_KEYS; i++)
        if (ticket_keys[i].used && memcmp(ticket_keys[i].name, name, 16) == 0) break;
    if (i == TICKET_KEYS) {
        /* Newest first: shift the others down. */
        memmove(&ticket_keys[1], &ticket_keys[0], sizeof(ticket_keys[0]) * (TICKET_KEYS - 1));
        i = 0;
    } else if (i != 0) {
        struct ticket_key k = ticket_keys[i];
        memmove(&ticket_keys[1], &ticket_keys[0], sizeof(ticket_keys[0]) * i);
        ticket_keys[0] = k;
        i = 0;
    }
    memcpy(ticket_keys[i].name, name, 16);
    memcpy(ticket_keys[i].hmac, hmac, 32);
    memcpy(ticket_keys[i].aes, aes, 32);
    ticket_keys[i].expires = expires;
    ticket_keys[i].used = 1;
}

static struct ticket_key *find_key(const unsigned char *name) {
    long now = (long) time(NULL);
    for (int i = 0; i < TICKET_KEYS; i++)
        if (ticket_keys[i].used && ticket_keys[i].expires > now && memcmp(ticket_keys[i].name, name, 16) == 0)
            return &ticket_keys[i];
    /* An older key (another process issued the ticket): ask, use it for
     * this ticket only, and leave the current key in place. */
    static struct ticket_key scratch;
    if (ticket_lookup && ticket_lookup(name, scratch.hmac, scratch.aes)) {
        memcpy(scratch.name, name, 16);
        scratch.expires = now + 1;
        scratch.used = 1;
        return &scratch;
    }
    return NULL;
}

static int ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx,
                     int create) {
    OSSL_PARAM params[3];
    struct ticket_key *key;
    (void) ssl;
    if (create) {
        long now = (long) time(NULL);
        if (!ticket_keys[0].used || ticket_keys[0].expires <= now) {
            if (!ticket_lookup) return 0;
            /* Ask for the current key: an all-zero name. */
            unsigned char zero[16] = {0}, hmac[32], aes[32];
            if (!ticket_lookup(zero, hmac, aes)) return 0;
            if (!ticket_keys[0].used) return 0;
        }
        key = &ticket_keys[0];
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) <= 0) return -1;
        memcpy(name, key->name, 16);
        if (!EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key->aes, iv)) return -1;
    } else {
        if ((key = find_key(name)) == NULL) return 0;
        if (!EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key->aes, iv)) return -1;
    }
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key->hmac, 32);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_CTX_set_params(hctx, params)) return -1;
    /* A ticket under an older key: accept it and issue a fresh one. */
    return (!create && key != &ticket_keys[0]) ? 2 : 1;
}

void posthorn_ssl_ctx_use_ticket_keys(SSL_CTX *ctx, posthorn_ticket_lookup_fn lookup) {
    ticket_lookup = lookup;
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}

/* The external server session cache. */
static posthorn_scache_get_fn scache_get;
static posthorn_scache_put_fn scache_put;
static posthorn_scache_del_fn scache_del;

static int scache_new_cb(SSL *ssl, SSL_SESSION *session) {
    unsigned int idlen = 0;
    const unsigned char *id = SSL_SESSION_get_id(session, &idlen);
    int len = i2d_SSL_SESSION(session, NULL);
    (void) ssl;
    if (len <= 0 || len > 8192 || idlen == 0) return 0;
    unsigned char buf[8192], *p = buf;
    i2d_SSL_SESSION(session, &p);
    scache_put(id, (int) idlen, buf, len);
    return 0; /* we kept no reference */
}

static SSL_SESSION *scache_get_cb(SSL *ssl, const unsigned char *id, int idlen, int *copy) {
    unsigned char buf[8192];
    const unsigned char *p = buf;
    (void) ssl;
    *copy = 0;
    int len = scache_get(id, idlen, buf, (int) sizeof(buf));
    if (len <= 0) return NULL;
    return d2i_SSL_SESSION(NULL, &p, len);
}

static void scache_remove_cb(SSL_CTX *ctx, SSL_SESSION *session) {
    unsigned int idlen = 0;
    const unsigned char *id = SSL_SESSION_get_id(session, &idlen);
    (void) ctx;
    if (idlen > 0) scache_del(id, (int) idlen);
}

void posthorn_ssl_ctx_use_session_cache(SSL_CTX *ctx, posthorn_scache_get_fn get, posthorn_scache_put_fn put,
                                        posthorn_scache_del_fn del) {
    scache_get = get;
    scache_put = put;
    scache_del = del;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL | SSL_SESS_CACHE_NO_AUTO_CLEAR);
    SSL_CTX_sess_set_new_cb(ctx, scache_new_cb);
    SSL_CTX_sess_set_get_cb(ctx, scache_get_cb);
    SSL_CTX_sess_set_remove_cb(ctx, scache_remove_cb);
}
