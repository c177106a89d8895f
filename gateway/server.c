/*
 * `set-gateway serve`: the payment gateway daemon. TLS 1.3 on one port,
 * HTTP/1.1, mutual TLS required:
 *
 *	POST /set	SET messages: AuthReq, PCertReq (message.c)
 *
 * Every client presents a merchant's SET signature certificate, checked like
 * any other (chain to our root, validity, CRLs, role merchant, signing key);
 * the messages are then checked on their own, exactly as if there were no
 * TLS.
 *
 * The gateway checks merchants' and cardholders' certificates of every brand
 * it serves, so it keeps its certificate checker current from the CA
 * (crlfetch_refresh: the brand's CA certificates, its signed CRL list and
 * each CRL): at start, where a failure stops the daemon, then on a timer and
 * on HUP, where a failure is logged and the CRLs already held stay. HUP also
 * reloads the configuration (the issuers table, timeouts); TERM/INT stop
 * accepting, finish what is in flight and exit 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "crlfetch.h"
#include "daemon.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

static const char usage[] =
    "usage: set-gateway serve [-dnv] [-f config]\n"
    "\n"
    "Runs the payment gateway daemon of the state folder that holds the\n"
    "config file.\n"
    "\n"
    "  -f config   the gateway's config file (default: $SET_GATEWAY_CONFIG,\n"
    "              else ./gateway.json)\n"
    "  -d          stay in the foreground and log to stderr\n"
    "  -n          check the configuration and the state, then exit\n"
    "  -v          log more (repeat for more still)\n"
    "\n"
    "Signals: TERM or INT stop the daemon cleanly; HUP reloads the\n"
    "configuration and the CRLs.\n";

struct server {
	struct gateway *gw;
	struct event_base *base;
	struct http_server *http;
	struct event *crl_timer;
	SSL_CTX *ssl; /* ours, towards merchants */
	SSL_CTX *ca_ssl; /* towards the CA, for CRLs */
	struct pki *ca_pki; /* the CA's TLS certificate: root, no CRLs */
};

/* A merchant connecting: its SET signature certificate. */
static int
server_merchant_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	struct gateway *gw = arg;

	return pki_verify(gw->pki, leaf, chain, SETCERT_MER, SETCERT_SIGN, NULL,
	           NULL, err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

/* An issuer we call: a bank service's TLS certificate, with CRLs. */
static int
server_issuer_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	struct gateway *gw = arg;

	return pki_verify(gw->pki, leaf, chain, 0, SETCERT_TLS_SERVER, NULL,
	           NULL, err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

/*
 * The CA: checked to our root without CRLs, as every client of the CA does
 * (common/caclient.h): the CA is where the CRLs come from, and everything
 * it sends is checked on its own (signed BCI, CRL hashes and signatures).
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

/* The CA certificates and current CRLs of every brand; -1 if one failed. */
static int
server_refresh(struct server *s)
{
	struct gateway *gw = s->gw;
	char err[512];
	size_t i;
	int rc = 0, n;

	for (i = 0; i < gw->nbrands; i++) {
		n = crlfetch_refresh(gw->pki, gw->root, s->ca_ssl,
		    gw->ca_address, gw->ca_port, gw->brands[i].name,
		    (int)gw->set.ca_timeout, err, sizeof(err));
		if (n == -1) {
			log_warnx("CRLs of %s not refreshed from the CA at "
			          "%s:%d: %s",
			    gw->brands[i].name, gw->ca_address, gw->ca_port,
			    err);
			rc = -1;
		} else
			log_debug(
			    "CRLs of %s: %d current", gw->brands[i].name, n);
	}
	return rc;
}

/*
 * Our own certificates, checked as a merchant or a wallet will check them:
 * a gateway whose certificate is revoked or expired must not serve.
 */
static int
server_check_own(struct gateway *gw)
{
	char err[256];
	size_t i;

	for (i = 0; i < gw->nbrands; i++) {
		struct gateway_brand *b = &gw->brands[i];

		if (pki_verify(gw->pki, b->sig, b->chain, SETCERT_PGWY,
		        SETCERT_SIGN, b->name, NULL, err,
		        sizeof(err)) != PKI_OK ||
		    pki_verify(gw->pki, b->kex, b->chain, SETCERT_PGWY,
		        SETCERT_KEYEX, b->name, NULL, err,
		        sizeof(err)) != PKI_OK) {
			log_err("our %s certificates in certs/%s are not good: "
			        "%s",
			    b->name, b->name, err);
			return -1;
		}
	}
	return 0;
}

static void
server_timer_arm(struct server *s)
{
	struct timeval tv = { (time_t)s->gw->set.crl_refresh, 0 };

	event_del(s->crl_timer);
	event_add(s->crl_timer, &tv);
}

static void
server_crl_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	server_refresh(arg);
}

static void
server_reply_json_error(struct http_req *req, int status, const char *code)
{
	char *body = xasprintf("{\"error\":\"%s\"}", code);

	http_reply(req, status, "application/json", body, strlen(body));
	free(body);
}

static void
server_set_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;
	char *reply;
	size_t len;
	int status;

	if (strcmp(req->method, "POST") != 0) {
		server_reply_json_error(req, 405, "use POST for SET messages");
		return;
	}
	reply = message_handle(s->gw, req->body, req->bodylen, &status, &len);
	http_reply(req, status, "application/json", reply, len);
	free(reply);
}

