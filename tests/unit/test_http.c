/*
 * Unit tests for common/tls.c and common/http.c. Each case makes a throwaway
 * PKI in memory (a root, an intermediate that issues the server
 * certificates, a client certificate, and the same again from an unrelated
 * "evil" root), runs an HTTPS server in a forked child on 127.0.0.1 (the
 * child reports its ephemeral port through a pipe and exits, with status 0
 * when it shut down cleanly, when the parent closes a lifeline pipe), and
 * talks to it with http_request() or with raw sockets.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http.h"
#include "tls.h"
#include "unit.h"
#include "xmalloc.h"

struct ident {
	EVP_PKEY *key;
	X509 *cert;
};

static struct {
	struct ident root, inter, server, lhonly, client;
	struct ident evil_root, evil_server, evil_client;
	STACK_OF(X509) *server_chain; /* the intermediate */
} pki;

static void
ext_add(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);

	ASSERT_PTR_NOT_NULL(ext);
	ASSERT_INT_EQ(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A P-256 key and a certificate for it; issuer NULL: self-signed CA. */
static void
ident_make(struct ident *id, const char *cn, const struct ident *issuer, int ca,
    const char *san)
{
	static long serial = 1;
	X509V3_CTX v3;
	X509_NAME *name;
	X509 *x;

	id->key = EVP_EC_gen("P-256");
	ASSERT_PTR_NOT_NULL(id->key);
	x = X509_new();
	ASSERT_PTR_NOT_NULL(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(
	    x, issuer ? X509_get_subject_name(issuer->cert) : name);
	X509_set_pubkey(x, id->key);
	X509V3_set_ctx(&v3, issuer ? issuer->cert : x, x, NULL, NULL, 0);
	ext_add(x, &v3, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	ext_add(x, &v3, NID_key_usage,
	    ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	ext_add(x, &v3, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		ext_add(x, &v3, NID_authority_key_identifier, "keyid:always");
	if (!ca)
		ext_add(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth");
	if (san != NULL)
		ext_add(x, &v3, NID_subject_alt_name, san);
	ASSERT_INT_NE(
	    X509_sign(x, issuer ? issuer->key : id->key, EVP_sha256()), 0);
	id->cert = x;
}

static void
pki_make(void)
{
	ident_make(&pki.root, "Test Root", NULL, 1, NULL);
	ident_make(&pki.inter, "Test Intermediate", &pki.root, 1, NULL);
	ident_make(
	    &pki.server, "server", &pki.inter, 0, "IP:127.0.0.1,DNS:localhost");
	ident_make(
	    &pki.lhonly, "localhost only", &pki.inter, 0, "DNS:localhost");
	ident_make(&pki.client, "client", &pki.inter, 0, NULL);
	ident_make(&pki.evil_root, "Test Root", NULL, 1, NULL);
	ident_make(&pki.evil_server, "server", &pki.evil_root, 0,
	    "IP:127.0.0.1,DNS:localhost");
	ident_make(&pki.evil_client, "client", &pki.evil_root, 0, NULL);
	pki.server_chain = sk_X509_new_null();
	ASSERT_PTR_NOT_NULL(pki.server_chain);
	sk_X509_push(pki.server_chain, pki.inter.cert);
}

static void
ident_free(struct ident *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
}

static void
pki_free(void)
{
	ident_free(&pki.root);
	ident_free(&pki.inter);
	ident_free(&pki.server);
	ident_free(&pki.lhonly);
	ident_free(&pki.client);
	ident_free(&pki.evil_root);
	ident_free(&pki.evil_server);
	ident_free(&pki.evil_client);
	sk_X509_free(pki.server_chain);
}

/* The tests' PKI checker: the chain as sent must lead to arg, a root. */
static int
test_verify(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *xctx = X509_STORE_CTX_new();
	int ok = 0;

	if (store != NULL && xctx != NULL && X509_STORE_add_cert(store, arg) &&
	    X509_STORE_CTX_init(xctx, store, leaf, chain) == 1)
		ok = X509_verify_cert(xctx) == 1;
	if (!ok)
		snprintf(err, errlen, "test CA: %s",
		    X509_verify_cert_error_string(
		        xctx ? X509_STORE_CTX_get_error(xctx) : 0));
	X509_STORE_CTX_free(xctx);
	X509_STORE_free(store);
	return ok ? 0 : -1;
}

static SSL_CTX *
client_ctx(const struct ident *id, X509 *trust)
{
	char err[256];
	SSL_CTX *ctx;

	/* Our client sends the intermediate that issued it. */
	ctx = tls_client_ctx(id ? id->cert : NULL, id ? id->key : NULL,
	    id == &pki.client ? pki.server_chain : NULL, test_verify, trust,
	    err, sizeof(err));
	if (ctx == NULL)
		unit_fail(__FILE__, __LINE__, "tls_client_ctx: %s", err);
	return ctx;
}

/* The server child. */

struct srv_conf {
	int client_auth;
	const struct ident *id;
	STACK_OF(X509) *chain;
	size_t max_body;
	int timeout;
};

struct server {
	pid_t pid;
	int port;
	int lifeline;
};

static const char *
peer_cn(X509 *x, char *buf, size_t len)
{
	if (x == NULL)
		return "none";
	if (X509_NAME_get_text_by_NID(
	        X509_get_subject_name(x), NID_commonName, buf, (int)len) < 0)
		return "?";
	return buf;
}

static void
echo_h(struct http_req *req, void *arg)
{
	http_reply(
	    req, 200, "application/octet-stream", req->body, req->bodylen);
}

/* The Host header the client sent, and whether an absent one is NULL. */
static void
header_h(struct http_req *req, void *arg)
{
	const char *host = http_req_header(req, "host");
	char *out = xasprintf("host=%s absent=%s", host ? host : "(null)",
	    http_req_header(req, "X-Absent") ? "set" : "null");

	http_reply(req, 200, "text/plain", out, strlen(out));
	free(out);
}

/* Everything the handler saw, for the parent to check. */
static void
info_h(struct http_req *req, void *arg)
{
	char cn[128], c0[128], c1[128], *s;
	int n = req->peer_chain ? sk_X509_num(req->peer_chain) : 0;

	s = xasprintf("method=%s path=%s query=%s peer=%s chain=%d [%s, %s] "
	              "remote=%s body=%zu nul=%d",
	    req->method, req->path, req->query ? req->query : "(none)",
	    peer_cn(req->peer, cn, sizeof(cn)), n,
	    n > 0 ? peer_cn(sk_X509_value(req->peer_chain, 0), c0, sizeof(c0))
	          : "",
	    n > 1 ? peer_cn(sk_X509_value(req->peer_chain, 1), c1, sizeof(c1))
	          : "",
	    req->remote, req->bodylen, req->body[req->bodylen] == '\0');
	http_reply(req, 200, "text/plain", s, strlen(s));
	free(s);
}

static void
noreply_h(struct http_req *req, void *arg)
{
}

static void
twice_h(struct http_req *req, void *arg)
{
	http_reply(req, 200, "text/plain", "first", 5);
	http_reply(req, 201, "text/plain", "second", 6);
}

static void
stop_h(struct http_req *req, void *arg)
{
	http_server_stop(arg);
	http_reply(req, 200, "text/plain", "stopped", 7);
}

/* Deferred replies: one answered from a timer, one dropped, one held
 * until http_server_free() drops it. */
struct later {
	struct http_pending *p;
	struct event *ev;
	int drop;
};

static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct later *l = arg;

	if (l->drop)
		http_pending_drop(l->p);
	else
		http_pending_reply(l->p, 200, "text/plain", "later", 5);
	event_free(l->ev);
	free(l);
}

static void
later_h(struct http_req *req, void *arg)
{
	struct later *l = xcalloc(1, sizeof(*l));
	struct timeval tv = { 0, 300000 };

	l->drop = strcmp(req->path, "/drop") == 0;
	l->p = http_defer(req);
	l->ev = evtimer_new(arg, later_cb, l);
	evtimer_add(l->ev, &tv);
}

static void
forever_h(struct http_req *req, void *arg)
{
	(void)http_defer(req);
}

static void
lifeline_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static int
server_main(const struct srv_conf *c, int portfd, int lifeline)
{
	struct event_base *base;
	struct http_server *srv;
	struct event *ev;
	char err[256];
	SSL_CTX *ctx;
	int port;

	alarm(120);
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		return 2;
	ctx = tls_server_ctx(c->id->cert, c->id->key, c->chain, c->client_auth,
	    test_verify, pki.root.cert, err, sizeof(err));
	if (ctx == NULL) {
		fprintf(stderr, "tls_server_ctx: %s\n", err);
		return 2;
	}
	srv = http_server_new(base, ctx, "127.0.0.1", 0, err, sizeof(err));
	SSL_CTX_free(ctx); /* the server keeps its own reference */
	if (srv == NULL) {
		fprintf(stderr, "http_server_new: %s\n", err);
		return 2;
	}
	http_server_limits(srv, c->max_body, c->timeout);
	http_server_route(srv, "/echo", echo_h, NULL);
	http_server_route(srv, "/header", header_h, NULL);
	http_server_route(srv, "/info", info_h, NULL);
	http_server_route(srv, "/api/", info_h, NULL);
	http_server_route(srv, "/api/exact", echo_h, NULL);
	http_server_route(srv, "/noreply", noreply_h, NULL);
	http_server_route(srv, "/twice", twice_h, NULL);
	http_server_route(srv, "/stop", stop_h, srv);
	http_server_route(srv, "/later", later_h, base);
	http_server_route(srv, "/drop", later_h, base);
	http_server_route(srv, "/forever", forever_h, NULL);
	ev = event_new(base, lifeline, EV_READ, lifeline_cb, base);
	event_add(ev, NULL);
	port = http_server_port(srv);
	if (write(portfd, &port, sizeof(port)) != sizeof(port))
		return 2;
	close(portfd);
	event_base_dispatch(base);
	http_server_free(srv);
	event_free(ev);
	event_base_free(base);
	pki_free();
	return 0;
}

static void
server_start(const struct srv_conf *c, struct server *s)
{
	int pfd[2], lfd[2];
	struct pollfd p;

	signal(SIGPIPE, SIG_IGN);
	ASSERT_INT_EQ(pipe(pfd), 0);
	ASSERT_INT_EQ(pipe(lfd), 0);
	fflush(stderr);
	s->pid = fork();
	ASSERT_INT_NE(s->pid, -1);
	if (s->pid == 0) {
		close(pfd[0]);
		close(lfd[1]);
		exit(server_main(c, pfd[1], lfd[0]));
	}
	close(pfd[1]);
	close(lfd[0]);
	s->lifeline = lfd[1];
	p.fd = pfd[0];
	p.events = POLLIN;
	ASSERT_INT_EQ(poll(&p, 1, 10000), 1);
	ASSERT_INT_EQ(read(pfd[0], &s->port, sizeof(s->port)), sizeof(s->port));
	close(pfd[0]);
	ASSERT_TRUE(s->port > 0);
}

/* Closes the lifeline; the server must exit 0 (alive, clean, no leaks). */
static void
server_stop(struct server *s)
{
	int status, i;
	pid_t r = 0;

	close(s->lifeline);
	for (i = 0; i < 200 && r == 0; i++) {
		r = waitpid(s->pid, &status, WNOHANG);
		if (r == 0)
			usleep(50000);
	}
	if (r == 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
		unit_fail(__FILE__, __LINE__, "server did not stop");
	}
	if (WIFSIGNALED(status))
		unit_fail(__FILE__, __LINE__, "server died of signal %d",
		    WTERMSIG(status));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_INT_EQ(WEXITSTATUS(status), 0);
}

static void
srv_conf_default(struct srv_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->client_auth = TLS_CLIENT_NONE;
	c->id = &pki.server;
	c->chain = pki.server_chain;
}

/* A request that must get a response; returns its status. */
static int
must_request(SSL_CTX *ctx, const char *host, int port, const char *method,
    const char *path, const void *body, size_t len, struct http_resp *resp)
{
	char err[256];

	if (http_request(ctx, host, port, method, path,
	        body ? "application/octet-stream" : NULL, body, len, 5, resp,
	        err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "%s %s (%zu bytes): %s", method,
		    path, len, err);
	return resp->status;
}

/* A request that must fail; the reason is left in err. */
static void
must_fail(SSL_CTX *ctx, const char *host, int port, const char *path, char *err,
    size_t errlen)
{
	struct http_resp resp;

	if (http_request(ctx, host, port, "GET", path, NULL, NULL, 0, 5, &resp,
	        err, errlen) == 0)
		unit_fail(__FILE__, __LINE__, "GET %s: got status %d", path,
		    resp.status);
	ASSERT_PTR_NULL(resp.body);
	ASSERT_TRUE(err[0] != '\0');
}

/* GET /info and check what the handler saw of the client. */
static void
expect_peer(SSL_CTX *ctx, int port, const char *want)
{
	struct http_resp resp;

	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", port, "GET", "/info", NULL,
	                  0, &resp),
	    200);
	ASSERT_STR_CONTAINS((char *)resp.body, want);
	http_resp_clear(&resp);
}

/* Raw sockets, for the misbehaving clients. */

static int
tcp_connect(int port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT_TRUE(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_INT_EQ(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads until the peer closes (1) or secs pass (0). */
static int
wait_closed(int fd, int secs)
{
	double end = now() + secs;
	char buf[4096];
	struct pollfd p;
	ssize_t n;

	while (now() < end) {
		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
	}
	return 0;
}

static void
send_all(int fd, const void *buf, size_t len)
{
	ASSERT_INT_EQ(send(fd, buf, len, MSG_NOSIGNAL), len);
}

/* A real ClientHello from a TLS 1.3 client, without a network. */
static size_t
client_hello(SSL_CTX *ctx, unsigned char *out, size_t cap)
{
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	char err[256];
	SSL *ssl = tls_client_ssl(ctx, "127.0.0.1", err, sizeof(err));
	char *p;
	long n;

	ASSERT_PTR_NOT_NULL(ssl);
	SSL_set_bio(ssl, rb, wb);
	ASSERT_INT_EQ(SSL_connect(ssl), -1);
	n = BIO_get_mem_data(wb, &p);
	ASSERT_TRUE(n > 100 && (size_t)n <= cap);
	memcpy(out, p, (size_t)n);
	SSL_free(ssl);
	return (size_t)n;
}

/* A blocking TLS connection for keep-alive and pipelining. */
static SSL *
tls_open(SSL_CTX *ctx, int port)
{
	struct timeval tv = { 5, 0 };
	char err[256];
	SSL *ssl;
	int fd = tcp_connect(port);

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssl = tls_client_ssl(ctx, "127.0.0.1", err, sizeof(err));
	ASSERT_PTR_NOT_NULL(ssl);
	ASSERT_INT_EQ(SSL_set_fd(ssl, fd), 1);
	ASSERT_INT_EQ(SSL_connect(ssl), 1);
	return ssl;
}

static void
tls_close(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);

	SSL_free(ssl);
	close(fd);
}

/* Reads one response with a Content-Length into buf; returns its length. */
static size_t
tls_read_response(SSL *ssl, char *buf, size_t cap)
{
	size_t have = 0, need = 0;
	char *end, *cl;
	int n;

	for (;;) {
		buf[have] = '\0';
		if (need == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			cl = strstr(buf, "Content-Length:");
			ASSERT_PTR_NOT_NULL(cl);
			need = (size_t)(end + 4 - buf) +
			    strtoul(cl + 15, NULL, 10);
		}
		if (need > 0 && have >= need)
			return need;
		ASSERT_TRUE(have + 1 < cap);
		n = SSL_read(ssl, buf + have, (int)(cap - have - 1));
		if (n <= 0)
			unit_fail(__FILE__, __LINE__,
			    "connection ended after %zu bytes: \"%s\"", have,
			    buf);
		have += (size_t)n;
	}
}

/* Reads until the server closes; NUL-terminated. */
static size_t
tls_read_all(SSL *ssl, char *buf, size_t cap)
{
	size_t have = 0;
	int n;

	while (have + 1 < cap &&
	    (n = SSL_read(ssl, buf + have, (int)(cap - have - 1))) > 0)
		have += (size_t)n;
	buf[have] = '\0';
	return have;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return n;
}

/* An ephemeral port that nobody listens on, and a socket if listen. */
static int
free_port(int listen_too, int *fdp)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT_TRUE(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_INT_EQ(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ASSERT_INT_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	if (listen_too) {
		ASSERT_INT_EQ(listen(fd, 16), 0);
		*fdp = fd;
	} else
		close(fd);
	return ntohs(sin.sin_port);
}

/* The cases. */

static void
test_echo(void)
{
	struct srv_conf c;
	struct server s;
	struct http_resp resp;
	unsigned char body[3000];
	SSL_CTX *ctx;

	pki_make();
	srv_conf_default(&c);
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);
	RAND_bytes(body, sizeof(body));
	body[10] = '\0';
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "POST", "/echo",
	                  body, sizeof(body), &resp),
	    200);
	ASSERT_INT_EQ(resp.len, sizeof(body));
	ASSERT_MEM_EQ(resp.body, body, sizeof(body));
	ASSERT_STR_EQ(resp.content_type, "application/octet-stream");
	http_resp_clear(&resp);
	ASSERT_PTR_NULL(resp.body);

	/* Handlers read request headers by name, case-insensitively. */
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "GET", "/header",
	                  NULL, 0, &resp),
	    200);
	{
		char *want = xasprintf("host=127.0.0.1:%d absent=null", s.port);

		ASSERT_STR_EQ((char *)resp.body, want);
		free(want);
	}
	http_resp_clear(&resp);

	/* An empty POST body is still a request with a body. */
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "POST", "/info",
	                  "", 0, &resp),
	    200);
	ASSERT_STR_CONTAINS((char *)resp.body, "method=POST path=/info");
	ASSERT_STR_CONTAINS((char *)resp.body, "body=0 nul=1");
	ASSERT_STR_CONTAINS((char *)resp.body, "remote=127.0.0.1:");
	/* No client certificate was asked for. */
	ASSERT_STR_CONTAINS((char *)resp.body, "peer=none chain=0 [, ]");
	http_resp_clear(&resp);
	SSL_CTX_free(ctx);
	server_stop(&s);
	pki_free();
}

