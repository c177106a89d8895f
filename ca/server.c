/*
 * `set-ca serve`: the CA daemon. TLS 1.3 on one port, HTTP/1.1:
 *
 *	POST /set		SET messages (Me-AqCInitReq, CertReq, CertInqReq)
 *	GET  /crl/NAME		the newest CRL of CA NAME (DER)
 *	GET  /bci/BRAND		the brand's newest signed BCI (DER CMS)
 *	GET  /certs/BRAND	the brand CA and its issuing CAs (PEM)
 *	GET  /root.pem		the root certificate (check its thumbprint
 *				out of band before trusting it)
 *
 * Clients may present a certificate from the hierarchy (mutual TLS); it is
 * verified like any other (chain, time, CRLs). Revocations made by the
 * operator commands in another process show up at the next request, as the
 * CRLs are read from the database. A timer reissues CRLs before they expire.
 * TERM/INT stop accepting, finish what is in flight and exit; HUP reloads
 * the configuration (certificate lifetimes, CRL timing, the issuers
 * table) and the CRLs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "ca.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

static const char usage[] =
    "usage: set-ca serve [-dnv] [-f config]\n"
    "\n"
    "Runs the CA daemon of the state folder that holds the config file.\n"
    "\n"
    "  -f config   the CA's config file (default: $SET_CA_CONFIG, else\n"
    "              ./ca.json)\n"
    "  -d          stay in the foreground and log to stderr\n"
    "  -n          check the configuration and the state, then exit\n"
    "  -v          log more (repeat for more still)\n"
    "\n"
    "Signals: TERM or INT stop the daemon cleanly; HUP reloads the CRLs.\n";

struct server {
	struct ca *ca;
	struct event_base *base;
	struct http_server *http;
	struct event *crl_timer;
	SSL_CTX *ssl;
};

/* The TLS layer asks us about a client's certificate. */
static int
tls_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	struct ca *ca = arg;
	char rerr[256];

	if (ca_reload_crls(ca, rerr, sizeof(rerr)) == -1)
		log_warnx("cannot reload CRLs: %s", rerr);
	return pki_verify(ca->pki, leaf, chain, 0, 0, NULL, NULL, err,
	           errlen) == PKI_OK
	    ? 0
	    : -1;
}

static void
reply_json_error(struct http_req *req, int status, const char *code)
{
	char *body = xasprintf("{\"error\":\"%s\"}", code);

	http_reply(req, status, "application/json", body, strlen(body));
	free(body);
}

static void
set_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;
	char *reply, err[256];
	size_t len;
	int status;

	if (strcmp(req->method, "POST") != 0) {
		reply_json_error(req, 405, "use POST for SET messages");
		return;
	}
	if (ca_reload_crls(s->ca, err, sizeof(err)) == -1)
		log_warnx("cannot reload CRLs: %s", err);
	reply = enrollment_handle(s->ca, req->body, req->bodylen, req->peer,
	    req->peer_chain, &status, &len);
	http_reply(req, status, "application/json", reply, len);
	free(reply);
}

static void
crl_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;
	const char *name = req->path + strlen("/crl/");
	char *plain = xstrdup(name), *dot;
	unsigned char *der;
	size_t len;

	if ((dot = strstr(plain, ".crl")) != NULL && dot[4] == '\0')
		*dot = '\0';
	if (strcmp(req->method, "GET") != 0)
		reply_json_error(req, 405, "use GET");
	else if (crl_latest(s->ca, plain, &der, &len) == 0) {
		http_reply(req, 200, "application/pkix-crl", der, len);
		free(der);
	} else
		reply_json_error(req, 404, "no such CA");
	free(plain);
}

static void
bci_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;
	unsigned char *der;
	size_t len;

	if (strcmp(req->method, "GET") != 0)
		reply_json_error(req, 405, "use GET");
	else if (bci_latest(s->ca, req->path + strlen("/bci/"), &der, &len) ==
	    0) {
		http_reply(req, 200, "application/pkcs7-mime", der, len);
		free(der);
	} else
		reply_json_error(req, 404, "no such brand");
}

/* The brand CA and its issuing CAs (PEM): what a party needs in order to
 * check the other parties' certificates and install their CAs' CRLs. */
static void
certs_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;
	const char *brand = req->path + strlen("/certs/");
	char *pem = xstrdup(""), *one, *both;
	size_t i, n = 0;

	for (i = 0; i < s->ca->nauth; i++) {
		if (strcasecmp(s->ca->auth[i].brand, brand) != 0)
			continue;
		one = setcert_pem(s->ca->auth[i].cert);
		both = xasprintf("%s%s", pem, one);
		free(one);
		free(pem);
		pem = both;
		n++;
	}
	if (strcmp(req->method, "GET") != 0)
		reply_json_error(req, 405, "use GET");
	else if (n == 0)
		reply_json_error(req, 404, "no such brand");
	else
		http_reply(
		    req, 200, "application/x-pem-file", pem, strlen(pem));
	free(pem);
}

