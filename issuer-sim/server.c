/*
 * `set-issuer serve`: the issuer daemon. Mutual TLS 1.3 on one port, for
 * the bank-side daemons only (the CA, the payment gateway), HTTP/1.1 with
 * JSON:
 *
 *	POST /v1/verify-card	card details -> verified, or refused with a
 *				reason (verify.c)
 *	POST /v1/authorize	approve with a hold, or decline (authorize.c)
 *	POST /v1/reverse	release all or part of a hold (authorize.c)
 *	GET  /v1/health		{"status":"ok", ...} for scripts
 *
 * A client must present a certificate that chains to the root we trust
 * (tls.root, through tls.client_cas, not revoked by tls.crl), and its
 * subject CN must be on the config's "clients" list (else 403). CRLs expire,
 * so with a "ca" section the daemon keeps them current from the CA
 * (crlfetch_refresh: each brand's CA certificates, signed CRL list and
 * CRLs) at start, on a timer and on HUP; without one it re-reads tls.crl.
 *
 * Every POST runs one way: parse and check every field (400 when
 * malformed), look the request_id up in the reply cache (the same bytes
 * get the stored reply again, other bytes 409), decide, and store the
 * decision together with its reply in one transaction; then answer. The
 * cache key is an HMAC of the body under the card key, never a plain hash
 * of bytes that hold a card number and a CVV.
 *
 * Test amounts (the config's "test" section) can make an authorization
 * answer late, from a timer, or never; the loop keeps serving meanwhile.
 * TERM/INT stop accepting, answer the late replies at once and exit; HUP
 * reloads the CRLs, the client list, the hold lifetime and the test
 * section.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "crlfetch.h"
#include "daemon.h"
#include "http.h"
#include "issuer.h"
#include "log.h"
#include "pki.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

static const char usage[] =
    "usage: set-issuer serve [-dnv] [-f config]\n"
    "\n"
    "Runs the issuer daemon of the state folder that holds the config.\n"
    "\n"
    "  -f config   the issuer's config file (default: $SET_ISSUER_CONFIG,\n"
    "              else ./issuer.json)\n"
    "  -d          stay in the foreground and log to stderr\n"
    "  -n          check the configuration and the state, then exit\n"
    "  -v          log more (repeat for more still)\n"
    "\n"
    "Signals: TERM or INT stop the daemon cleanly; HUP reloads the CRLs,\n"
    "the allowed clients, the hold lifetime and the test section.\n";

enum server_kind { SERVER_VERIFY, SERVER_AUTHORIZE, SERVER_REVERSE };

struct later;

struct server {
	struct issuer *is;
	struct event_base *base;
	struct http_server *http;
	SSL_CTX *ssl;
	struct pki *pki; /* the root, client CAs, CRLs */
	X509 *root;
	char *crl_path;
	struct event *crl_timer;
	/* The "ca" section: where current CRLs come from. */
	const char *ca_address;
	long long ca_port, ca_refresh;
	json_t *ca_brands; /* ca.brands, or our own brand */
	struct pki *ca_pki; /* the CA's TLS certificate: root, no CRLs */
	SSL_CTX *ca_ssl;
	long long timeout; /* limits.timeout, seconds */
	struct later *later; /* replies still to come */
};

/* The CRLs of tls.crl: a newer one replaces the installed one. */
static void
server_load_crls(struct server *s)
{
	char err[256];

	if (pki_load_crl(s->pki, s->crl_path, err, sizeof(err)) == -1)
		log_warnx("%s: %s", s->crl_path, err);
}

/*
 * The CA: checked to our root without CRLs, as every client of the CA does:
 * the CA is where the CRLs come from, and what it sends is checked on its
 * own (the signed BCI, each CRL's hash and signature).
 */
