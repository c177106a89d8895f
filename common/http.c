/*
 * HTTP/1.1 over TLS on libevent. The server is an evhttp whose bufferevent
 * callback wraps every accepted socket in a bufferevent_openssl, so there is
 * no plain-text path: a peer that does not finish a TLS 1.3 handshake (with a
 * certificate the verify function accepts, when the context asks for one)
 * never reaches a handler. Requests go to one dispatcher that decodes the
 * path, finds the route and hands the handler a struct http_req with the
 * client's certificate. Limits (body, headers, timeouts) are evhttp's own.
 *
 * The client runs one request on a private event_base and turns whatever
 * went wrong (connect, TLS alert, the verify function's refusal, timeout)
 * into one readable reason.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "http.h"
#include "errbuf.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

#define HTTP_MAX_BODY (64 * 1024)
#define HTTP_MAX_HEADERS (8 * 1024)
#define HTTP_TIMEOUT 10
#define HTTP_CLIENT_MAX_BODY (16 * 1024 * 1024)
#define HTTP_CLIENT_MAX_HEADERS (64 * 1024)

#define HTTP_METHODS                                                           \
	(EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | \
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH)

struct http_route {
	char *path;
	size_t len;
	int prefix; /* the path ends with '/' */
	http_handler_fn fn;
	void *arg;
};

struct http_server {
	struct event_base *base;
	SSL_CTX *ctx;
	struct evhttp *evh;
	struct evhttp_bound_socket *sock;
	int port;
	struct http_route *routes;
	size_t nroutes;
	struct http_pending *pending; /* deferred replies not yet finished */
};

/* What http_req.priv points to while a handler runs. */
struct http_exchange {
	struct http_server *srv;
	struct evhttp_request *r;
	int replied;
	int deferred;
};

/* A request whose handler returned without replying (http_defer). */
struct http_pending {
	struct http_server *srv;
	struct evhttp_request *r;
	char *method, *path; /* for the log */
	struct http_pending *prev, *next;
};

static const struct {
	enum evhttp_cmd_type cmd;
	const char *name;
} http_methods[] = {
	{ EVHTTP_REQ_GET, "GET" },
	{ EVHTTP_REQ_POST, "POST" },
	{ EVHTTP_REQ_HEAD, "HEAD" },
	{ EVHTTP_REQ_PUT, "PUT" },
	{ EVHTTP_REQ_DELETE, "DELETE" },
	{ EVHTTP_REQ_OPTIONS, "OPTIONS" },
	{ EVHTTP_REQ_PATCH, "PATCH" },
};

static const char *
http_method_name(enum evhttp_cmd_type cmd)
{
	size_t i;

	for (i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++)
		if (http_methods[i].cmd == cmd)
			return http_methods[i].name;
	return "UNKNOWN";
}

static int
http_method_cmd(const char *name, enum evhttp_cmd_type *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++)
		if (strcmp(http_methods[i].name, name) == 0) {
			*cmd = http_methods[i].cmd;
			return 0;
		}
	return -1;
}

static const char *
http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Status";
	}
}

/*
 * evhttp asks for a bufferevent for each accepted socket. Returning NULL
 * would make it fall back to a plain socket, so failing here (out of memory
 * only) is fatal rather than a silent downgrade.
 */
static struct bufferevent *
http_server_bev_cb(struct event_base *base, void *arg)
{
	struct http_server *srv = arg;
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(srv->ctx)) == NULL) {
		log_openssl("SSL_new", NULL, 0);
		log_fatalx("http: cannot make a TLS connection");
	}
	/* With BEV_OPT_CLOSE_ON_FREE the bufferevent owns ssl, even when
	 * the constructor fails. */
	bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		log_fatalx("http: cannot make a TLS bufferevent");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static void
http_reply_error(struct http_req *req, int status, const char *code)
{
	char *body = xasprintf("{\"error\":\"%s\"}", code);

	http_reply(req, status, "application/json", body, strlen(body));
	free(body);
}

