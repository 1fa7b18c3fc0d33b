#include "ctls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static void last_error(char *error, size_t error_length, const char *what) {
    unsigned long code = ERR_get_error();
    if (code != 0) {
        char reason[256];
        ERR_error_string_n(code, reason, sizeof reason);
        snprintf(error, error_length, "%s: %s", what, reason);
    } else {
        snprintf(error, error_length, "%s: %s", what, errno ? strerror(errno) : "unknown error");
    }
    ERR_clear_error();
}

// Loads a certificate chain and its key (PEM) into `context`; 0 with the reason (naming the
// config keys) in `error` when it cannot.
static int use_certificate(SSL_CTX *context, const char *certificate, const char *key, const char *certificate_key,
                           const char *key_key, char *error, size_t error_length) {
    if (SSL_CTX_use_certificate_chain_file(context, certificate) != 1) {
        last_error(error, error_length, certificate_key);
        return 0;
    }
    if (SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(context) != 1) {
        last_error(error, error_length, key_key);
        return 0;
    }
    return 1;
}

void *pgproxy_tls_server_context(const char *certificate, const char *key, const char *ca, int verify,
                                 char *error, size_t error_length) {
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    if (!context) { last_error(error, error_length, "SSL_CTX_new"); return NULL; }
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    // Renegotiation is a denial-of-service lever and PostgreSQL refuses it too.
    SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Partial writes and a write retried from a moved buffer: pgproxy's queue keeps ByteBuffers.
    // Idle connections give their record buffers back: an idle TLS client then costs about 18 KiB
    // instead of 35 (PgBouncer: 23), for about 500 instructions more per transaction (of 20,000).
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(context, 0);
    // One read(2) takes a whole record and what follows it, instead of one for the record's
    // header and one for its body.
    SSL_CTX_set_read_ahead(context, 1);
    if (!use_certificate(context, certificate, key, "certificate", "private_key", error, error_length)) {
        SSL_CTX_free(context);
        return NULL;
    }
    if (ca) {
        if (SSL_CTX_load_verify_locations(context, ca, NULL) != 1) {
            last_error(error, error_length, "ca_certificate");
            SSL_CTX_free(context);
            return NULL;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
        if (names) SSL_CTX_set_client_CA_list(context, names);
    }
    int mode = SSL_VERIFY_NONE;
    if (verify >= 1) mode = SSL_VERIFY_PEER;
    if (verify >= 2) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(context, mode, NULL);
    ERR_clear_error();
    return context;
}

void *pgproxy_tls_client_context(const char *ca, const char *certificate, const char *key, int verify,
                                 char *error, size_t error_length) {
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (!context) { last_error(error, error_length, "SSL_CTX_new"); return NULL; }
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    // No SSL_MODE_RELEASE_BUFFERS here: server connections are few and busy.
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_read_ahead(context, 1);
    if (ca && SSL_CTX_load_verify_locations(context, ca, NULL) != 1) {
        last_error(error, error_length, "server_ca_certificate");
        SSL_CTX_free(context);
        return NULL;
    }
    if (certificate && key && !use_certificate(context, certificate, key, "server_certificate", "server_private_key", error, error_length)) {
        SSL_CTX_free(context);
        return NULL;
    }
    SSL_CTX_set_verify(context, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    ERR_clear_error();
    return context;
}

void pgproxy_tls_context_free(void *context) { SSL_CTX_free(context); }

void *pgproxy_tls_new(void *context, int descriptor) {
    SSL *connection = SSL_new(context);
    if (!connection) { ERR_clear_error(); return NULL; }
    if (SSL_set_fd(connection, descriptor) != 1) { SSL_free(connection); ERR_clear_error(); return NULL; }
    SSL_set_accept_state(connection);
    return connection;
}

void *pgproxy_tls_new_client(void *context, int descriptor, const char *host, int check_host) {
    SSL *connection = SSL_new(context);
    if (!connection) { ERR_clear_error(); return NULL; }
    if (SSL_set_fd(connection, descriptor) != 1) { SSL_free(connection); ERR_clear_error(); return NULL; }
    struct in6_addr address;
    int numeric = inet_pton(AF_INET, host, &address) == 1 || inet_pton(AF_INET6, host, &address) == 1;
    int named = 1;
    // SNI names a host, never an address (RFC 6066).
    if (!numeric) named = SSL_set_tlsext_host_name(connection, host) == 1;
    if (named && check_host) {
        // As libpq's verify-full: an address is matched with the certificate's IP addresses.
        named = numeric ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(connection), host) == 1
                        : SSL_set1_host(connection, host) == 1;
    }
    if (!named) { SSL_free(connection); ERR_clear_error(); return NULL; }
    SSL_set_connect_state(connection);
    return connection;
}

int pgproxy_tls_peer_certificate_der(void *connection, unsigned char *bytes, size_t length) {
    X509 *peer = SSL_get1_peer_certificate(connection);
    if (!peer) return 0;
    int size = i2d_X509(peer, NULL);
    if (size > 0 && (size_t)size <= length) {
        unsigned char *cursor = bytes;
        size = i2d_X509(peer, &cursor);
    }
    X509_free(peer);
    ERR_clear_error();
    return size > 0 ? size : 0;
}

void pgproxy_tls_free(void *connection) {
    if (!connection) return;
    // Best effort, never waits: the socket is non-blocking and about to close.
    if (SSL_is_init_finished(connection)) SSL_shutdown(connection);
    SSL_free(connection);
    ERR_clear_error();
}

// A failure leaves its reason queued for pgproxy_tls_error, which takes it (and empties the queue).
static ssize_t outcome(SSL *connection, int result) {
    switch (SSL_get_error(connection, result)) {
    case SSL_ERROR_WANT_READ: return PGPROXY_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return PGPROXY_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return PGPROXY_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        // End of stream without close_notify: what a client that just closes its socket does.
        if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET)) return PGPROXY_TLS_CLOSED;
        return PGPROXY_TLS_FAILED;
    default: return PGPROXY_TLS_FAILED;
    }
}