static void
test_get_query_routes(void)
{
	struct srv_conf c;
	struct server s;
	struct http_resp resp;
	SSL_CTX *ctx;

	pki_make();
	srv_conf_default(&c);
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);

	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "GET",
	                  "/info?card=4242&x=a%20b", NULL, 0, &resp),
	    200);
	ASSERT_STR_EQ(resp.content_type, "text/plain");
	ASSERT_STR_CONTAINS((char *)resp.body,
	    "method=GET path=/info query=card=4242&x=a%20b ");
	http_resp_clear(&resp);

	/* No query at all is NULL, not "". */
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "GET", "/info",
	                  NULL, 0, &resp),
	    200);
	ASSERT_STR_CONTAINS((char *)resp.body, "query=(none)");
	http_resp_clear(&resp);

	/* A prefix route, with the path decoded. */
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "GET",
	                  "/api/orders/a%20b", NULL, 0, &resp),
	    200);
	ASSERT_STR_CONTAINS((char *)resp.body, "path=/api/orders/a b ");
	http_resp_clear(&resp);

	/* An exact route wins over the prefix that also matches. */
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "POST",
	                  "/api/exact", "xyz", 3, &resp),
	    200);
	ASSERT_INT_EQ(resp.len, 3);
	ASSERT_MEM_EQ(resp.body, "xyz", 3);
	http_resp_clear(&resp);

	/* A %00 in the path is refused. */
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "GET",
	                  "/api/a%00b", NULL, 0, &resp),
	    400);
	ASSERT_STR_EQ((char *)resp.body, "{\"error\":\"bad-request\"}");
	http_resp_clear(&resp);
	SSL_CTX_free(ctx);
	server_stop(&s);
	pki_free();
}