static const struct http_route *
http_server_find(const struct http_server *srv, const char *path)
{
	const struct http_route *best = NULL;
	size_t i;

	for (i = 0; i < srv->nroutes; i++) {
		const struct http_route *rt = &srv->routes[i];

		if (!rt->prefix) {
			if (strcmp(rt->path, path) == 0)
				return rt;
		} else if (strncmp(rt->path, path, rt->len) == 0 &&
		    (best == NULL || rt->len > best->len))
			best = rt;
	}
	return best;
}

/*
 * The client's verified certificate, and what it sent, leaf first as
 * tls_verify_fn saw it (on a server, OpenSSL's own list leaves the leaf
 * out). The caller frees req->peer_chain with sk_X509_free().
 */
static void
http_peer_fill(struct http_req *req, SSL *ssl)
{
	STACK_OF(X509) *sent;
	X509 *x;
	int i;

	if ((req->peer = tls_peer_cert(ssl)) == NULL)
		return;
	if ((req->peer_chain = sk_X509_new_null()) == NULL ||
	    sk_X509_push(req->peer_chain, req->peer) <= 0)
		log_fatalx("http: out of memory");
	sent = SSL_get_peer_cert_chain(ssl);
	for (i = 0; sent != NULL && i < sk_X509_num(sent); i++) {
		x = sk_X509_value(sent, i);
		if (i == 0 && X509_cmp(x, req->peer) == 0)
			continue;
		if (sk_X509_push(req->peer_chain, x) <= 0)
			log_fatalx("http: out of memory");
	}
}

static void
http_server_request_cb(struct evhttp_request *r, void *arg)
{
	struct http_server *srv = arg;
	struct http_exchange ex;
	struct http_req req;
	struct evhttp_connection *evcon;
	const struct evhttp_uri *uri;
	const struct http_route *rt;
	struct evbuffer *in;
	const char *rawpath;
	char *path = NULL, *remote = NULL, *addr = NULL;
	ev_uint16_t port = 0;
	size_t pathlen = 0;
	SSL *ssl = NULL;

	memset(&ex, 0, sizeof(ex));
	memset(&req, 0, sizeof(req));
	ex.srv = srv;
	ex.r = r;
	req.priv = &ex;
	req.method = http_method_name(evhttp_request_get_command(r));

	if ((evcon = evhttp_request_get_connection(r)) != NULL) {
		evhttp_connection_get_peer(evcon, &addr, &port);
		ssl = bufferevent_openssl_get_ssl(
		    evhttp_connection_get_bufferevent(evcon));
	}
	if (addr != NULL && strchr(addr, ':') != NULL)
		remote = xasprintf("[%s]:%u", addr, (unsigned)port);
	else
		remote = xasprintf("%s:%u", addr ? addr : "?", (unsigned)port);
	req.remote = remote;

	/* Never serve a request that did not come over TLS. */
	if (ssl == NULL) {
		log_warnx("http: %s: request without TLS refused", remote);
		req.path = "?";
		http_reply_error(&req, 400, "bad-request");
		goto done;
	}
	http_peer_fill(&req, ssl);

	uri = evhttp_request_get_evhttp_uri(r);
	rawpath = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (rawpath != NULL && rawpath[0] == '/')
		path = evhttp_uridecode(rawpath, 0, &pathlen);
	/* A %00 in the path would hide what follows it. */
	if (path == NULL || strlen(path) != pathlen) {
		log_info(
		    "http: %s: %s with a malformed path", remote, req.method);
		req.path = "?";
		http_reply_error(&req, 400, "bad-request");
		goto done;
	}
	req.path = path;
	req.query = evhttp_uri_get_query(uri);

	in = evhttp_request_get_input_buffer(r);
	req.bodylen = evbuffer_get_length(in);
	if (evbuffer_add(in, "", 1) != 0)
		log_fatalx("http: out of memory");
	req.body = evbuffer_pullup(in, -1);
	if (req.body == NULL)
		log_fatalx("http: out of memory");

	if ((rt = http_server_find(srv, path)) == NULL) {
		log_debug(
		    "http: %s: %s %s: not found", remote, req.method, path);
		http_reply_error(&req, 404, "not-found");
		goto done;
	}
	rt->fn(&req, rt->arg);
	if (!ex.replied && !ex.deferred) {
		log_warnx(
		    "http: %s %s: the handler did not reply", req.method, path);
		http_reply_error(&req, 500, "internal");
	}

done:
	sk_X509_free(req.peer_chain);
	free(path);
	free(remote);
}