static void
root_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;
	char *pem = setcert_pem(s->ca->root);

	http_reply(req, 200, "application/x-pem-file", pem, strlen(pem));
	free(pem);
}

static void
crl_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct server *s = arg;
	char err[256];

	if (crl_refresh_due(s->ca, err, sizeof(err)) == -1)
		log_warnx("scheduled CRL reissue failed: %s", err);
	if (ca_reload_crls(s->ca, err, sizeof(err)) == -1)
		log_warnx("cannot reload CRLs: %s", err);
}

static void
stop_cb(void *arg)
{
	struct server *s = arg;
	struct timeval grace = { 1, 0 };

	log_info("stopping: no new connections, finishing in-flight work");
	http_server_stop(s->http);
	event_base_loopexit(s->base, &grace);
}

static void
reload_cb(void *arg)
{
	struct server *s = arg;
	char err[256];

	log_info("reloading the configuration and the CRLs");
	if (ca_reload_config(s->ca, err, sizeof(err)) == -1)
		log_warnx(
		    "configuration not reloaded, the old one stays: %s", err);
	if (ca_reload_crls(s->ca, err, sizeof(err)) == -1)
		log_warnx("cannot reload CRLs: %s", err);
}

int
server_main(int argc, char **argv)
{
	struct daemon_opts opts;
	struct server s;
	struct daemon_signals *sigs = NULL;
	const char *config, *addr, *pidfile = NULL;
	char *pidpath = NULL, *portpath = NULL, err[512];
	long long port, max_body, timeout;
	const long long d8443 = 8443, d64k = 65536, d10 = 10;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	STACK_OF(X509) *chain = NULL;
	struct timeval minute = { 60, 0 };
	int rc = 1;

	memset(&s, 0, sizeof(s));
	daemon_getopt(argc, argv, usage, &opts);
	if ((config = opts.config) == NULL &&
	    (config = getenv("SET_CA_CONFIG")) == NULL)
		config = "ca.json";
	log_init("set-ca", 1, opts.verbose);
	if ((s.ca = ca_open(config, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		return 1;
	}
	if (config_string(s.ca->cfg, "listen.address", "127.0.0.1", &addr) ==
	        -1 ||
	    config_int(s.ca->cfg, "listen.port", &d8443, 0, 65535, &port) ==
	        -1 ||
	    config_int(s.ca->cfg, "limits.max_body", &d64k, 1024, 1024 * 1024,
	        &max_body) == -1 ||
	    config_int(s.ca->cfg, "limits.timeout", &d10, 1, 3600, &timeout) ==
	        -1 ||
	    (config_get(s.ca->cfg, "pidfile") != NULL &&
	        config_path(s.ca->cfg, "pidfile", NULL, &pidpath) == -1) ||
	    (config_get(s.ca->cfg, "port_file") != NULL &&
	        config_path(s.ca->cfg, "port_file", NULL, &portpath) == -1)) {
		log_err("%s", config_error(s.ca->cfg));
		goto done;
	}
	if (ca_load_tls(s.ca, &cert, &key, &chain, err, sizeof(err)) == -1) {
		log_err("%s", err);
		goto done;
	}
	/* What the daemon does on a requester's behalf is audited as the
	 * daemon's, not as whoever happened to start it. */
	s.ca->who = "set-ca serve";
	if (opts.check_only) {
		printf("%s: configuration and state OK\n", config);
		rc = 0;
		goto done;
	}
	log_init("set-ca", opts.foreground, opts.verbose);

	s.ssl = tls_server_ctx(cert, key, chain, TLS_CLIENT_OPTIONAL,
	    tls_verify_cb, s.ca, err, sizeof(err));
	if (s.ssl == NULL) {
		log_err("TLS: %s", err);
		goto done;
	}
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
	http_server_route(s.http, "/set", set_cb, &s);
	http_server_route(s.http, "/crl/", crl_cb, &s);
	http_server_route(s.http, "/bci/", bci_cb, &s);
	http_server_route(s.http, "/certs/", certs_cb, &s);
	http_server_route(s.http, "/root.pem", root_cb, &s);

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
	sigs = daemon_signals_new(s.base, stop_cb, reload_cb, &s);
	s.crl_timer = event_new(s.base, -1, EV_PERSIST, crl_timer_cb, &s);
	event_add(s.crl_timer, &minute);
	crl_timer_cb(-1, 0, &s);

	log_info("serving on %s:%d for %zu certificate authorities", addr,
	    http_server_port(s.http), s.ca->nauth);
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
	X509_free(cert);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	if (pidfile != NULL && rc == 0)
		daemon_remove_pidfile();
	ca_close(s.ca);
	free(pidpath);
	free(portpath);
	return rc;
}