static int
server_ca_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	return pki_verify(arg, leaf, chain, 0, SETCERT_TLS_SERVER, NULL, NULL,
	           err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

/* The current CRLs of every brand in ca.brands, from the CA; logged at
 * info level at start, at debug level afterwards. */
static void
server_refresh(struct server *s, int start)
{
	char err[512];
	json_t *v;
	size_t i;
	int n;

	json_array_foreach(s->ca_brands, i, v)
	{
		n = crlfetch_refresh(s->pki, s->root, s->ca_ssl, s->ca_address,
		    (int)s->ca_port, json_string_value(v), 10, err,
		    sizeof(err));
		if (n == -1)
			log_warnx("CRLs of %s not refreshed from the CA at "
			          "%s:%lld: %s",
			    json_string_value(v), s->ca_address, s->ca_port,
			    err);
		else if (start)
			log_info("CRLs of %s: %d current, from the CA at "
			         "%s:%lld",
			    json_string_value(v), n, s->ca_address, s->ca_port);
		else
			log_debug(
			    "CRLs of %s: %d current", json_string_value(v), n);
	}
}

/* The CRLs: from the CA when there is a "ca" section, else tls.crl again
 * (a newer CRL dropped there replaces the installed one). */
static void
server_crls(struct server *s)
{
	if (s->ca_ssl != NULL)
		server_refresh(s, 0);
	else
		server_load_crls(s);
}

/* The TLS layer asks about a client's certificate. */
static int
tls_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	struct server *s = arg;

	if (pki_verify(s->pki, leaf, chain, 0, 0, NULL, NULL, err, errlen) !=
	    PKI_OK)
		return -1;
	if ((setcert_usage_of(leaf) & SETCERT_TLS_CLIENT) == 0) {
		snprintf(err, errlen,
		    "the certificate is not for TLS client "
		    "authentication");
		return -1;
	}
	return 0;
}

static void
server_reply(struct http_req *req, int status, json_t *obj)
{
	size_t len;
	char *body = api_dump(obj, &len);

	http_reply(req, status, "application/json", body, len);
	free(body);
}

