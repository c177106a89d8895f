/*
 * `set-merchant serve`: the merchant daemon wallets talk to. TLS 1.3 on one
 * port (server authentication only: wallets prove who they are with SET
 * signatures, not TLS certificates), HTTP/1.1 with JSON:
 *
 *	GET  /catalog		what is for sale (catalog.c)
 *	POST /orders		place an order (orders.c)
 *	GET  /orders		a customer's orders, HTTP Basic (orders.c)
 *	POST /accounts		open a customer account (accounts.c)
 *	POST /accounts/orders	a customer's orders, credentials in JSON
 *	POST /set		SET messages: PInitReq, PReq, InqReq
 *				(purchase.c)
 *
 * At start it learns the brands' CA certificates and current CRLs from the
 * CA (and refuses to start without them), and the gateway's certificates
 * from the gateway (PCertReq; the last ones known are kept in the database
 * for when the gateway is away). A timer refreshes both. Orders left
 * "authorizing" by a crash become "unresolved": `set-merchant resolve` or
 * the wallet's InqReq asks the gateway again with the recorded AuthReq.
 *
 * Handlers run one at a time; while the gateway is asked to authorize (at
 * most gateway.timeout seconds) the daemon answers nothing else.
 * TERM/INT stop accepting, finish what is in flight and exit 0; HUP reloads
 * merchant.json's reloadable settings, the catalog and the CRLs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "daemon.h"
#include "http.h"
#include "log.h"
#include "merchant.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

static const char usage[] =
    "usage: set-merchant serve [-dnv] [-f config]\n"
    "\n"
    "Runs the merchant daemon of the state folder that holds the config.\n"
    "\n"
    "  -f config   the merchant's config file (default:\n"
    "              $SET_MERCHANT_CONFIG, else ./merchant.json)\n"
    "  -d          stay in the foreground and log to stderr\n"
    "  -n          check the configuration, certificates and catalog,\n"
    "              then exit (no network)\n"
    "  -v          log more (repeat for more still)\n"
    "\n"
    "Signals: TERM or INT stop the daemon cleanly; HUP reloads the\n"
    "configuration, the catalog and the CRLs.\n";

struct server {
	struct merchant *m;
	struct event_base *base;
	struct http_server *http;
	struct event *timer;
	SSL_CTX *ssl;
	long long minutes; /* the timer's period */
};

static void
server_set_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;
	char *reply;
	size_t len;
	int status;

	if (strcmp(req->method, "POST") != 0) {
		reply_json_error(
		    req, 405, "method", "use POST for SET messages");
		return;
	}
	reply = purchase_handle(s->m, req->body, req->bodylen, &status, &len);
	http_reply(req, status, "application/json", reply, len);
	free(reply);
}

static void
server_catalog_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;

	catalog_http_get(s->m, req);
}

static void
server_orders_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;

	orders_http_place(s->m, req);
}

static void
server_accounts_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;

	accounts_http_create(s->m, req);
}

static void
server_account_orders_cb(struct http_req *req, void *arg)
{
	struct server *s = arg;

	accounts_http_orders(s->m, req);
}

/* The gateway's certificates of every brand: those kept from last time,
 * then fresh ones when the gateway answers. */
static void
server_gateway_certs(struct merchant *m, int use_stored)
{
	char err[512];
	size_t i;

	for (i = 0; i < m->nbrands; i++) {
		struct merchant_brand *b = &m->brands[i];

		if (use_stored && pcert_load(m, b, err, sizeof(err)) == -1)
			log_warnx("brand %s: the gateway certificates kept "
			          "from last time are refused: %s",
			    b->name, err);
		if (pcert_fetch(m, b, err, sizeof(err)) == -1)
			log_warnx("brand %s: %s%s", b->name, err,
			    b->gw_kex != NULL
			        ? " (the certificates kept from last time "
			          "stay in use)"
			        : " (purchases wait until it answers)");
	}
}