static void
test_not_found(void)
{
	static const char *paths[] = { "/nothing", "/api", "/echo/more",
		"/infox", "/" };
	struct srv_conf c;
	struct server s;
	struct http_resp resp;
	SSL_CTX *ctx;
	size_t i;

	pki_make();
	srv_conf_default(&c);
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);
	for (i = 0; i < UNIT_N(paths); i++) {
		ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "GET",
		                  paths[i], NULL, 0, &resp),
		    404);
		ASSERT_STR_EQ(resp.content_type, "application/json");
		ASSERT_STR_EQ((char *)resp.body, "{\"error\":\"not-found\"}");
		http_resp_clear(&resp);
	}
	SSL_CTX_free(ctx);
	server_stop(&s);
	pki_free();
}

static void
test_handler_reply_rules(void)
{
	struct srv_conf c;
	struct server s;
	struct http_resp resp;
	SSL_CTX *ctx;

	pki_make();
	srv_conf_default(&c);
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "GET", "/noreply",
	                  NULL, 0, &resp),
	    500);
	ASSERT_STR_EQ((char *)resp.body, "{\"error\":\"internal\"}");
	http_resp_clear(&resp);
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "GET", "/twice",
	                  NULL, 0, &resp),
	    200);
	ASSERT_STR_EQ((char *)resp.body, "first");
	http_resp_clear(&resp);
	SSL_CTX_free(ctx);
	server_stop(&s);
	pki_free();
}

