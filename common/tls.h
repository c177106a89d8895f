/*
 * TLS contexts for every connection of the system: TLS 1.3 only, our
 * certificate and key, and the peer's certificate decided by a verify
 * function that the daemon plugs in (the project's PKI checker: chain to our
 * root, validity, role, CRLs). OpenSSL's own chain building is replaced by
 * that function, so this module adds the one check it cannot know about: on
 * a client, the host it dialled must be named in the server certificate's
 * subjectAltName. common/http.c carries HTTP/1.1 over these contexts.
 *
 * Sessions are never resumed (no tickets, no session cache): every
 * connection runs the verify function again, so a revoked certificate is
 * refused on the next connection.
 */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/*
 * Decides on a peer's certificate after the TLS layer has parsed it: 0
 * accepts, -1 refuses (with a reason in err). The chain is the peer's
 * certificate list as sent (leaf first). The project's PKI checker (chain to
 * our root, validity, CRLs) is plugged in here by the daemons; the TLS module
 * knows nothing about it. All pointers are borrowed for the call.
 */
typedef int (*tls_verify_fn)(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen);

/*
 * Client certificates on a server: NONE, not requested; OPTIONAL, requested
 * and, if sent, it must pass verify; REQUIRED, the handshake fails without
 * one that passes verify.
 */
enum { TLS_CLIENT_NONE, TLS_CLIENT_OPTIONAL, TLS_CLIENT_REQUIRED };

/*
 * A server context: TLS 1.3 only, our certificate + key + chain (the
 * intermediates sent after our certificate; may be NULL). verify decides on
 * client certificates and is required unless client_auth is
 * TLS_CLIENT_NONE; arg is passed to it and must outlive the context.
 * The context takes its own references to cert, key and chain: the caller
 * keeps and frees its own. Free the result with SSL_CTX_free().
 * NULL with a reason in err (e.g. a key that does not match the certificate).
 */
SSL_CTX *tls_server_ctx(X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain,
    int client_auth, tls_verify_fn verify, void *arg, char *err, size_t errlen);

/*
 * A client context: TLS 1.3 only; cert/key/chain optional (cert NULL: no
 * client certificate). verify is required: the server's certificate is
 * always checked, and the host dialled (see tls_client_ssl) must match its
 * subjectAltName (DNS name or IP address; the subject CN is never used).
 * Ownership as for tls_server_ctx.
 */
SSL_CTX *tls_client_ctx(X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain,
    tls_verify_fn verify, void *arg, char *err, size_t errlen);

/*
 * A client SSL for one connection to host (a DNS name or an IP literal,
 * without brackets): SNI is set for names, and host is remembered with the
 * SSL for the subjectAltName check. An SSL made by plain SSL_new() on a
 * tls_client_ctx context has no host and every server is refused. The caller
 * owns the result (or hands it to a bufferevent). NULL with a reason in err.
 */
SSL *tls_client_ssl(SSL_CTX *ctx, const char *host, char *err, size_t errlen);

/*
 * Why the connection on ssl failed, as far as TLS saw it, or NULL: our
 * refusal of the peer's certificate ("server certificate refused: " and the
 * verify function's reason, or the host name mismatch), else the first
 * alert the peer sent ("the server sent TLS alert \"bad certificate\"": in
 * TLS 1.3 that is all a client learns when the server refuses its
 * certificate), else the socket error that ended the handshake ("Connection
 * refused"). Alerts and socket errors are kept for SSLs made by
 * tls_client_ssl only. Borrowed, valid until the next call or SSL_free.
 */
const char *tls_error(const SSL *ssl);

/*
 * The peer's certificate on an established SSL, NULL if none was sent (or it
 * was not accepted); borrowed, valid while ssl lives.
 */
X509 *tls_peer_cert(SSL *ssl);

#endif
