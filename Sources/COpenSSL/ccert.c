/* Client certificates for the TLS server: asking for one, verifying it
 * against smtpd_tls_CAfile/CApath without ever failing the handshake (as
 * Postfix, the verdict is kept and the application decides), the failure
 * nearest the leaf for the log, and the certificate's names and digests. */
#include "COpenSSL.h"
#include <string.h>

/* The verification failure of the current handshake (one handshake at a
 * time per process): the error nearest the leaf wins. */
static struct {
    int code;
    int depth;
    char issuer[256];
} failure = {0, -1, ""};

static int verify_cb(int ok, X509_STORE_CTX *store) {
    int depth = X509_STORE_CTX_get_error_depth(store);
    if (!ok && (failure.depth < 0 || depth < failure.depth)) {
        X509 *cert = X509_STORE_CTX_get_current_cert(store);
        failure.code = X509_STORE_CTX_get_error(store);
        failure.depth = depth;
        if (cert == NULL || X509_NAME_oneline(X509_get_issuer_name(cert), failure.issuer, sizeof(failure.issuer)) == NULL)
            strcpy(failure.issuer, "<unknown>");
    }
    /* The chain's verdict is the failure kept above (none: trusted). */
    if (depth == 0 && failure.depth >= 0) X509_STORE_CTX_set_error(store, failure.code);
    return 1;
}

void posthorn_ssl_ctx_ask_client_cert(SSL_CTX *ctx, int depth) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, verify_cb);
    SSL_CTX_set_verify_depth(ctx, depth);
}

int posthorn_ssl_ctx_client_ca_names(SSL_CTX *ctx, const char *file) {
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(file);
    if (names == NULL) return 0;
    SSL_CTX_set_client_CA_list(ctx, names);
    return 1;
}

void posthorn_verify_reset(void) {
    failure.code = 0;
    failure.depth = -1;
    failure.issuer[0] = 0;
}

int posthorn_verify_failure(int *depth, const char **issuer) {
    *depth = failure.depth;
    *issuer = failure.issuer;
    return failure.depth < 0 ? 0 : failure.code;
}

int posthorn_ssl_peer_signature_digest_nid(SSL *ssl) {
    int nid = 0;
    if (SSL_get_peer_signature_nid(ssl, &nid) != 1) return 0;
    return nid;
}

int posthorn_x509_name_entry(X509 *cert, int issuer, int nid, char *buf, int size) {
    X509_NAME *name = issuer ? X509_get_issuer_name(cert) : X509_get_subject_name(cert);
    int pos = name ? X509_NAME_get_index_by_NID(name, nid, -1) : -1;
    X509_NAME_ENTRY *entry;
    ASN1_STRING *data;
    unsigned char *utf8 = NULL;
    int len;

    if (pos < 0) return -1;
    if ((entry = X509_NAME_get_entry(name, pos)) == NULL || (data = X509_NAME_ENTRY_get_data(entry)) == NULL) return -2;
    if ((len = ASN1_STRING_to_UTF8(&utf8, data)) < 0) return -2;
    while (len > 0 && utf8[len - 1] == 0) len--;
    if (len >= size) {
        OPENSSL_free(utf8);
        return -3;
    }
    memcpy(buf, utf8, (size_t) len);
    buf[len] = 0;
    OPENSSL_free(utf8);
    return len;
}

int posthorn_x509_fingerprint(X509 *cert, const char *mdalg, int pubkey, unsigned char *out) {
    const EVP_MD *md = EVP_get_digestbyname(mdalg);
    unsigned int len = 0;
    unsigned char der[16384], *p = der;
    int n;

    if (md == NULL) return 0;
    if (!pubkey) return X509_digest(cert, md, out, &len) == 1 ? (int) len : 0;
    /* The DER SubjectPublicKeyInfo, as Postfix's pkey fingerprint. */
    n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), NULL);
    if (n <= 0 || n > (int) sizeof(der)) return 0;
    i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &p);
    return EVP_Digest(der, (size_t) n, out, &len, md, NULL) == 1 ? (int) len : 0;
}
