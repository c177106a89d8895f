/*
 * HTTP/1.1 over TLS 1.3 on libevent: a server (evhttp, one bufferevent_openssl
 * per connection, routes to synchronous handlers) for the daemons, and a
 * blocking one-request client for the command-line tools and the tests. The
 * TLS contexts come from common/tls.h, so the peer's certificate has been
 * through the daemon's verify function before any handler runs.
 *
 * A peer that goes away makes writes raise SIGPIPE: programs using this
 * module ignore it (common/daemon.c does).
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#include <event2/event.h>
#include <openssl/ssl.h>

struct http_server;

/*
 * One request, valid only while the handler runs. Everything is borrowed.
 * peer is the client's verified certificate (NULL when none was asked for or
 * sent); peer_chain is what the client sent, leaf first as for
 * tls_verify_fn (NULL with peer). body is NUL-terminated for convenience.
 */
struct http_req {
	const char *method; /* "GET", "POST", ... */
	const char *path; /* decoded, without the query */
	const char *query; /* raw (still encoded); NULL when absent */
	const unsigned char *body;
	size_t bodylen;
	X509 *peer;
	STACK_OF(X509) *peer_chain;
	const char *remote; /* "127.0.0.1:54321", "[::1]:54321" */
	void *priv; /* the module's own */
};

typedef void (*http_handler_fn)(struct http_req *req, void *arg);

/* A request header's value (case-insensitive name), or NULL; valid while
 * the handler runs. */
const char *http_req_header(struct http_req *req, const char *name);

/*
 * Listens with TLS on addr:port (port 0: an ephemeral port, see
 * http_server_port). Every connection is TLS; HTTP/1.1 keep-alive. The
 * server takes its own reference to ctx (SSL_CTX_up_ref); base must outlive
 * the server. NULL with a reason in err (e.g. the address is in use).
 */
struct http_server *http_server_new(struct event_base *base, SSL_CTX *ctx,
    const char *addr, int port, char *err, size_t errlen);
int http_server_port(const struct http_server *);

/*
 * Limits for connections accepted from now on: request body (default 64 KiB;
 * a larger one gets 413 and the connection is closed at once, so a client
 * still sending a large body may see a reset instead) and the read/write
 * timeout (default 10 s; an idle or stalled connection, including one that
 * never finishes its TLS handshake, is closed). 0 keeps the current value.
 * Request headers are limited to 8 KiB.
 */
void http_server_limits(
    struct http_server *, size_t max_body, int timeout_secs);

/*
 * Routes: an exact path, or a prefix when the path ends with '/' (the
 * longest matching prefix wins; an exact route wins over any prefix).
 * Unknown paths get 404 with a JSON body {"error":"not-found"}. arg is
 * passed to fn and must outlive the server.
 */
void http_server_route(
    struct http_server *, const char *path, http_handler_fn fn, void *arg);

/*
 * Replies, exactly once per request, from inside the handler (or later
 * through http_defer). body is copied; content_type may be NULL. A
 * handler that returns without replying makes the module answer 500; a
 * second reply is ignored (and logged).
 */
void http_reply(struct http_req *req, int status, const char *content_type,
    const void *body, size_t len);

/*
 * Deferred replies, for an answer that comes later from the event loop (a
 * timer, another connection). http_defer(), called inside the handler,
 * keeps the request open after the handler returns; the handle it returns
 * then stands for the request (req itself is gone once the handler
 * returns). Finish it exactly once: http_pending_reply() sends the reply,
 * http_pending_drop() closes the connection without one. Either frees the
 * handle. If the client has gone away meanwhile, both just free it.
 * http_server_free() drops the handles still open.
 */
struct http_pending;
struct http_pending *http_defer(struct http_req *req);
void http_pending_reply(struct http_pending *, int status,
    const char *content_type, const void *body, size_t len);
void http_pending_drop(struct http_pending *);

/* Stops accepting new connections; those in flight go on until they close. */
void http_server_stop(struct http_server *);
/* Closes the listener and every connection at once. NULL is fine. */
void http_server_free(struct http_server *);

/*
 * A blocking client for command-line tools and tests: its own event_base,
 * one request (Connection: close), TLS with ctx (a tls_client_ctx: the
 * server certificate goes through ctx's verify and must name host), and
 * timeout_secs covers connect + TLS + the whole response. path may carry a
 * query ("/x?a=1"). Responses larger than 16 MiB are refused.
 *
 * Returns 0 when a response arrived (any status; resp filled, release it with
 * http_resp_clear), or -1 with a reason in err: refused or unreachable,
 * TLS failure (including the reason the verify function gave when the
 * client refused the server's certificate), timed out, ...
 */
struct http_resp {
	int status;
	unsigned char *body; /* NUL-terminated for convenience */
	size_t len;
	char *content_type; /* NULL when the server sent none */
};

int http_request(SSL_CTX *ctx, const char *host, int port, const char *method,
    const char *path, const char *content_type, const void *body, size_t len,
    int timeout_secs, struct http_resp *resp, char *err, size_t errlen);
void http_resp_clear(struct http_resp *);

#endif