static void
server_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct server *s = arg;
	char err[512];

	if (merchant_refresh_crls(s->m, NULL, err, sizeof(err)) == -1)
		log_warnx("CRLs not refreshed, the current ones stay: %s", err);
	server_gateway_certs(s->m, 0);
}

static void
server_arm_timer(struct server *s)
{
	struct timeval tv = { 0, 0 };

	tv.tv_sec = (time_t)(s->m->set.refresh_minutes * 60);
	s->minutes = s->m->set.refresh_minutes;
	event_add(s->timer, &tv);
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

	log_info("reloading the configuration, the catalog and the CRLs");
	if (merchant_reload_config(s->m, err, sizeof(err)) == -1)
		log_warnx(
		    "configuration not reloaded, the old one stays: %s", err);
	if (catalog_reload(s->m, err, sizeof(err)) == -1)
		log_warnx("catalog not reloaded, the old one stays: %s", err);
	if (merchant_refresh_crls(s->m, NULL, err, sizeof(err)) == -1)
		log_warnx("CRLs not refreshed, the current ones stay: %s", err);
	if (s->minutes != s->m->set.refresh_minutes)
		server_arm_timer(s);
}

/* Orders a crash left between AuthReq and AuthRes. */
static void
server_recover(struct merchant *m)
{
	sqlite3_stmt *st;
	int n = 0;

	if (store_begin(m->store) == -1)
		return;
	st = store_prepare(m->store,
	    "INSERT INTO order_events (order_id, at, who, event, detail) "
	    "SELECT id, ?, 'set-merchant serve', 'unresolved', 'the merchant "
	    "stopped before the gateway answered' FROM orders WHERE status = "
	    "'authorizing'");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		goto fail;
	}
	sqlite3_reset(st);
	st = store_prepare(m->store,
	    "UPDATE orders SET status = 'unresolved', reason = 'the merchant "
	    "stopped before the gateway answered' WHERE status = "
	    "'authorizing'");
	if (st == NULL || sqlite3_step(st) != SQLITE_DONE) {
		if (st != NULL)
			sqlite3_reset(st);
		goto fail;
	}
	n = sqlite3_changes(store_db(m->store));
	sqlite3_reset(st);
	if (store_commit(m->store) == -1)
		goto fail;
	if (n > 0)
		log_warnx("%d order(s) were left authorizing: now unresolved "
		          "(set-merchant orders --status unresolved)",
		    n);
	return;
fail:
	store_rollback(m->store);
	log_warnx("cannot look for interrupted orders: %s",
	    sqlite3_errmsg(store_db(m->store)));
}

/* Our TLS server certificate, key and chain (set-ca tls-cert). */
static SSL_CTX *
server_tls(struct merchant *m, char *err, size_t errlen)
{
	char *certf = NULL, *keyf = NULL, *chainf = NULL;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	STACK_OF(X509) *chain = NULL;
	SSL_CTX *ssl = NULL;

	if (config_path(m->cfg, "tls.cert", "tls/tls.pem", &certf) == -1 ||
	    config_path(m->cfg, "tls.key", "tls/tls.key", &keyf) == -1 ||
	    config_path(m->cfg, "tls.chain", "tls/chain.pem", &chainf) == -1) {
		snprintf(err, errlen, "%s", config_error(m->cfg));
		goto done;
	}
	if ((cert = setcert_read_cert(certf, err, errlen)) == NULL ||
	    (key = setcert_read_key(keyf, err, errlen)) == NULL ||
	    (chain = setcert_read_certs(chainf, err, errlen)) == NULL) {
		size_t n = strlen(err);

		snprintf(err + n, errlen - n,
		    " (make the TLS files with: set-ca tls-cert --id %s "
		    "--brand %s --out %s/tls)",
		    m->id, m->brands[0].name, m->dir);
		goto done;
	}
	ssl = tls_server_ctx(
	    cert, key, chain, TLS_CLIENT_NONE, NULL, NULL, err, errlen);
done:
	X509_free(cert);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	free(certf);
	free(keyf);
	free(chainf);
	return ssl;
}