static void
server_stop_cb(void *arg)
{
	struct server *s = arg;
	struct timeval grace = { 1, 0 };

	log_info("stopping: no new connections, finishing in-flight work");
	http_server_stop(s->http);
	event_base_loopexit(s->base, &grace);
}

static void
server_reload_cb(void *arg)
{
	struct server *s = arg;
	char err[512];

	log_info("reloading the configuration and the CRLs");
	if (gateway_reload(s->gw, err, sizeof(err)) == -1)
		log_warnx(
		    "configuration not reloaded, the old one stays: %s", err);
	server_refresh(s);
	server_timer_arm(s);
}

/* Our TLS certificate, key and chain, from the files the config names. */
static int
server_load_tls(struct gateway *gw, X509 **cert, EVP_PKEY **key,
    STACK_OF(X509) **chain, char *err, size_t errlen)
{
	char *cpath = NULL, *kpath = NULL, *chpath = NULL;
	int rc = -1;

	if (config_path(gw->cfg, "tls.cert", "tls/tls.pem", &cpath) == -1 ||
	    config_path(gw->cfg, "tls.key", "tls/tls.key", &kpath) == -1 ||
	    config_path(gw->cfg, "tls.chain", "tls/chain.pem", &chpath) == -1) {
		snprintf(err, errlen, "%s", config_error(gw->cfg));
		goto done;
	}
	if ((*cert = setcert_read_cert(cpath, err, errlen)) == NULL ||
	    (*key = setcert_read_key(kpath, err, errlen)) == NULL ||
	    (*chain = setcert_read_certs(chpath, err, errlen)) == NULL) {
		size_t n = strlen(err);

		snprintf(err + n, errlen - n,
		    " (make the TLS certificate with `set-ca tls-cert --id %s "
		    "--brand BRAND --out %s/tls`)",
		    gw->id, gw->dir);
		goto done;
	}
	rc = 0;
done:
	free(cpath);
	free(kpath);
	free(chpath);
	return rc;
}

