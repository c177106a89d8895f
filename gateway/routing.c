/*
 * Where a card's authorization goes: the issuers table of gateway.json (the
 * same shape as the CA's), a card going to the entry of its brand with the
 * longest matching BIN prefix, and the call itself, POST /v1/authorize on
 * the issuer's API over mutual TLS (our TLS certificate is our client
 * certificate; the issuer allows it by its subject CN, our id).
 *
 * The request_id we send is derived from the payment instruction (the first
 * 32 hex digits of its SHA-256), so when the merchant retries an AuthReq the
 * issuer recognises the retry and answers it without a second hold.
 *
 * The call blocks the daemon for at most timeouts.issuer seconds; the
 * gateway's other requests wait meanwhile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "errbuf.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

static int
routing_digits(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	return n >= min && n <= max && strspn(s, "0123456789") == n;
}

static void
routing_issuer_clear(struct gateway_issuer *is)
{
	size_t i;

	free(is->name);
	free(is->brand);
	for (i = 0; i < is->nbins; i++)
		free(is->bins[i]);
	free(is->bins);
	free(is->address);
}

void
routing_clear(struct gateway_settings *set)
{
	size_t i;

	for (i = 0; i < set->nissuers; i++)
		routing_issuer_clear(&set->issuers[i]);
	free(set->issuers);
	set->issuers = NULL;
	set->nissuers = 0;
}

/* One entry of the table; "fields" (the CA's registration form) is
 * accepted so the CA's table can be copied as it is, and ignored. */
static int
routing_entry(const char *file, size_t idx, json_t *e,
    struct gateway_issuer *is, char *err, size_t errlen)
{
	const char *name, *brand, *address;
	json_t *bins, *fields = NULL, *v;
	json_int_t port;
	json_error_t jerr;
	size_t i;

	if (!json_is_object(e) ||
	    json_unpack_ex(e, &jerr, JSON_STRICT,
	        "{s:s, s:s, s:o, s:s, s:I, s?o}", "name", &name, "brand",
	        &brand, "bins", &bins, "address", &address, "port", &port,
	        "fields", &fields) != 0) {
		errbuf_set(err, errlen,
		    "%s: issuers[%zu]: needs name, brand, bins, address and "
		    "port, and nothing else",
		    file, idx);
		return -1;
	}
	if (port < 1 || port > 65535) {
		errbuf_set(err, errlen,
		    "%s: issuers[%zu].port: expected 1 to 65535", file, idx);
		return -1;
	}
	if (!json_is_array(bins) || json_array_size(bins) == 0) {
		errbuf_set(err, errlen,
		    "%s: issuers[%zu].bins: expected a non-empty list of card "
		    "number prefixes",
		    file, idx);
		return -1;
	}
	json_array_foreach(bins, i, v)
	{
		if (!json_is_string(v) ||
		    !routing_digits(json_string_value(v), 4, 11)) {
			errbuf_set(err, errlen,
			    "%s: issuers[%zu].bins[%zu]: expected 4 to 11 "
			    "digits",
			    file, idx, i);
			return -1;
		}
	}
	is->name = xstrdup(name);
	is->brand = xstrdup(brand);
	is->address = xstrdup(address);
	is->port = (int)port;
	is->bins = xcalloc(json_array_size(bins), sizeof(*is->bins));
	json_array_foreach(bins, i, v) is->bins[is->nbins++] =
	    xstrdup(json_string_value(v));
	return 0;
}

int
routing_load(
    struct config *cfg, struct gateway_settings *set, char *err, size_t errlen)
{
	json_t *issuers, *e;
	size_t i;

	set->issuers = NULL;
	set->nissuers = 0;
	if ((issuers = config_get(cfg, "issuers")) == NULL)
		return 0;
	if (!json_is_array(issuers)) {
		errbuf_set(err, errlen, "%s: issuers: expected a list",
		    config_file(cfg));
		return -1;
	}
	set->issuers =
	    xcalloc(json_array_size(issuers) + 1, sizeof(*set->issuers));
	json_array_foreach(issuers, i, e)
	{
		if (routing_entry(config_file(cfg), i, e, &set->issuers[i], err,
		        errlen) == -1) {
			routing_clear(set);
			return -1;
		}
		set->nissuers++;
	}
	return 0;
}