struct http_server *
http_server_new(struct event_base *base, SSL_CTX *ctx, const char *addr,
    int port, char *err, size_t errlen)
{
	struct http_server *srv;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	evutil_socket_t fd;
	int e;

	if (port < 0 || port > 65535) {
		errbuf_set(err, errlen, "bad port %d", port);
		return NULL;
	}
	srv = xcalloc(1, sizeof(*srv));
	srv->base = base;
	if (SSL_CTX_up_ref(ctx) != 1) {
		free(srv);
		errbuf_set(err, errlen, "cannot reference the TLS context");
		return NULL;
	}
	srv->ctx = ctx;
	if ((srv->evh = evhttp_new(base)) == NULL) {
		errbuf_set(err, errlen, "cannot create the HTTP server");
		goto fail;
	}
	evhttp_set_bevcb(srv->evh, http_server_bev_cb, srv);
	evhttp_set_gencb(srv->evh, http_server_request_cb, srv);
	evhttp_set_allowed_methods(srv->evh, HTTP_METHODS);
	evhttp_set_default_content_type(srv->evh, NULL);
	evhttp_set_max_body_size(srv->evh, HTTP_MAX_BODY);
	evhttp_set_max_headers_size(srv->evh, HTTP_MAX_HEADERS);
	evhttp_set_timeout(srv->evh, HTTP_TIMEOUT);

	srv->sock =
	    evhttp_bind_socket_with_handle(srv->evh, addr, (ev_uint16_t)port);
	if (srv->sock == NULL) {
		e = EVUTIL_SOCKET_ERROR();
		errbuf_set(err, errlen, "cannot listen on %s:%d: %s", addr,
		    port, e ? evutil_socket_error_to_string(e) : "failed");
		goto fail;
	}
	fd = evhttp_bound_socket_get_fd(srv->sock);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		errbuf_set(err, errlen, "getsockname: %s", strerror(errno));
		goto fail;
	}
	if (ss.ss_family == AF_INET)
		srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		srv->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		srv->port = port;
	log_debug("http: listening on %s:%d", addr, srv->port);
	return srv;

fail:
	http_server_free(srv);
	return NULL;
}

int
http_server_port(const struct http_server *srv)
{
	return srv->port;
}

void
http_server_limits(struct http_server *srv, size_t max_body, int timeout_secs)
{
	if (max_body > 0)
		evhttp_set_max_body_size(srv->evh, max_body);
	if (timeout_secs > 0)
		evhttp_set_timeout(srv->evh, timeout_secs);
}

void
http_server_route(
    struct http_server *srv, const char *path, http_handler_fn fn, void *arg)
{
	struct http_route *rt;
	size_t len = strlen(path);

	if (len == 0 || path[0] != '/')
		log_fatalx("http: route \"%s\" does not start with '/'", path);
	srv->routes =
	    xrealloc(srv->routes, (srv->nroutes + 1) * sizeof(*srv->routes));
	rt = &srv->routes[srv->nroutes++];
	rt->path = xstrdup(path);
	rt->len = len;
	rt->prefix = path[len - 1] == '/';
	rt->fn = fn;
	rt->arg = arg;
}

/* Sends the reply to r (method and path for the log). */
static void
http_send(struct evhttp_request *r, const char *method, const char *path,
    int status, const char *content_type, const void *body, size_t len)
{
	struct evkeyvalq *h;

	if (status < 100 || status > 599) {
		log_warnx("http: %s %s: bad status %d, sending 500", method,
		    path, status);
		status = 500;
	}
	h = evhttp_request_get_output_headers(r);
	/* evhttp refuses header values with CR or LF. */
	if (content_type != NULL &&
	    evhttp_add_header(h, "Content-Type", content_type) != 0)
		log_warnx(
		    "http: %s %s: bad content type dropped", method, path);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (len > 0 &&
	    evbuffer_add(evhttp_request_get_output_buffer(r), body, len) != 0)
		log_fatalx("http: out of memory");
	/* A request whose client went away is only freed. */
	evhttp_send_reply(r, status, http_reason(status), NULL);
}