/* The subject CN of a certificate, xmalloc'd; NULL if none or odd. */
static char *
server_cn(X509 *x)
{
	X509_NAME *name;
	ASN1_STRING *data;
	unsigned char *utf8 = NULL;
	char *cn;
	int i, len;

	if (x == NULL || (name = X509_get_subject_name(x)) == NULL ||
	    (i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0)
		return NULL;
	data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	if ((len = ASN1_STRING_to_UTF8(&utf8, data)) < 0)
		return NULL;
	if (memchr(utf8, '\0', (size_t)len) != NULL) {
		OPENSSL_free(utf8);
		return NULL;
	}
	cn = xstrndup((const char *)utf8, (size_t)len);
	OPENSSL_free(utf8);
	return cn;
}

/* The caller's CN when it is on the "clients" list; else answers 403. */
static char *
server_client(struct server *s, struct http_req *req)
{
	char *cn = server_cn(req->peer), *msg;

	if (cn != NULL && issuer_client_allowed(s->is, cn))
		return cn;
	log_warnx("%s: client \"%s\" is not on the clients list: refused",
	    req->remote, cn ? cn : "(no name)");
	msg = xasprintf(
	    "client \"%s\" may not use this issuer", cn ? cn : "(no name)");
	server_reply(req, 403, api_error("forbidden", msg));
	free(msg);
	free(cn);
	return NULL;
}

/*
 * Late replies and held requests, for the test amounts: the http module
 * keeps the request open past its handler (http_defer).
 */
struct later {
	struct server *s;
	struct http_pending *p;
	struct event *ev;
	int status;
	char *body; /* NULL: never answer; close the connection at the end */
	size_t len;
	struct later *prev, *next;
};

static void
server_later_finish(struct later *l)
{
	if (l->body != NULL)
		http_pending_reply(
		    l->p, l->status, "application/json", l->body, l->len);
	else
		http_pending_drop(l->p);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		l->s->later = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	event_free(l->ev);
	free(l->body);
	free(l);
}

static void
server_later_cb(evutil_socket_t fd, short what, void *arg)
{
	server_later_finish(arg);
}

/* Answers body (taken) after ms, or, with body NULL, holds the request
 * unanswered for ms and then closes the connection. */
static void
server_later(struct server *s, struct http_req *req, long long ms, int status,
    char *body, size_t len)
{
	struct later *l = xcalloc(1, sizeof(*l));
	struct timeval tv;

	l->s = s;
	l->status = status;
	l->body = body;
	l->len = len;
	if ((l->ev = evtimer_new(s->base, server_later_cb, l)) == NULL)
		log_fatalx("cannot create a timer");
	l->p = http_defer(req);
	if ((l->next = s->later) != NULL)
		l->next->prev = l;
	s->later = l;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(l->ev, &tv);
}

/* Answers what is still to come now (the held requests are closed). */
static void
server_later_flush(struct server *s)
{
	while (s->later != NULL)
		server_later_finish(s->later);
}

static const char *
server_endpoint(enum server_kind kind)
{
	switch (kind) {
	case SERVER_VERIFY:
		return "verify-card";
	case SERVER_AUTHORIZE:
		return "authorize";
	default:
		return "reverse";
	}
}

/* Parses the body for kind; the request_id in *request_id. */
static int
server_parse(struct server *s, enum server_kind kind, struct http_req *req,
    void *u, const char **request_id, char *err, size_t errlen)
{
	switch (kind) {
	case SERVER_VERIFY:
		*request_id = ((struct verify_req *)u)->request_id;
		return verify_parse(req->body, req->bodylen,
		    s->is->set.verify_required, u, err, errlen);
	case SERVER_AUTHORIZE:
		*request_id = ((struct authorize_req *)u)->request_id;
		return authorize_parse(req->body, req->bodylen, u, err, errlen);
	default:
		*request_id = ((struct reverse_req *)u)->request_id;
		return reverse_parse(req->body, req->bodylen, u, err, errlen);
	}
}

static json_t *
server_decide(struct server *s, enum server_kind kind, const void *u,
    time_t now, int *status)
{
	switch (kind) {
	case SERVER_VERIFY:
		return verify_decide(s->is, u, now, status);
	case SERVER_AUTHORIZE:
		return authorize_decide(s->is, u, now, status);
	default:
		return reverse_decide(s->is, u, now, status);
	}
}

static void
server_internal(struct http_req *req)
{
	server_reply(req, 500,
	    api_error("internal",
	        "the issuer could not record the "
	        "request; nothing was done, try again"));
}

/*
 * One POST: parse, replay or conflict, decide, store with the reply,
 * answer (late for a slow test amount).
 */
static void
server_post(struct server *s, struct http_req *req, enum server_kind kind)
{
	union {
		struct verify_req v;
		struct authorize_req a;
		struct reverse_req r;
	} u;
	const struct issuer_magic *magic = NULL;
	const char *request_id, *endpoint = server_endpoint(kind);
	char err[256], hash[ISSUER_HASH_LEN], *cn, *rrpid = NULL, *body;
	unsigned char *stored = NULL;
	size_t len;
	time_t now = time(NULL);
	json_t *reply;
	int status, found;

	if (strcmp(req->method, "POST") != 0) {
		server_reply(
		    req, 405, api_error("method-not-allowed", "use POST"));
		return;
	}
	if ((cn = server_client(s, req)) == NULL)
		return;
	if (server_parse(s, kind, req, &u, &request_id, err, sizeof(err)) ==
	    -1) {
		log_info("%s from %s: malformed: %s", endpoint, cn, err);
		server_reply(req, 400, api_error("malformed", err));
		goto done;
	}
	if (kind == SERVER_AUTHORIZE)
		magic = issuer_magic_find(s->is, u.a.amount);
	if (magic != NULL && magic->no_answer) {
		log_info("%s from %s: test amount %lld: no answer", endpoint,
		    cn, u.a.amount);
		server_later(s, req, s->timeout * 1000, 0, NULL, 0);
		goto done;
	}

	rrpid = xasprintf("%s:%s", endpoint, request_id);
	issuer_hmac(s->is, "request", req->body, req->bodylen, hash);
	if (store_begin(s->is->store) == -1) {
		server_internal(req);
		goto done;
	}
	found = store_reply_find(
	    s->is->store, rrpid, hash, strlen(hash), &status, &stored, &len);
	if (found == STORE_REPLAY_FOUND) {
		store_rollback(s->is->store);
		log_info("%s from %s: request %s repeated: the stored answer",
		    endpoint, cn, request_id);
		http_reply(req, status, "application/json", stored, len);
		goto done;
	}
	if (found == STORE_REPLAY_CONFLICT) {
		store_rollback(s->is->store);
		log_warnx("%s from %s: request %s reused for another request",
		    endpoint, cn, request_id);
		server_reply(req, 409,
		    api_error("request-id-conflict",
		        "this request_id was used before for a different "
		        "request"));
		goto done;
	}
	if (found == -1) {
		store_rollback(s->is->store);
		server_internal(req);
		goto done;
	}

	reply = server_decide(s, kind, &u, now, &status);
	body = api_dump(reply, &len);
	if (status == 500 ||
	    store_reply_save(s->is->store, rrpid, hash, strlen(hash), status,
	        body, len) == -1 ||
	    store_commit(s->is->store) == -1) {
		store_rollback(s->is->store);
		free(body);
		server_internal(req);
		goto done;
	}
	if (magic != NULL && magic->slow_ms > 0) {
		log_info("%s from %s: test amount %lld: answering in %lld ms",
		    endpoint, cn, u.a.amount, magic->slow_ms);
		server_later(s, req, magic->slow_ms, status, body, len);
	} else {
		http_reply(req, status, "application/json", body, len);
		free(body);
	}
done:
	free(stored);
	free(rrpid);
	free(cn);
	OPENSSL_cleanse(&u, sizeof(u));
}

static void
verify_cb(struct http_req *req, void *arg)
{
	server_post(arg, req, SERVER_VERIFY);
}

static void
authorize_cb(struct http_req *req, void *arg)
{
	server_post(arg, req, SERVER_AUTHORIZE);
}

static void
reverse_cb(struct http_req *req, void *arg)
{
	server_post(arg, req, SERVER_REVERSE);
}

static void
health_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;
	char *cn;

	if (strcmp(req->method, "GET") != 0) {
		server_reply(
		    req, 405, api_error("method-not-allowed", "use GET"));
		return;
	}
	if ((cn = server_client(s, req)) == NULL)
		return;
	server_reply(req, 200,
	    json_pack("{s:s, s:s, s:s}", "status", "ok", "issuer", s->is->name,
	        "brand", s->is->brand));
	free(cn);
}

