/*
 * TLS 1.3 contexts over OpenSSL. The verify function given by the daemon
 * replaces OpenSSL's chain building (SSL_CTX_set_cert_verify_callback); this
 * file only adds the subjectAltName check on clients and keeps, per SSL, the
 * host dialled and what went wrong (our refusal of the peer's certificate,
 * the peer's alert, the socket error), so that a client can tell its user
 * why a connection failed (common/http.c reads it back with tls_error()).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "errbuf.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

/* The verify function and its argument, kept with the SSL_CTX. */
struct tls_verifier {
	tls_verify_fn fn;
	void *arg;
};

/* What we remember per connection, kept with the SSL. */
struct tls_conn {
	char *host; /* clients: the host dialled */
	char reason[256]; /* why the peer was refused; "" if it was not */
	char alert[64]; /* the first alert the peer sent; "" if none */
	int sockerr; /* errno that ended the handshake; 0 if none */
	char why[384]; /* what tls_error() returns */
};

static int tls_ctx_idx = -1;
static int tls_ssl_idx = -1;

/* OpenSSL's first reason after "what: ", and the whole queue into the log. */
static void
tls_openssl_err(const char *what, char *err, size_t errlen)
{
	char reason[256];

	log_openssl(what, reason, sizeof(reason));
	if (reason[0] == '\0')
		snprintf(reason, sizeof(reason), "unknown OpenSSL error");
	errbuf_set(err, errlen, "%s: %s", what, reason);
}