void
http_reply(struct http_req *req, int status, const char *content_type,
    const void *body, size_t len)
{
	struct http_exchange *ex = req->priv;

	if (ex->replied || ex->deferred) {
		log_warnx("http: %s %s: second reply ignored", req->method,
		    req->path);
		return;
	}
	ex->replied = 1;
	http_send(
	    ex->r, req->method, req->path, status, content_type, body, len);
}

const char *
http_req_header(struct http_req *req, const char *name)
{
	struct http_exchange *ex = req->priv;

	return evhttp_find_header(
	    evhttp_request_get_input_headers(ex->r), name);
}

struct http_pending *
http_defer(struct http_req *req)
{
	struct http_exchange *ex = req->priv;
	struct http_pending *p;

	if (ex->replied || ex->deferred)
		log_fatalx("http: %s %s: deferred after a reply", req->method,
		    req->path);
	ex->deferred = 1;
	p = xcalloc(1, sizeof(*p));
	p->srv = ex->srv;
	p->r = ex->r;
	p->method = xstrdup(req->method);
	p->path = xstrdup(req->path);
	if ((p->next = p->srv->pending) != NULL)
		p->next->prev = p;
	p->srv->pending = p;
	return p;
}

static void
http_pending_free(struct http_pending *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		p->srv->pending = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	free(p->method);
	free(p->path);
	free(p);
}

void
http_pending_reply(struct http_pending *p, int status, const char *content_type,
    const void *body, size_t len)
{
	http_send(p->r, p->method, p->path, status, content_type, body, len);
	http_pending_free(p);
}

void
http_pending_drop(struct http_pending *p)
{
	struct evhttp_connection *evcon;

	/* Freeing the connection frees its requests, r among them; a
	 * request whose client went away is on no connection. */
	if ((evcon = evhttp_request_get_connection(p->r)) != NULL)
		evhttp_connection_free(evcon);
	else
		evhttp_request_free(p->r);
	http_pending_free(p);
}

void
http_server_stop(struct http_server *srv)
{
	if (srv->sock != NULL) {
		evhttp_del_accept_socket(srv->evh, srv->sock);
		srv->sock = NULL;
	}
}

void
http_server_free(struct http_server *srv)
{
	size_t i;

	if (srv == NULL)
		return;
	while (srv->pending != NULL)
		http_pending_drop(srv->pending);
	if (srv->evh != NULL)
		evhttp_free(srv->evh);
	SSL_CTX_free(srv->ctx);
	for (i = 0; i < srv->nroutes; i++)
		free(srv->routes[i].path);
	free(srv->routes);
	free(srv);
}

/* One client request in flight. */
struct http_call {
	struct event_base *base;
	struct bufferevent *bev;
	SSL *ssl;
	struct http_resp *resp;
	int got; /* a complete response arrived */
	int unframed; /* ... but its body had no length */
	int timed_out; /* our overall deadline passed */
	int has_error;
	enum evhttp_request_error error;
	int sockerr; /* errno when libevent gave up */
};

static void
http_call_done_cb(struct evhttp_request *r, void *arg)
{
	struct http_call *call = arg;
	struct evkeyvalq *h;
	struct evbuffer *in;
	const char *ct;
	size_t len;

	call->sockerr = EVUTIL_SOCKET_ERROR();
	event_base_loopbreak(call->base);
	if (r == NULL || evhttp_request_get_response_code(r) <= 0)
		return;
	h = evhttp_request_get_input_headers(r);
	in = evhttp_request_get_input_buffer(r);
	len = evbuffer_get_length(in);
	/*
	 * Without a length, only the end of the connection ends the body,
	 * and with dirty shutdowns allowed a cut connection would look like
	 * a complete answer.
	 */
	if (len > 0 && evhttp_find_header(h, "Content-Length") == NULL &&
	    evhttp_find_header(h, "Transfer-Encoding") == NULL) {
		call->unframed = 1;
		return;
	}
	call->resp->status = evhttp_request_get_response_code(r);
	call->resp->len = len;
	call->resp->body = xmalloc(len + 1);
	if (len > 0 && evbuffer_remove(in, call->resp->body, len) != (int)len)
		log_fatalx("http: cannot copy the response body");
	call->resp->body[len] = '\0';
	if ((ct = evhttp_find_header(h, "Content-Type")) != NULL)
		call->resp->content_type = xstrdup(ct);
	call->got = 1;
}