/*
 * A deferred reply comes from a timer while other requests are served; a
 * dropped one closes the connection without a response; one never finished
 * is dropped by http_server_free() (the server exits 0, without leaks).
 */
static void
test_deferred_replies(void)
{
	struct srv_conf c;
	struct server s;
	struct http_resp resp;
	char err[256];
	SSL_CTX *ctx;
	pid_t pid;
	int status;

	pki_make();
	srv_conf_default(&c);
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);
	fflush(stderr);
	/* A second client asks for /later while the first waits on it. */
	pid = fork();
	ASSERT_INT_NE(pid, -1);
	if (pid == 0)
		_exit(must_request(ctx, "127.0.0.1", s.port, "GET", "/later",
		          NULL, 0, &resp) == 200 &&
		            strcmp((char *)resp.body, "later") == 0
		        ? 0
		        : 1);
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "POST", "/echo",
	                  "x", 1, &resp),
	    200);
	http_resp_clear(&resp);
	ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	must_fail(ctx, "127.0.0.1", s.port, "/drop", err, sizeof(err));
	ASSERT_INT_EQ(http_request(ctx, "127.0.0.1", s.port, "GET", "/forever",
	                  NULL, NULL, 0, 1, &resp, err, sizeof(err)),
	    -1);
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "GET", "/later",
	                  NULL, 0, &resp),
	    200);
	http_resp_clear(&resp);
	SSL_CTX_free(ctx);
	server_stop(&s);
	pki_free();
}

