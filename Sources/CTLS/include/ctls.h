#ifndef PGPROXY_CTLS_H
#define PGPROXY_CTLS_H
// TLS on pgproxy's own event loops, towards clients and towards servers, with the system's
// OpenSSL (libssl). OpenSSL's types stay in ctls.c: Swift sees opaque pointers only, and never
// OpenSSL's headers (SwiftNIO's BoringSSL, which serves the SwiftNIO path, has headers of the
// same names).
#include <stddef.h>
#include <sys/types.h>

// What pgproxy_tls_read and pgproxy_tls_write return besides a byte count (> 0).
#define PGPROXY_TLS_CLOSED 0        // the peer closed (close_notify or end of stream)
#define PGPROXY_TLS_FAILED (-1)     // a TLS or socket error: pgproxy_tls_error() says which
#define PGPROXY_TLS_WANT_READ (-2)  // wait until the socket is readable, then call again
#define PGPROXY_TLS_WANT_WRITE (-3) // wait until the socket is writable, then call again

// A server-side context (pgproxy as the TLS server) from PEM files: the certificate chain, its
// key and, if not NULL, the CA that signs client certificates. verify: 0 asks no certificate,
// 1 asks for one and checks it if given, 2 insists on one. TLS 1.2 at least. NULL on failure,
// with the reason in `error`.
void *pgproxy_tls_server_context(const char *certificate, const char *key, const char *ca, int verify,
                                 char *error, size_t error_length);
// A client-side context (pgproxy as the TLS client of a server): `ca` (or NULL) checks the
// server's certificate when `verify` is 1; `certificate` and `key` (or NULL) are shown to a
// server that asks for one. NULL on failure, with the reason in `error`.
void *pgproxy_tls_client_context(const char *ca, const char *certificate, const char *key, int verify,
                                 char *error, size_t error_length);
void pgproxy_tls_context_free(void *context);

// A connection on the connected socket `descriptor`, in the server role: the handshake happens
// inside the first reads and writes. NULL on failure.
void *pgproxy_tls_new(void *context, int descriptor);
// A connection on `descriptor` in the client role, to `host` (named in SNI unless it is an
// address); `check_host` makes the handshake fail unless the certificate names `host` (its DNS
// names, or its IP addresses for an address). The handshake happens inside the first writes
// and reads. NULL on failure.
void *pgproxy_tls_new_client(void *context, int descriptor, const char *host, int check_host);
// Sends close_notify if it can without waiting, and frees the connection (not the socket).
void pgproxy_tls_free(void *connection);

ssize_t pgproxy_tls_read(void *connection, void *bytes, size_t count);
ssize_t pgproxy_tls_write(void *connection, const void *bytes, size_t count);
// 1 when the connection holds bytes read from the socket and not yet returned by
// pgproxy_tls_read, decrypted or not (no socket event announces them).
int pgproxy_tls_has_pending(void *connection);

// After the handshake: 1 if the client presented a certificate that was verified, else 0; its
// common name into `name` (NUL-terminated; empty when it has none); the protocol ("TLSv1.3").
int pgproxy_tls_peer_certificate(void *connection, char *name, size_t name_length);
const char *pgproxy_tls_version(void *connection);
// The peer's certificate in DER: its size (0 without one); written to `bytes` when it fits.
int pgproxy_tls_peer_certificate_der(void *connection, unsigned char *bytes, size_t length);
// The reason for the last PGPROXY_TLS_FAILED on this thread; with `connection` (or NULL), the
// certificate check's verdict when it failed.
void pgproxy_tls_error(void *connection, char *error, size_t error_length);
#endif