int
server_main(int argc, char **argv)
{
	struct daemon_opts opts;
	struct server s;
	struct daemon_signals *sigs = NULL;
	const char *config, *addr;
	char *pidpath = NULL, *portpath = NULL, err[1024];
	long long port, max_body, timeout;
	const long long d8444 = 8444, d256k = 262144, d10 = 10;
	int rc = 1;

	memset(&s, 0, sizeof(s));
	daemon_getopt(argc, argv, usage, &opts);
	if ((config = opts.config) == NULL &&
	    (config = getenv("SET_MERCHANT_CONFIG")) == NULL)
		config = "merchant.json";
	log_init("set-merchant", 1, opts.verbose);
	if ((s.m = merchant_open(config, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		return 1;
	}
	s.m->who = "set-merchant serve";
	if (config_string(s.m->cfg, "listen.address", "127.0.0.1", &addr) ==
	        -1 ||
	    config_int(s.m->cfg, "listen.port", &d8444, 0, 65535, &port) ==
	        -1 ||
	    config_int(s.m->cfg, "limits.max_body", &d256k, 1024, MSG_MAX,
	        &max_body) == -1 ||
	    config_int(s.m->cfg, "limits.timeout", &d10, 1, 3600, &timeout) ==
	        -1 ||
	    (config_get(s.m->cfg, "pidfile") != NULL &&
	        config_path(s.m->cfg, "pidfile", NULL, &pidpath) == -1) ||
	    (config_get(s.m->cfg, "port_file") != NULL &&
	        config_path(s.m->cfg, "port_file", NULL, &portpath) == -1)) {
		log_err("%s", config_error(s.m->cfg));
		goto done;
	}
	if (merchant_load_certs(s.m, err, sizeof(err)) == -1 ||
	    (s.ssl = server_tls(s.m, err, sizeof(err))) == NULL ||
	    catalog_reload(s.m, err, sizeof(err)) == -1) {
		log_err("%s", err);
		goto done;
	}
	if (opts.check_only) {
		printf(
		    "%s: configuration, certificates and catalog OK\n", config);
		rc = 0;
		goto done;
	}
	log_init("set-merchant", opts.foreground, opts.verbose);

	/* No current CRLs, no way to check a cardholder: refuse to start. */
	if (merchant_refresh_crls(s.m, NULL, err, sizeof(err)) == -1) {
		log_err("cannot learn the current CRLs from the CA at %s:%d: "
		        "%s",
		    s.m->set.ca_host, s.m->set.ca_port, err);
		goto done;
	}
	server_gateway_certs(s.m, 1);
	server_recover(s.m);

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
	http_server_route(s.http, "/catalog", server_catalog_cb, &s);
	http_server_route(s.http, "/orders", server_orders_cb, &s);
	http_server_route(s.http, "/accounts", server_accounts_cb, &s);
	http_server_route(
	    s.http, "/accounts/orders", server_account_orders_cb, &s);

	if (daemon_start(&opts, pidpath, err, sizeof(err)) == -1) {
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
	s.timer = event_new(s.base, -1, EV_PERSIST, server_timer_cb, &s);
	server_arm_timer(&s);

	log_info("merchant %s serving on %s:%d (%zu brand(s))", s.m->id, addr,
	    http_server_port(s.http), s.m->nbrands);
	event_base_dispatch(s.base);
	log_info("stopped");
	rc = 0;
done:
	if (s.timer != NULL)
		event_free(s.timer);
	daemon_signals_free(sigs);
	if (s.http != NULL)
		http_server_free(s.http);
	if (s.base != NULL)
		event_base_free(s.base);
	SSL_CTX_free(s.ssl);
	if (pidpath != NULL && rc == 0)
		daemon_remove_pidfile();
	merchant_close(s.m);
	free(pidpath);
	free(portpath);
	return rc;
}