static void
http_call_error_cb(enum evhttp_request_error error, void *arg)
{
	struct http_call *call = arg;

	call->has_error = 1;
	call->error = error;
}

static void
http_call_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_call *call = arg;

	call->timed_out = 1;
	event_base_loopbreak(call->base);
}

/* The first real OpenSSL error the bufferevent kept, all of them logged. */
static const char *
http_call_tls_error(struct http_call *call)
{
	const char *first = NULL, *r;
	unsigned long e;

	while ((e = bufferevent_get_openssl_error(call->bev)) != 0) {
		/* libevent also queues bare SSL_get_error() codes. */
		if (ERR_GET_LIB(e) == 0 ||
		    (r = ERR_reason_error_string(e)) == NULL)
			continue;
		log_debug("http: TLS: %s", r);
		if (first == NULL)
			first = r;
	}
	return first;
}

static void
http_call_explain(struct http_call *call, const char *host, int port,
    int timeout_secs, char *err, size_t errlen)
{
	const char *why;

	if (call->timed_out ||
	    (call->has_error && call->error == EVREQ_HTTP_TIMEOUT)) {
		errbuf_set(err, errlen, "%s:%d: timed out after %d s", host,
		    port, timeout_secs);
	} else if ((why = tls_error(call->ssl)) != NULL) {
		errbuf_set(err, errlen, "%s:%d: %s", host, port, why);
	} else if ((why = http_call_tls_error(call)) != NULL) {
		errbuf_set(
		    err, errlen, "%s:%d: TLS failed: %s", host, port, why);
	} else if (call->unframed) {
		errbuf_set(err, errlen, "%s:%d: response body without a length",
		    host, port);
	} else if (call->has_error) {
		switch (call->error) {
		case EVREQ_HTTP_EOF:
			why = call->sockerr == EPIPE ||
			        call->sockerr == ECONNRESET
			    ? "connection reset by the server before a response"
			    : "connection closed before a response";
			break;
		case EVREQ_HTTP_INVALID_HEADER:
			why = "malformed response";
			break;
		case EVREQ_HTTP_DATA_TOO_LONG:
			why = "response too large";
			break;
		case EVREQ_HTTP_REQUEST_CANCEL:
			why = "request cancelled";
			break;
		default:
			why = "connection error";
			break;
		}
		errbuf_set(err, errlen, "%s:%d: %s", host, port, why);
	} else if (call->sockerr != 0) {
		errbuf_set(err, errlen, "cannot connect to %s:%d: %s", host,
		    port, evutil_socket_error_to_string(call->sockerr));
	} else
		errbuf_set(err, errlen, "%s:%d: no response", host, port);
}