static void
crl_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	server_crls(arg);
}

static void
stop_cb(void *arg)
{
	struct server *s = arg;
	struct timeval grace = { 1, 0 };

	log_info("stopping: no new connections, finishing in-flight work");
	http_server_stop(s->http);
	server_later_flush(s);
	event_base_loopexit(s->base, &grace);
}

static void
reload_cb(void *arg)
{
	struct server *s = arg;
	char err[512];

	log_info("reloading the CRLs and the config");
	server_crls(s);
	if (issuer_reload(s->is, err, sizeof(err)) == -1)
		log_warnx("config not reloaded: %s", err);
}

/* The daemon's certificate, key and chain, and the pki that judges
 * clients, from the files the "tls" section names. */
static int
server_tls(struct server *s, X509 **cert, EVP_PKEY **key,
    STACK_OF(X509) **chain, char *err, size_t errlen)
{
	struct config *cfg = s->is->cfg;
	char *certp = NULL, *keyp = NULL, *chainp = NULL, *rootp = NULL;
	char *casp = NULL;
	int rc = -1;

	if (config_path(cfg, "tls.cert", "tls/tls.pem", &certp) == -1 ||
	    config_path(cfg, "tls.key", "tls/tls.key", &keyp) == -1 ||
	    config_path(cfg, "tls.chain", "tls/chain.pem", &chainp) == -1 ||
	    config_path(cfg, "tls.root", "tls/root.pem", &rootp) == -1 ||
	    config_path(cfg, "tls.crl", "tls/crl.pem", &s->crl_path) == -1 ||
	    (config_get(cfg, "tls.client_cas") != NULL &&
	        config_path(cfg, "tls.client_cas", NULL, &casp) == -1)) {
		snprintf(err, errlen, "%s", config_error(cfg));
		goto done;
	}
	if ((*cert = setcert_read_cert(certp, err, errlen)) == NULL ||
	    (*key = setcert_read_key(keyp, err, errlen)) == NULL ||
	    (*chain = setcert_read_certs(chainp, err, errlen)) == NULL ||
	    (s->root = setcert_read_cert(rootp, err, errlen)) == NULL)
		goto done;
	s->pki = pki_new();
	if (pki_load_certs(s->pki, rootp, 1, err, errlen) == -1 ||
	    pki_load_certs(s->pki, chainp, 0, err, errlen) == -1 ||
	    (casp != NULL &&
	        pki_load_certs(s->pki, casp, 0, err, errlen) == -1) ||
	    pki_load_crl(s->pki, s->crl_path, err, errlen) == -1)
		goto done;
	rc = 0;
done:
	free(certp);
	free(keyp);
	free(chainp);
	free(rootp);
	free(casp);
	return rc;
}