// No ERR_clear_error before each call (OpenSSL 3 makes it cost about 70 instructions, several
// times a transaction): the queue is kept empty instead, every failure clearing what it left.
ssize_t pgproxy_tls_read(void *connection, void *bytes, size_t count) {
    errno = 0;
    int size = count > 0x7fffffff ? 0x7fffffff : (int)count;
    int result = SSL_read(connection, bytes, size);
    return result > 0 ? result : outcome(connection, result);
}

ssize_t pgproxy_tls_write(void *connection, const void *bytes, size_t count) {
    errno = 0;
    int size = count > 0x7fffffff ? 0x7fffffff : (int)count;
    int result = SSL_write(connection, bytes, size);
    return result > 0 ? result : outcome(connection, result);
}

int pgproxy_tls_has_pending(void *connection) { return SSL_has_pending(connection); }

int pgproxy_tls_peer_certificate(void *connection, char *name, size_t name_length) {
    if (name_length > 0) name[0] = 0;
    X509 *peer = SSL_get1_peer_certificate(connection);
    if (!peer) return 0;
    int verified = SSL_get_verify_result(connection) == X509_V_OK;
    if (name_length > 0) {
        int length = X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name, (int)name_length);
        if (length < 0) name[0] = 0;
    }
    X509_free(peer);
    ERR_clear_error();
    return verified;
}

const char *pgproxy_tls_version(void *connection) { return SSL_get_version(connection); }

void pgproxy_tls_error(void *connection, char *error, size_t error_length) {
    // Only a handshake that checks certificates fails for the check's verdict.
    long verdict = X509_V_OK;
    if (connection && !SSL_is_init_finished(connection) && (SSL_get_verify_mode(connection) & SSL_VERIFY_PEER))
        verdict = SSL_get_verify_result(connection);
    if (verdict == X509_V_OK) return last_error(error, error_length, "TLS");
    // "certificate verify failed" says little; OpenSSL's verdict says what the check found.
    ERR_clear_error();
    snprintf(error, error_length, "TLS: certificate verify failed: %s", X509_verify_cert_error_string(verdict));
}