static void
tls_verifier_free_cb(
    void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

static void
tls_conn_free_cb(
    void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct tls_conn *c = ptr;

	if (c == NULL)
		return;
	free(c->host);
	free(c);
}

/* The ex_data slots; the daemons are single-threaded. */
static void
tls_init(void)
{
	if (tls_ctx_idx == -1) {
		tls_ctx_idx = SSL_CTX_get_ex_new_index(
		    0, NULL, NULL, NULL, tls_verifier_free_cb);
		if (tls_ctx_idx == -1)
			log_fatalx("tls: no SSL_CTX ex_data index");
	}
	if (tls_ssl_idx == -1) {
		tls_ssl_idx =
		    SSL_get_ex_new_index(0, NULL, NULL, NULL, tls_conn_free_cb);
		if (tls_ssl_idx == -1)
			log_fatalx("tls: no SSL ex_data index");
	}
}

static struct tls_conn *
tls_conn_get(SSL *ssl, int create)
{
	struct tls_conn *c;

	if ((c = SSL_get_ex_data(ssl, tls_ssl_idx)) != NULL || !create)
		return c;
	c = xcalloc(1, sizeof(*c));
	if (SSL_set_ex_data(ssl, tls_ssl_idx, c) != 1)
		log_fatalx("tls: cannot attach connection data");
	return c;
}

static int
tls_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

/*
 * Reads away what the peer has already sent on a connection we are ending
 * with a fatal alert. Closing a socket with unread data sends a RST instead
 * of a FIN, and on the peer a RST makes the socket report an error, so that
 * libevent's HTTP client gives up without reading our alert: the user would
 * see "broken pipe" instead of "bad certificate".
 */
static void
tls_drain(int fd)
{
	char buf[4096];
	int i;

	if (fd < 0)
		return;
	for (i = 0; i < 64; i++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
}

/* OpenSSL 3.0 has no names for the alerts TLS 1.3 added. */
static const char *
tls_alert_name(int value)
{
	const char *name = SSL_alert_desc_string_long(value);

	if (strcmp(name, "unknown") != 0)
		return name;
	switch (value & 0xff) {
	case 109:
		return "missing extension";
	case 116:
		return "certificate required";
	case 120:
		return "no application protocol";
	default:
		return "unknown";
	}
}

/*
 * Alerts, both ways, and how a handshake ended. A client keeps the first
 * alert the server sent (in TLS 1.3 a server refuses a client certificate
 * after the client has finished its handshake, so the alert is all the
 * client learns) and the socket error that ended its handshake ("Connection
 * refused": libevent's own error paths overwrite errno before its caller
 * can read it).
 */
static void
tls_info_cb(const SSL *ssl, int where, int ret)
{
	struct tls_conn *c;
	int saved = errno;

	if ((where & SSL_CB_EXIT) && ret <= 0) {
		c = SSL_get_ex_data(ssl, tls_ssl_idx);
		if (c != NULL && c->sockerr == 0 && saved != 0 &&
		    SSL_get_error(ssl, ret) == SSL_ERROR_SYSCALL)
			c->sockerr = saved;
		errno = saved;
		return;
	}
	if ((where & SSL_CB_ALERT) == 0 || (ret & 0xff) == SSL_AD_CLOSE_NOTIFY)
		return;
	if (where & SSL_CB_READ) {
		log_debug(
		    "tls: the peer sent alert \"%s\"", tls_alert_name(ret));
		c = SSL_get_ex_data(ssl, tls_ssl_idx);
		if (c != NULL && c->alert[0] == '\0')
			snprintf(c->alert, sizeof(c->alert), "%s",
			    tls_alert_name(ret));
	} else if ((ret >> 8) == SSL3_AL_FATAL) {
		log_debug("tls: sent alert \"%s\"", tls_alert_name(ret));
		tls_drain(SSL_get_rfd(ssl));
		errno = saved;
	}
}

/*
 * OpenSSL calls this instead of X509_verify_cert() once the peer's
 * Certificate message is parsed (never when no certificate was sent).
 * Returning 0 fails the handshake with an alert to the peer.
 */
static int
tls_verify_cb(X509_STORE_CTX *xctx, void *arg)
{
	struct tls_verifier *v = arg;
	SSL *ssl;
	X509 *leaf = X509_STORE_CTX_get0_cert(xctx);
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(xctx);
	struct tls_conn *c;
	char reason[sizeof(c->reason)];
	int rc, server;

	ssl = X509_STORE_CTX_get_ex_data(
	    xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl == NULL) {
		log_warnx("tls: certificate check outside a connection");
		return 0;
	}
	server = SSL_is_server(ssl);
	reason[0] = '\0';
	if (leaf == NULL) {
		snprintf(reason, sizeof(reason), "no certificate");
		goto refuse;
	}
	if (v == NULL || v->fn == NULL) {
		snprintf(reason, sizeof(reason), "no verify function");
		goto refuse;
	}
	if (v->fn(leaf, chain, v->arg, reason, sizeof(reason)) != 0) {
		if (reason[0] == '\0')
			snprintf(reason, sizeof(reason),
			    "refused by the certificate check");
		goto refuse;
	}
	if (!server) {
		c = tls_conn_get(ssl, 0);
		if (c == NULL || c->host == NULL) {
			snprintf(reason, sizeof(reason),
			    "no expected host name for this connection");
			goto refuse;
		}
		if (tls_is_ip(c->host))
			rc = X509_check_ip_asc(leaf, c->host, 0);
		else
			rc = X509_check_host(leaf, c->host, strlen(c->host),
			    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
			        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
			    NULL);
		if (rc != 1) {
			snprintf(reason, sizeof(reason),
			    "certificate does not name host %s in its "
			    "subjectAltName",
			    c->host);
			goto refuse;
		}
	}
	X509_STORE_CTX_set_error(xctx, X509_V_OK);
	return 1;

refuse:
	c = tls_conn_get(ssl, 1);
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	log_warnx("tls: %s certificate refused: %s",
	    server ? "client" : "server", reason);
	X509_STORE_CTX_set_error(xctx, X509_V_ERR_CERT_REJECTED);
	return 0;
}

/* What the server and client contexts share. */
static SSL_CTX *
tls_ctx_new(int server, X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain,
    tls_verify_fn verify, void *arg, char *err, size_t errlen)
{
	SSL_CTX *ctx = NULL;
	struct tls_verifier *v;

	tls_init();
	if (cert != NULL && key == NULL) {
		errbuf_set(err, errlen, "certificate without a private key");
		goto fail;
	}
	if (cert == NULL && (key != NULL || chain != NULL)) {
		errbuf_set(err, errlen, "key or chain without a certificate");
		goto fail;
	}
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL) {
		tls_openssl_err("SSL_CTX_new", err, errlen);
		goto fail;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		tls_openssl_err("cannot restrict to TLS 1.3", err, errlen);
		goto fail;
	}
	SSL_CTX_set_info_callback(ctx, tls_info_cb);
	/* No resumption: each connection is verified from scratch. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (server && SSL_CTX_set_num_tickets(ctx, 0) != 1) {
		tls_openssl_err("SSL_CTX_set_num_tickets", err, errlen);
		goto fail;
	}
	if (cert != NULL) {
		if (X509_check_private_key(cert, key) != 1) {
			log_openssl("X509_check_private_key", NULL, 0);
			errbuf_set(err, errlen,
			    "private key does not match the certificate");
			goto fail;
		}
		if (SSL_CTX_use_certificate(ctx, cert) != 1) {
			tls_openssl_err("our certificate", err, errlen);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey(ctx, key) != 1) {
			tls_openssl_err("our private key", err, errlen);
			goto fail;
		}
		if (chain != NULL && SSL_CTX_set1_chain(ctx, chain) != 1) {
			tls_openssl_err("our certificate chain", err, errlen);
			goto fail;
		}
	}
	if (verify != NULL) {
		v = xcalloc(1, sizeof(*v));
		v->fn = verify;
		v->arg = arg;
		if (SSL_CTX_set_ex_data(ctx, tls_ctx_idx, v) != 1) {
			free(v);
			tls_openssl_err("SSL_CTX_set_ex_data", err, errlen);
			goto fail;
		}
		SSL_CTX_set_cert_verify_callback(ctx, tls_verify_cb, v);
	}
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_server_ctx(X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain,
    int client_auth, tls_verify_fn verify, void *arg, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "set-tls";
	SSL_CTX *ctx;
	int mode;

	switch (client_auth) {
	case TLS_CLIENT_NONE:
		mode = SSL_VERIFY_NONE;
		break;
	case TLS_CLIENT_OPTIONAL:
		mode = SSL_VERIFY_PEER;
		break;
	case TLS_CLIENT_REQUIRED:
		mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		break;
	default:
		errbuf_set(err, errlen, "unknown client_auth %d", client_auth);
		return NULL;
	}
	if (cert == NULL) {
		errbuf_set(err, errlen, "a server needs a certificate");
		return NULL;
	}
	if (client_auth != TLS_CLIENT_NONE && verify == NULL) {
		errbuf_set(
		    err, errlen, "client certificates need a verify function");
		return NULL;
	}
	ctx = tls_ctx_new(1, cert, key, chain, verify, arg, err, errlen);
	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) !=
	    1) {
		tls_openssl_err("SSL_CTX_set_session_id_context", err, errlen);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, mode, NULL);
	return ctx;
}

SSL_CTX *
tls_client_ctx(X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain,
    tls_verify_fn verify, void *arg, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (verify == NULL) {
		errbuf_set(err, errlen,
		    "a client needs a verify function for the server");
		return NULL;
	}
	ctx = tls_ctx_new(0, cert, key, chain, verify, arg, err, errlen);
	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

SSL *
tls_client_ssl(SSL_CTX *ctx, const char *host, char *err, size_t errlen)
{
	SSL *ssl;
	struct tls_conn *c;

	tls_init();
	if (host == NULL || host[0] == '\0') {
		errbuf_set(err, errlen, "no host name to connect to");
		return NULL;
	}
	if ((ssl = SSL_new(ctx)) == NULL) {
		tls_openssl_err("SSL_new", err, errlen);
		return NULL;
	}
	c = tls_conn_get(ssl, 1);
	c->host = xstrdup(host);
	/* RFC 6066: SNI carries DNS names only, never an address. */
	if (!tls_is_ip(host) && SSL_set_tlsext_host_name(ssl, host) != 1) {
		tls_openssl_err("server name indication", err, errlen);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

const char *
tls_error(const SSL *ssl)
{
	struct tls_conn *c;
	const char *peer;

	if (ssl == NULL || tls_ssl_idx == -1 ||
	    (c = SSL_get_ex_data(ssl, tls_ssl_idx)) == NULL)
		return NULL;
	peer = SSL_is_server(ssl) ? "client" : "server";
	if (c->reason[0] != '\0')
		snprintf(c->why, sizeof(c->why), "%s certificate refused: %s",
		    peer, c->reason);
	else if (c->alert[0] != '\0')
		snprintf(c->why, sizeof(c->why), "the %s sent TLS alert \"%s\"",
		    peer, c->alert);
	else if (c->sockerr != 0)
		snprintf(c->why, sizeof(c->why), "%s", strerror(c->sockerr));
	else
		return NULL;
	return c->why;
}

X509 *
tls_peer_cert(SSL *ssl)
{
	X509 *x;

	if (ssl == NULL || (x = SSL_get0_peer_certificate(ssl)) == NULL)
		return NULL;
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	return x;
}