/*
 * A body over the limit is never served. The server answers 413 and closes
 * at once, so a client still sending a body larger than the socket buffers
 * may be cut off (connection reset) before it reads the 413.
 */
static void
body_refused(SSL_CTX *ctx, int port, const void *body, size_t len)
{
	struct http_resp resp;
	char err[256];

	if (http_request(ctx, "127.0.0.1", port, "POST", "/echo", NULL, body,
	        len, 5, &resp, err, sizeof(err)) == 0) {
		if (resp.status != 413)
			unit_fail(__FILE__, __LINE__,
			    "%zu bytes: status %d, not 413", len, resp.status);
	} else
		ASSERT_STR_CONTAINS(err, "127.0.0.1");
	http_resp_clear(&resp);
}

static void
test_body_limit(void)
{
	struct srv_conf c;
	struct server s;
	struct http_resp resp;
	static unsigned char big[200 * 1024];
	SSL_CTX *ctx;

	pki_make();
	srv_conf_default(&c);
	c.max_body = 1024;
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);
	memset(big, 'a', sizeof(big));

	/* Small enough to be sent whole: the 413 always arrives. */
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "POST", "/echo",
	                  big, 1025, &resp),
	    413);
	http_resp_clear(&resp);
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "POST", "/echo",
	                  big, 1024, &resp),
	    200);
	ASSERT_INT_EQ(resp.len, 1024);
	http_resp_clear(&resp);
	body_refused(ctx, s.port, big, sizeof(big));
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "POST", "/echo",
	                  "ok", 2, &resp),
	    200);
	ASSERT_MEM_EQ(resp.body, "ok", 2);
	http_resp_clear(&resp);
	SSL_CTX_free(ctx);
	server_stop(&s);

	/* The default limit is 64 KiB. */
	srv_conf_default(&c);
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "POST", "/echo",
	                  big, 64 * 1024, &resp),
	    200);
	ASSERT_INT_EQ(resp.len, 64 * 1024);
	ASSERT_MEM_EQ(resp.body, big, 64 * 1024);
	http_resp_clear(&resp);
	body_refused(ctx, s.port, big, 64 * 1024 + 1);
	body_refused(ctx, s.port, big, sizeof(big));
	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "POST", "/echo",
	                  "ok", 2, &resp),
	    200);
	http_resp_clear(&resp);
	SSL_CTX_free(ctx);
	server_stop(&s);
	pki_free();
}

static void
test_tls12_refused(void)
{
	struct srv_conf c;
	struct server s;
	SSL_CTX *old;
	char err[256];

	pki_make();
	srv_conf_default(&c);
	server_start(&c, &s);
	old = SSL_CTX_new(TLS_client_method());
	ASSERT_PTR_NOT_NULL(old);
	ASSERT_INT_EQ(SSL_CTX_set_max_proto_version(old, TLS1_2_VERSION), 1);
	SSL_CTX_set_verify(old, SSL_VERIFY_NONE, NULL);
	must_fail(old, "127.0.0.1", s.port, "/info", err, sizeof(err));
	ASSERT_STR_CONTAINS(err, "TLS failed");
	ASSERT_STR_CONTAINS(err, "protocol version");
	SSL_CTX_free(old);
	server_stop(&s);
	pki_free();
}

static void
test_client_auth_required(void)
{
	struct srv_conf c;
	struct server s;
	SSL_CTX *good, *evil, *anon;
	char err[256];

	pki_make();
	srv_conf_default(&c);
	c.client_auth = TLS_CLIENT_REQUIRED;
	server_start(&c, &s);
	good = client_ctx(&pki.client, pki.root.cert);
	evil = client_ctx(&pki.evil_client, pki.root.cert);
	anon = client_ctx(NULL, pki.root.cert);

	expect_peer(
	    good, s.port, "peer=client chain=2 [client, Test Intermediate] ");
	must_fail(evil, "127.0.0.1", s.port, "/info", err, sizeof(err));
	ASSERT_STR_CONTAINS(err, "alert \"bad certificate\"");
	must_fail(anon, "127.0.0.1", s.port, "/info", err, sizeof(err));
	ASSERT_STR_CONTAINS(err, "alert \"certificate required\"");
	/* Still serving. */
	expect_peer(
	    good, s.port, "peer=client chain=2 [client, Test Intermediate] ");
	SSL_CTX_free(good);
	SSL_CTX_free(evil);
	SSL_CTX_free(anon);
	server_stop(&s);
	pki_free();
}

static void
test_client_auth_optional(void)
{
	struct srv_conf c;
	struct server s;
	SSL_CTX *good, *evil, *anon;
	char err[256];

	pki_make();
	srv_conf_default(&c);
	c.client_auth = TLS_CLIENT_OPTIONAL;
	server_start(&c, &s);
	good = client_ctx(&pki.client, pki.root.cert);
	evil = client_ctx(&pki.evil_client, pki.root.cert);
	anon = client_ctx(NULL, pki.root.cert);

	expect_peer(anon, s.port, "peer=none chain=0 [, ] ");
	expect_peer(
	    good, s.port, "peer=client chain=2 [client, Test Intermediate] ");
	/* Optional, but a certificate that is sent must pass. */
	must_fail(evil, "127.0.0.1", s.port, "/info", err, sizeof(err));
	ASSERT_STR_CONTAINS(err, "alert \"bad certificate\"");
	expect_peer(anon, s.port, "peer=none chain=0 [, ] ");
	SSL_CTX_free(good);
	SSL_CTX_free(evil);
	SSL_CTX_free(anon);
	server_stop(&s);

	/* Not asked for: never seen, even from a client that has one. */
	srv_conf_default(&c);
	server_start(&c, &s);
	good = client_ctx(&pki.client, pki.root.cert);
	expect_peer(good, s.port, "peer=none chain=0 [, ] ");
	SSL_CTX_free(good);
	server_stop(&s);
	pki_free();
}