/* The optional "ca" section: address, port, brands, refresh_seconds. */
static int
server_ca(struct server *s, char *err, size_t errlen)
{
	static const char *const keys[] = { "address", "port", "brands",
		"refresh_seconds", NULL };
	struct config *cfg = s->is->cfg;
	const long long d300 = 300;
	json_t *v;
	size_t i;

	if (config_get(cfg, "ca") == NULL)
		return 0;
	if (config_check_keys(cfg, "ca", keys) == -1 ||
	    config_string(cfg, "ca.address", NULL, &s->ca_address) == -1 ||
	    config_int(cfg, "ca.port", NULL, 1, 65535, &s->ca_port) == -1 ||
	    config_int(cfg, "ca.refresh_seconds", &d300, 10, 86400,
	        &s->ca_refresh) == -1) {
		snprintf(err, errlen, "%s", config_error(cfg));
		return -1;
	}
	if ((s->ca_brands = config_get(cfg, "ca.brands")) != NULL)
		json_incref(s->ca_brands);
	else
		s->ca_brands = json_pack("[s]", s->is->brand);
	if (!json_is_array(s->ca_brands) ||
	    json_array_size(s->ca_brands) == 0) {
		snprintf(err, errlen,
		    "%s: ca.brands: expected a list of brands",
		    config_file(cfg));
		return -1;
	}
	json_array_foreach(s->ca_brands, i, v)
	{
		if (!json_is_string(v)) {
			snprintf(err, errlen,
			    "%s: ca.brands[%zu]: expected a brand",
			    config_file(cfg), i);
			return -1;
		}
	}
	s->ca_pki = pki_new();
	pki_add_trusted(s->ca_pki, s->root);
	pki_set_crl_check(s->ca_pki, 0);
	s->ca_ssl = tls_client_ctx(
	    NULL, NULL, NULL, server_ca_verify_cb, s->ca_pki, err, errlen);
	return s->ca_ssl == NULL ? -1 : 0;
}

static void
server_warn_tests(struct server *s)
{
	if (s->is->set.nmagic > 0)
		log_warnx("test amounts are on (the config's test section): "
		          "not for production");
}