int
http_request(SSL_CTX *ctx, const char *host, int port, const char *method,
    const char *path, const char *content_type, const void *body, size_t len,
    int timeout_secs, struct http_resp *resp, char *err, size_t errlen)
{
	struct http_call call;
	struct evhttp_connection *evcon = NULL;
	struct evhttp_request *r = NULL;
	struct event *timer = NULL;
	struct evkeyvalq *h;
	struct timeval tv;
	enum evhttp_cmd_type cmd;
	char *hosthdr = NULL, lenbuf[32];
	int rc = -1;

	memset(resp, 0, sizeof(*resp));
	memset(&call, 0, sizeof(call));
	call.resp = resp;
	errbuf_set(err, errlen, "unknown error");
	if (host == NULL || host[0] == '\0' || port <= 0 || port > 65535) {
		errbuf_set(err, errlen, "bad host or port");
		return -1;
	}
	if (method == NULL || http_method_cmd(method, &cmd) == -1) {
		errbuf_set(err, errlen, "unknown method %s",
		    method ? method : "(null)");
		return -1;
	}
	if (path == NULL || path[0] != '/') {
		errbuf_set(err, errlen, "path must start with '/'");
		return -1;
	}
	if (timeout_secs <= 0 || (body == NULL && len > 0)) {
		errbuf_set(err, errlen, "bad timeout or body");
		return -1;
	}

	if ((call.base = event_base_new()) == NULL) {
		errbuf_set(err, errlen, "cannot create an event base");
		goto done;
	}
	if ((call.ssl = tls_client_ssl(ctx, host, err, errlen)) == NULL)
		goto done;
	/* The bufferevent owns ssl from here on, even if this fails. */
	call.bev = bufferevent_openssl_socket_new(call.base, -1, call.ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (call.bev == NULL) {
		call.ssl = NULL;
		errbuf_set(err, errlen, "cannot create a TLS bufferevent");
		goto done;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(call.bev, 1);
	/* Owns the bufferevent from here on; fails only without memory. */
	evcon = evhttp_connection_base_bufferevent_new(
	    call.base, NULL, call.bev, host, (ev_uint16_t)port);
	if (evcon == NULL)
		log_fatalx("http: cannot create a connection");
	evhttp_connection_set_timeout(evcon, timeout_secs);
	evhttp_connection_set_retries(evcon, 0);
	evhttp_connection_set_max_body_size(evcon, HTTP_CLIENT_MAX_BODY);
	evhttp_connection_set_max_headers_size(evcon, HTTP_CLIENT_MAX_HEADERS);

	if ((r = evhttp_request_new(http_call_done_cb, &call)) == NULL)
		log_fatalx("http: cannot create a request");
	evhttp_request_set_error_cb(r, http_call_error_cb);
	h = evhttp_request_get_output_headers(r);
	if (strchr(host, ':') != NULL)
		hosthdr = xasprintf("[%s]:%d", host, port);
	else
		hosthdr = xasprintf("%s:%d", host, port);
	if (evhttp_add_header(h, "Host", hosthdr) != 0 ||
	    evhttp_add_header(h, "Connection", "close") != 0 ||
	    (content_type != NULL &&
	        evhttp_add_header(h, "Content-Type", content_type) != 0)) {
		errbuf_set(err, errlen, "bad host name or content type");
		goto done;
	}
	if (len > 0 || cmd == EVHTTP_REQ_POST || cmd == EVHTTP_REQ_PUT ||
	    cmd == EVHTTP_REQ_PATCH) {
		snprintf(lenbuf, sizeof(lenbuf), "%zu", len);
		if (evhttp_add_header(h, "Content-Length", lenbuf) != 0 ||
		    (len > 0 &&
		        evbuffer_add(evhttp_request_get_output_buffer(r), body,
		            len) != 0))
			log_fatalx("http: out of memory");
	}

	/* One deadline for everything: connect, handshake, response. */
	if ((timer = evtimer_new(call.base, http_call_timeout_cb, &call)) ==
	    NULL)
		log_fatalx("http: cannot create a timer");
	tv.tv_sec = timeout_secs;
	tv.tv_usec = 0;
	evtimer_add(timer, &tv);

	/*
	 * From here on r is libevent's: it frees it on most failures (a
	 * rare one leaves it to us, but a leak beats a double free).
	 */
	if (evhttp_make_request(evcon, r, cmd, path) != 0) {
		r = NULL;
		errbuf_set(
		    err, errlen, "cannot send a request to %s:%d", host, port);
		goto done;
	}
	r = NULL;
	if (event_base_dispatch(call.base) == -1) {
		errbuf_set(err, errlen, "event loop failed");
		goto done;
	}
	if (call.got) {
		rc = 0;
		goto done;
	}
	http_call_explain(&call, host, port, timeout_secs, err, errlen);

done:
	if (r != NULL)
		evhttp_request_free(r);
	if (timer != NULL)
		event_free(timer);
	if (evcon != NULL)
		evhttp_connection_free(evcon);
	if (call.base != NULL)
		event_base_free(call.base);
	free(hosthdr);
	if (rc != 0)
		http_resp_clear(resp);
	else if (err != NULL && errlen > 0)
		err[0] = '\0';
	return rc;
}

void
http_resp_clear(struct http_resp *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	free(resp->content_type);
	memset(resp, 0, sizeof(*resp));
}