static void
test_server_other_ca(void)
{
	struct srv_conf c;
	struct server s;
	SSL_CTX *ctx;
	char err[256];

	pki_make();
	srv_conf_default(&c);
	c.id = &pki.evil_server;
	c.chain = NULL;
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);
	must_fail(ctx, "127.0.0.1", s.port, "/info", err, sizeof(err));
	/* The verify function's own reason reaches the caller. */
	ASSERT_STR_CONTAINS(err, "server certificate refused: test CA: ");
	ASSERT_STR_CONTAINS(err, "local issuer");
	SSL_CTX_free(ctx);
	server_stop(&s);

	/* Our server without its intermediate cannot be verified either. */
	srv_conf_default(&c);
	c.chain = NULL;
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);
	must_fail(ctx, "127.0.0.1", s.port, "/info", err, sizeof(err));
	ASSERT_STR_CONTAINS(err, "server certificate refused: test CA: ");
	SSL_CTX_free(ctx);
	server_stop(&s);
	pki_free();
}

static void
test_server_wrong_host(void)
{
	struct srv_conf c;
	struct server s;
	SSL_CTX *ctx;
	char err[256];

	pki_make();
	srv_conf_default(&c);
	c.id = &pki.lhonly;
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);
	must_fail(ctx, "127.0.0.1", s.port, "/info", err, sizeof(err));
	ASSERT_STR_CONTAINS(err,
	    "server certificate refused: certificate "
	    "does not name host 127.0.0.1");
	SSL_CTX_free(ctx);
	server_stop(&s);
	pki_free();
}

static void
test_garbage_clients(void)
{
	static const char plain[] = "GET /info HTTP/1.1\r\nHost: x\r\n\r\n";
	struct srv_conf c;
	struct server s;
	SSL_CTX *ctx;
	unsigned char junk[4096], hello[4096];
	size_t hlen;
	int fd;

	pki_make();
	srv_conf_default(&c);
	c.timeout = 1;
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);

	/* Plain HTTP on the TLS port: closed, never answered in clear. */
	fd = tcp_connect(s.port);
	send_all(fd, plain, strlen(plain));
	ASSERT_TRUE(wait_closed(fd, 5));
	close(fd);
	expect_peer(ctx, s.port, "path=/info");

	/* Random bytes. */
	RAND_bytes(junk, sizeof(junk));
	fd = tcp_connect(s.port);
	send_all(fd, junk, sizeof(junk));
	ASSERT_TRUE(wait_closed(fd, 5));
	close(fd);
	expect_peer(ctx, s.port, "path=/info");

	/* Silence: the timeout closes the connection. */
	fd = tcp_connect(s.port);
	ASSERT_TRUE(wait_closed(fd, 5));
	close(fd);

	/* Half a ClientHello, then silence. */
	hlen = client_hello(ctx, hello, sizeof(hello));
	fd = tcp_connect(s.port);
	send_all(fd, hello, hlen / 2);
	ASSERT_TRUE(wait_closed(fd, 5));
	close(fd);

	/* Half a ClientHello, then hang up. */
	fd = tcp_connect(s.port);
	send_all(fd, hello, hlen / 2);
	close(fd);
	expect_peer(ctx, s.port, "path=/info");
	SSL_CTX_free(ctx);
	server_stop(&s);
	pki_free();
}

static void
test_pipelining_and_garbage(void)
{
	static const char reqs[] =
	    "GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n"
	    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
	    "\x01\xfe\xff garbage \x00\x7f\r\n\r\n";
	static const char badhdr[] = "GET /info HTTP/1.1\r\nHost: a\r\n"
	                             "\x01\x02\x03\r\n\x80\x81:\r\n\r\n";
	struct srv_conf c;
	struct server s;
	SSL_CTX *ctx;
	char buf[16384];
	SSL *ssl;

	pki_make();
	srv_conf_default(&c);
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);

	/* Two good requests, then bytes that are not a request. */
	ssl = tls_open(ctx, s.port);
	ASSERT_INT_EQ(SSL_write(ssl, reqs, sizeof(reqs) - 1), sizeof(reqs) - 1);
	tls_read_all(ssl, buf, sizeof(buf));
	ASSERT_INT_EQ(count(buf, "HTTP/1.1 200 OK"), 2);
	ASSERT_STR_CONTAINS(buf, "path=/api/x ");
	ASSERT_STR_CONTAINS(buf, "\r\n\r\nhello");
	ASSERT_STR_CONTAINS(buf, "HTTP/1.1 400");
	tls_close(ssl);

	/* Garbage header lines. */
	ssl = tls_open(ctx, s.port);
	ASSERT_INT_EQ(
	    SSL_write(ssl, badhdr, sizeof(badhdr) - 1), sizeof(badhdr) - 1);
	tls_read_all(ssl, buf, sizeof(buf));
	ASSERT_FALSE(strstr(buf, "HTTP/1.1 200") != NULL);
	tls_close(ssl);

	expect_peer(ctx, s.port, "path=/info");
	SSL_CTX_free(ctx);
	server_stop(&s);
	pki_free();
}