int
server_main(int argc, char **argv)
{
	struct daemon_opts opts;
	struct server s;
	struct gateway *gw;
	struct daemon_signals *sigs = NULL;
	const char *config, *addr, *pidfile = NULL;
	char *pidpath = NULL, *portpath = NULL, err[512];
	long long port, max_body, timeout;
	const long long d8444 = 8444, d128k = 131072, d10 = 10;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	STACK_OF(X509) *chain = NULL;
	size_t i;
	int j, rc = 1;

	memset(&s, 0, sizeof(s));
	daemon_getopt(argc, argv, usage, &opts);
	if ((config = opts.config) == NULL &&
	    (config = getenv("SET_GATEWAY_CONFIG")) == NULL)
		config = "gateway.json";
	log_init("set-gateway", 1, opts.verbose);
	if ((s.gw = gw = gateway_open(config, 1, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		return 1;
	}
	if (config_string(gw->cfg, "listen.address", "127.0.0.1", &addr) ==
	        -1 ||
	    config_int(gw->cfg, "listen.port", &d8444, 0, 65535, &port) == -1 ||
	    config_int(gw->cfg, "limits.max_body", &d128k, 1024, 1024 * 1024,
	        &max_body) == -1 ||
	    config_int(gw->cfg, "limits.timeout", &d10, 1, 3600, &timeout) ==
	        -1 ||
	    (config_get(gw->cfg, "pidfile") != NULL &&
	        config_path(gw->cfg, "pidfile", NULL, &pidpath) == -1) ||
	    (config_get(gw->cfg, "port_file") != NULL &&
	        config_path(gw->cfg, "port_file", NULL, &portpath) == -1)) {
		log_err("%s", config_error(gw->cfg));
		goto done;
	}
	if (server_load_tls(gw, &cert, &key, &chain, err, sizeof(err)) == -1) {
		log_err("%s", err);
		goto done;
	}
	if (opts.check_only) {
		printf("%s: configuration and state OK\n", config);
		rc = 0;
		goto done;
	}

	/* The checker: our root, the CAs above our own certificates; the
	 * other CAs of each brand and every CRL come from the CA. */
	gw->pki = pki_new();
	pki_add_trusted(gw->pki, gw->root);
	for (i = 0; i < gw->nbrands; i++)
		for (j = 0; j < sk_X509_num(gw->brands[i].chain); j++)
			pki_add_ca(
			    gw->pki, sk_X509_value(gw->brands[i].chain, j));
	s.ca_pki = pki_new();
	pki_add_trusted(s.ca_pki, gw->root);
	pki_set_crl_check(s.ca_pki, 0);
	if ((s.ca_ssl = tls_client_ctx(NULL, NULL, NULL, server_ca_verify_cb,
	         s.ca_pki, err, sizeof(err))) == NULL ||
	    (gw->issuer_ssl = tls_client_ctx(cert, key, chain,
	         server_issuer_verify_cb, gw, err, sizeof(err))) == NULL ||
	    (s.ssl = tls_server_ctx(cert, key, chain, TLS_CLIENT_REQUIRED,
	         server_merchant_verify_cb, gw, err, sizeof(err))) == NULL) {
		log_err("TLS: %s", err);
		goto done;
	}
	if (server_refresh(&s) == -1) {
		log_err("cannot start without the current CRLs of every brand");
		goto done;
	}
	if (server_check_own(gw) == -1)
		goto done;
	log_init("set-gateway", opts.foreground, opts.verbose);

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
	http_server_limits(s.http, (size_t)max_body, (int)timeout);
	http_server_route(s.http, "/set", server_set_cb, &s);

	pidfile = pidpath;
	if (daemon_start(&opts, pidfile, err, sizeof(err)) == -1) {
		log_err("%s", err);
		goto done;
	}
	if (event_reinit(s.base) == -1)
		log_fatalx("cannot reinitialise the event loop after fork");
	if (portpath != NULL &&
	    daemon_write_port(
	        portpath, http_server_port(s.http), err, sizeof(err)) == -1) {
		log_err("%s", err);
		goto done;
	}
	sigs = daemon_signals_new(s.base, server_stop_cb, server_reload_cb, &s);
	s.crl_timer =
	    event_new(s.base, -1, EV_PERSIST, server_crl_timer_cb, &s);
	server_timer_arm(&s);

	log_info("gateway %s serving on %s:%d for %zu brands, %zu issuers",
	    gw->id, addr, http_server_port(s.http), gw->nbrands,
	    gw->set.nissuers);
	event_base_dispatch(s.base);
	log_info("stopped");
	rc = 0;
done:
	if (s.crl_timer != NULL)
		event_free(s.crl_timer);
	daemon_signals_free(sigs);
	if (s.http != NULL)
		http_server_free(s.http);
	if (s.base != NULL)
		event_base_free(s.base);
	SSL_CTX_free(s.ssl);
	SSL_CTX_free(s.ca_ssl);
	pki_free(s.ca_pki);
	X509_free(cert);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	if (pidfile != NULL && rc == 0)
		daemon_remove_pidfile();
	gateway_close(gw);
	free(pidpath);
	free(portpath);
	return rc;
}