int
server_main(int argc, char **argv)
{
	struct daemon_opts opts;
	struct server s;
	struct daemon_signals *sigs = NULL;
	const char *config, *addr;
	char *pidpath = NULL, *portpath = NULL, err[512];
	long long port, max_body;
	const long long d8444 = 8444, d64k = 65536, d10 = 10;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	STACK_OF(X509) *chain = NULL;
	struct timeval crl_every = { 300, 0 };
	int rc = 1, started = 0;

	memset(&s, 0, sizeof(s));
	daemon_getopt(argc, argv, usage, &opts);
	if ((config = opts.config) == NULL &&
	    (config = getenv("SET_ISSUER_CONFIG")) == NULL)
		config = "issuer.json";
	log_init("set-issuer", 1, opts.verbose);
	if ((s.is = issuer_open(config, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		return 1;
	}
	if (config_string(s.is->cfg, "listen.address", "127.0.0.1", &addr) ==
	        -1 ||
	    config_int(s.is->cfg, "listen.port", &d8444, 0, 65535, &port) ==
	        -1 ||
	    config_int(s.is->cfg, "limits.max_body", &d64k, 1024, 1024 * 1024,
	        &max_body) == -1 ||
	    config_int(
	        s.is->cfg, "limits.timeout", &d10, 1, 3600, &s.timeout) == -1 ||
	    (config_get(s.is->cfg, "pidfile") != NULL &&
	        config_path(s.is->cfg, "pidfile", NULL, &pidpath) == -1) ||
	    (config_get(s.is->cfg, "port_file") != NULL &&
	        config_path(s.is->cfg, "port_file", NULL, &portpath) == -1)) {
		log_err("%s", config_error(s.is->cfg));
		goto done;
	}
	if (server_tls(&s, &cert, &key, &chain, err, sizeof(err)) == -1 ||
	    server_ca(&s, err, sizeof(err)) == -1) {
		log_err("TLS: %s", err);
		goto done;
	}
	/* What the daemon does is audited as the daemon's. */
	s.is->who = "set-issuer serve";
	s.ssl = tls_server_ctx(cert, key, chain, TLS_CLIENT_REQUIRED,
	    tls_verify_cb, &s, err, sizeof(err));
	if (s.ssl == NULL) {
		log_err("TLS: %s", err);
		goto done;
	}
	if (opts.check_only) {
		printf("%s: configuration and state OK\n", config);
		rc = 0;
		goto done;
	}
	log_init("set-issuer", opts.foreground, opts.verbose);

	if ((s.base = event_base_new()) == NULL) {
		log_err("cannot create the event loop");
		goto done;
	}
	s.http =
	    http_server_new(s.base, s.ssl, addr, (int)port, err, sizeof(err));
	if (s.http == NULL) {
		log_err("cannot listen on %s:%lld: %s", addr, port, err);
		goto done;
	}
	http_server_limits(s.http, (size_t)max_body, (int)s.timeout);
	http_server_route(s.http, "/v1/verify-card", verify_cb, &s);
	http_server_route(s.http, "/v1/authorize", authorize_cb, &s);
	http_server_route(s.http, "/v1/reverse", reverse_cb, &s);
	http_server_route(s.http, "/v1/health", health_cb, &s);

	if (daemon_start(&opts, pidpath, err, sizeof(err)) == -1) {
		log_err("%s", err);
		goto done;
	}
	started = 1;
	if (event_reinit(s.base) == -1)
		log_fatalx("cannot reinitialise the event loop after fork");
	/* The CRLs are current before the port file says we are up. */
	if (s.ca_ssl != NULL) {
		crl_every.tv_sec = (time_t)s.ca_refresh;
		server_refresh(&s, 1);
	}
	server_warn_tests(&s);
	if (portpath != NULL &&
	    daemon_write_port(
	        portpath, http_server_port(s.http), err, sizeof(err)) == -1) {
		log_err("%s", err);
		goto done;
	}
	sigs = daemon_signals_new(s.base, stop_cb, reload_cb, &s);
	s.crl_timer = event_new(s.base, -1, EV_PERSIST, crl_timer_cb, &s);
	event_add(s.crl_timer, &crl_every);

	log_info("%s (%s) serving on %s:%d", s.is->name, s.is->brand, addr,
	    http_server_port(s.http));
	event_base_dispatch(s.base);
	log_info("stopped");
	rc = 0;
done:
	server_later_flush(&s);
	if (s.crl_timer != NULL)
		event_free(s.crl_timer);
	daemon_signals_free(sigs);
	if (s.http != NULL)
		http_server_free(s.http);
	if (s.base != NULL)
		event_base_free(s.base);
	SSL_CTX_free(s.ssl);
	X509_free(cert);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	pki_free(s.pki);
	SSL_CTX_free(s.ca_ssl);
	pki_free(s.ca_pki);
	json_decref(s.ca_brands);
	X509_free(s.root);
	free(s.crl_path);
	if (started && rc == 0)
		daemon_remove_pidfile();
	issuer_close(s.is);
	free(pidpath);
	free(portpath);
	return rc;
}