static void
test_stop_keeps_inflight(void)
{
	static const char get[] = "GET /info HTTP/1.1\r\nHost: a\r\n\r\n";
	struct srv_conf c;
	struct server s;
	struct http_resp resp;
	SSL_CTX *ctx;
	char buf[8192], err[256];
	SSL *ssl;

	pki_make();
	srv_conf_default(&c);
	server_start(&c, &s);
	ctx = client_ctx(NULL, pki.root.cert);

	ssl = tls_open(ctx, s.port);
	ASSERT_INT_EQ(SSL_write(ssl, get, sizeof(get) - 1), sizeof(get) - 1);
	tls_read_response(ssl, buf, sizeof(buf));
	ASSERT_STR_CONTAINS(buf, "HTTP/1.1 200 OK");

	ASSERT_INT_EQ(must_request(ctx, "127.0.0.1", s.port, "POST", "/stop",
	                  "", 0, &resp),
	    200);
	http_resp_clear(&resp);
	/* No new connections... */
	must_fail(ctx, "127.0.0.1", s.port, "/info", err, sizeof(err));
	ASSERT_STR_CONTAINS(err, "Connection refused");
	/* ...but the one in flight goes on. */
	ASSERT_INT_EQ(SSL_write(ssl, get, sizeof(get) - 1), sizeof(get) - 1);
	tls_read_response(ssl, buf, sizeof(buf));
	ASSERT_STR_CONTAINS(buf, "HTTP/1.1 200 OK");
	ASSERT_STR_CONTAINS(buf, "path=/info");
	tls_close(ssl);
	SSL_CTX_free(ctx);
	server_stop(&s);
	pki_free();
}