const struct gateway_issuer *
routing_find(struct gateway *gw, const char *brand, const char *pan)
{
	const struct gateway_issuer *best = NULL;
	size_t i, j, bestlen = 0;

	for (i = 0; i < gw->set.nissuers; i++) {
		const struct gateway_issuer *is = &gw->set.issuers[i];

		if (strcasecmp(is->brand, brand) != 0)
			continue;
		for (j = 0; j < is->nbins; j++) {
			size_t n = strlen(is->bins[j]);

			if (n > bestlen && strncmp(pan, is->bins[j], n) == 0) {
				best = is;
				bestlen = n;
			}
		}
	}
	return best;
}

/* A string the issuer sent that we pass on: 1..max of [A-Za-z0-9._:-]. */
static int
routing_token(json_t *v, char *out, size_t outlen)
{
	const char *s;
	size_t n;

	if (json_is_integer(v)) {
		snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	n = strlen(s);
	if (n == 0 || n >= outlen || n != json_string_length(v) ||
	    strspn(s,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789._:-") != n)
		return -1;
	memcpy(out, s, n + 1);
	return 0;
}

/* Reads the issuer's answer into a. */
static enum routing_outcome
routing_answer_read(const struct gateway_issuer *is, const struct http_resp *r,
    struct routing_answer *a)
{
	json_t *res, *v;
	const char *result;
	enum routing_outcome o = ROUTING_BAD_ANSWER;

	res = json_loadb(
	    (const char *)r->body, r->len, JSON_REJECT_DUPLICATES, NULL);
	if ((v = json_object_get(res, "result")) == NULL)
		v = json_object_get(res, "status");
	result = json_string_value(v);
	if (r->status >= 500 && result == NULL) {
		snprintf(a->detail, sizeof(a->detail),
		    "the issuer %s answered HTTP %d", is->name, r->status);
		o = ROUTING_UNAVAILABLE;
	} else if (r->status != 200 || result == NULL)
		snprintf(a->detail, sizeof(a->detail),
		    "the issuer %s answered HTTP %d without a decision",
		    is->name, r->status);
	else if (strcmp(result, "approved") == 0) {
		if (routing_token(json_object_get(res, "auth_code"),
		        a->auth_code, sizeof(a->auth_code)) == -1 ||
		    routing_token(json_object_get(res, "hold_id"), a->hold_id,
		        sizeof(a->hold_id)) == -1)
			snprintf(a->detail, sizeof(a->detail),
			    "the issuer %s approved without a usable "
			    "auth_code and hold_id",
			    is->name);
		else {
			if (routing_token(json_object_get(res, "expires_at"),
			        a->expires_at, sizeof(a->expires_at)) == -1)
				a->expires_at[0] = '\0';
			o = ROUTING_APPROVED;
		}
	} else if (strcmp(result, "declined") == 0) {
		if (routing_token(json_object_get(res, "reason"), a->reason,
		        sizeof(a->reason)) == -1)
			snprintf(a->reason, sizeof(a->reason), "declined");
		o = ROUTING_DECLINED;
	} else
		snprintf(a->detail, sizeof(a->detail),
		    "the issuer %s answered \"%.32s\"", is->name, result);
	json_decref(res);
	return o;
}

enum routing_outcome
routing_authorize(struct gateway *gw, const struct gateway_issuer *is,
    const struct routing_request *q, struct routing_answer *a)
{
	struct http_resp resp;
	json_t *req;
	char *body, err[256];
	enum routing_outcome o;

	memset(a, 0, sizeof(*a));
	memset(&resp, 0, sizeof(resp));
	if (gw->issuer_ssl == NULL) {
		snprintf(a->detail, sizeof(a->detail),
		    "no TLS context towards issuers");
		return ROUTING_UNAVAILABLE;
	}
	req = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "request_id",
	    q->request_id, "pan", q->pan, "expiry", q->expiry, "amount",
	    (json_int_t)q->amount, "currency", q->currency, "merchant_id",
	    q->merchant_id);
	if (req == NULL)
		log_fatalx("cannot build an authorization request");
	if (q->cvv[0] != '\0')
		json_object_set_new(req, "cvv", json_string(q->cvv));
	body = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(req);
	if (body == NULL)
		log_fatalx("cannot serialize an authorization request");
	if (http_request(gw->issuer_ssl, is->address, is->port, "POST",
	        "/v1/authorize", "application/json", body, strlen(body),
	        (int)gw->set.issuer_timeout, &resp, err, sizeof(err)) == -1) {
		snprintf(a->detail, sizeof(a->detail),
		    "the issuer %s did not answer: %.180s", is->name, err);
		o = ROUTING_UNAVAILABLE;
	} else
		o = routing_answer_read(is, &resp, a);
	/* The request held the card number and the CVV. */
	OPENSSL_cleanse(body, strlen(body));
	free(body);
	http_resp_clear(&resp);
	return o;
}