static void
test_client_timeout(void)
{
	struct http_resp resp;
	SSL_CTX *ctx;
	char err[256];
	double t0, dt;
	int lfd, port;

	pki_make();
	ctx = client_ctx(NULL, pki.root.cert);
	/* Listens, but never accepts nor answers. */
	port = free_port(1, &lfd);
	t0 = now();
	ASSERT_INT_EQ(http_request(ctx, "127.0.0.1", port, "GET", "/info", NULL,
	                  NULL, 0, 1, &resp, err, sizeof(err)),
	    -1);
	dt = now() - t0;
	ASSERT_STR_CONTAINS(err, "timed out after 1 s");
	ASSERT_PTR_NULL(resp.body);
	if (dt < 0.9 || dt > 5.0)
		unit_fail(__FILE__, __LINE__, "gave up after %.2f s", dt);

	/* A port where nobody listens: refused at once. */
	close(lfd);
	port = free_port(0, NULL);
	ASSERT_INT_EQ(http_request(ctx, "127.0.0.1", port, "GET", "/info", NULL,
	                  NULL, 0, 2, &resp, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "127.0.0.1");
	ASSERT_STR_CONTAINS(err, "Connection refused");
	SSL_CTX_free(ctx);
	pki_free();
}

static void
test_client_bad_args(void)
{
	struct http_resp resp;
	SSL_CTX *ctx;
	char err[256];

	pki_make();
	ctx = client_ctx(NULL, pki.root.cert);
	ASSERT_INT_EQ(http_request(ctx, "127.0.0.1", 443, "BREW", "/", NULL,
	                  NULL, 0, 1, &resp, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "BREW");
	ASSERT_INT_EQ(http_request(ctx, "127.0.0.1", 443, "GET", "nope", NULL,
	                  NULL, 0, 1, &resp, err, sizeof(err)),
	    -1);
	ASSERT_INT_EQ(http_request(ctx, "127.0.0.1", 0, "GET", "/", NULL, NULL,
	                  0, 1, &resp, err, sizeof(err)),
	    -1);
	ASSERT_INT_EQ(
	    http_request(ctx, "127.0.0.1", 443, "GET", "/",
	        "text/plain\r\nX-Evil: 1", NULL, 0, 1, &resp, err, sizeof(err)),
	    -1);
	SSL_CTX_free(ctx);
	pki_free();
}

/* TLS alone, over an in-memory BIO pair: 0 when both ends finish. */
static int
handshake(SSL *c, SSL *s)
{
	BIO *cb, *sb;
	int i, rc = 0, rs = 0, ec, es;

	ASSERT_INT_EQ(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (i = 0; i < 50; i++) {
		if (rc != 1)
			rc = SSL_do_handshake(c);
		if (rs != 1)
			rs = SSL_do_handshake(s);
		if (rc == 1 && rs == 1)
			return 0;
		ec = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(c, rc);
		es = rs == 1 ? SSL_ERROR_NONE : SSL_get_error(s, rs);
		if ((ec != SSL_ERROR_NONE && ec != SSL_ERROR_WANT_READ &&
		        ec != SSL_ERROR_WANT_WRITE) ||
		    (es != SSL_ERROR_NONE && es != SSL_ERROR_WANT_READ &&
		        es != SSL_ERROR_WANT_WRITE))
			break;
	}
	ERR_clear_error();
	return -1;
}

/* Dials host against a server with cert id; returns the handshake result. */
static int
dial(SSL_CTX *sctx, SSL_CTX *cctx, const char *host, char *why, size_t len)
{
	char err[256];
	SSL *c, *s;
	int r;

	s = SSL_new(sctx);
	ASSERT_PTR_NOT_NULL(s);
	if (host != NULL)
		c = tls_client_ssl(cctx, host, err, sizeof(err));
	else
		c = SSL_new(cctx);
	ASSERT_PTR_NOT_NULL(c);
	r = handshake(c, s);
	snprintf(why, len, "%s", tls_error(c) ? tls_error(c) : "");
	if (r == 0) {
		ASSERT_PTR_NOT_NULL(tls_peer_cert(c));
		ASSERT_PTR_NULL(tls_peer_cert(s));
		ASSERT_INT_EQ(SSL_version(c), TLS1_3_VERSION);
	}
	SSL_free(c);
	SSL_free(s);
	return r;
}

static void
test_tls_host_names(void)
{
	SSL_CTX *both, *lh, *cctx;
	char err[256], why[256];

	pki_make();
	both = tls_server_ctx(pki.server.cert, pki.server.key, pki.server_chain,
	    TLS_CLIENT_NONE, NULL, NULL, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(both);
	lh = tls_server_ctx(pki.lhonly.cert, pki.lhonly.key, pki.server_chain,
	    TLS_CLIENT_NONE, NULL, NULL, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(lh);
	cctx = client_ctx(NULL, pki.root.cert);

	ASSERT_INT_EQ(dial(both, cctx, "127.0.0.1", why, sizeof(why)), 0);
	ASSERT_STR_EQ(why, "");
	ASSERT_INT_EQ(dial(both, cctx, "localhost", why, sizeof(why)), 0);
	ASSERT_INT_EQ(dial(lh, cctx, "LocalHost", why, sizeof(why)), 0);
	ASSERT_INT_EQ(dial(lh, cctx, "127.0.0.1", why, sizeof(why)), -1);
	ASSERT_STR_CONTAINS(why, "does not name host 127.0.0.1");
	ASSERT_INT_EQ(dial(both, cctx, "other.example", why, sizeof(why)), -1);
	ASSERT_STR_CONTAINS(why, "does not name host other.example");
	ASSERT_INT_EQ(dial(both, cctx, "127.0.0.2", why, sizeof(why)), -1);
	ASSERT_INT_EQ(dial(both, cctx, "::1", why, sizeof(why)), -1);
	/* The CN ("server") is never a name. */
	ASSERT_INT_EQ(dial(both, cctx, "server", why, sizeof(why)), -1);
	/* An SSL that was never told the host is refused. */
	ASSERT_INT_EQ(dial(both, cctx, NULL, why, sizeof(why)), -1);
	ASSERT_STR_CONTAINS(why, "no expected host name");
	SSL_CTX_free(both);
	SSL_CTX_free(lh);
	SSL_CTX_free(cctx);
	pki_free();
}

static void
test_tls_versions_and_args(void)
{
	SSL_CTX *old, *cctx, *sctx;
	char err[256], why[256];
	SSL *c, *s;

	pki_make();
	/* Our client against a TLS 1.2-only server. */
	old = SSL_CTX_new(TLS_server_method());
	ASSERT_PTR_NOT_NULL(old);
	SSL_CTX_set_max_proto_version(old, TLS1_2_VERSION);
	ASSERT_INT_EQ(SSL_CTX_use_certificate(old, pki.server.cert), 1);
	ASSERT_INT_EQ(SSL_CTX_use_PrivateKey(old, pki.server.key), 1);
	cctx = client_ctx(NULL, pki.root.cert);
	ASSERT_INT_EQ(dial(old, cctx, "127.0.0.1", why, sizeof(why)), -1);
	SSL_CTX_free(old);

	/* Our server against a TLS 1.2-only client. */
	sctx = tls_server_ctx(pki.server.cert, pki.server.key, pki.server_chain,
	    TLS_CLIENT_NONE, NULL, NULL, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(sctx);
	old = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_max_proto_version(old, TLS1_2_VERSION);
	c = SSL_new(old);
	s = SSL_new(sctx);
	ASSERT_INT_EQ(handshake(c, s), -1);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(old);

	/* What the constructors refuse. */
	ASSERT_PTR_NULL(
	    tls_client_ctx(NULL, NULL, NULL, NULL, NULL, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "verify function");
	ASSERT_PTR_NULL(tls_server_ctx(pki.server.cert, pki.client.key, NULL,
	    TLS_CLIENT_NONE, NULL, NULL, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "does not match");
	ASSERT_PTR_NULL(tls_server_ctx(pki.server.cert, pki.server.key, NULL,
	    TLS_CLIENT_REQUIRED, NULL, NULL, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "verify function");
	ASSERT_PTR_NULL(tls_server_ctx(pki.server.cert, pki.server.key, NULL,
	    42, test_verify, NULL, err, sizeof(err)));
	ASSERT_PTR_NULL(tls_server_ctx(
	    NULL, NULL, NULL, TLS_CLIENT_NONE, NULL, NULL, err, sizeof(err)));
	ASSERT_PTR_NULL(tls_client_ssl(cctx, "", err, sizeof(err)));
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	pki_free();
}

static const struct unit_case cases[] = {
	{ "POST echo round trip", test_echo },
	{ "GET with query, prefix and exact routes", test_get_query_routes },
	{ "unknown paths get 404 JSON", test_not_found },
	{ "handler without reply gets 500, second reply ignored",
	    test_handler_reply_rules },
	{ "deferred replies: late, dropped, held until freed",
	    test_deferred_replies },
	{ "body over the limit gets 413, server keeps serving",
	    test_body_limit },
	{ "TLS 1.2-only client refused", test_tls12_refused },
	{ "client auth required: good, other CA, none",
	    test_client_auth_required },
	{ "client auth optional and none", test_client_auth_optional },
	{ "client refuses a server from another CA", test_server_other_ca },
	{ "client refuses a server certificate for another host",
	    test_server_wrong_host },
	{ "plain HTTP, random bytes, silence, half handshakes",
	    test_garbage_clients },
	{ "keep-alive pipelining, garbage after and in the headers",
	    test_pipelining_and_garbage },
	{ "stop refuses new connections, in-flight ones go on",
	    test_stop_keeps_inflight },
	{ "client timeout and connection refused", test_client_timeout },
	{ "client refuses bad arguments", test_client_bad_args },
	{ "tls: subjectAltName check on host names and IPs",
	    test_tls_host_names },
	{ "tls: TLS 1.2 refused both ways, bad constructor input",
	    test_tls_versions_and_args },
};

int
main(void)
{
	return unit_main("http", cases, UNIT_N(cases));
}
