/*
 * The SET message layer: the common envelope every party sends and receives.
 *
 * On the wire a message is one JSON object:
 *
 *	{"set":1,"type":"CertReq","rrpid":"<hex>","body":"<base64>","sig":"<base64>"}
 *
 * "body" holds the message's bytes exactly as the sender serialized them once
 * (compact JSON, sorted keys); "sig" is a detached CMS SignedData over those
 * bytes whose content type is the SET object identifier of the message (for
 * CertReq, setct-CertReqTBS). A sealed message (SET's digital envelope)
 * carries instead
 *
 *	{"set":1,"type":"CertReq","rrpid":"<hex>","to":"<thumbprint>",
 *	 "sealed":"<base64 CMS AuthEnvelopedData>"}
 *
 * whose plaintext is {"body":...,"sig":...}: sign, then encrypt. "to" names
 * the recipient's key-exchange certificate (SHA-256 thumbprint).
 *
 * The body repeats "msg" (the type), "rrpid" and "date": the outer "type" and
 * "rrpid" are routing hints, and msg_parse() refuses a message whose hints do
 * not match the signed body. Receivers hash and verify the bytes they
 * received, then parse them; nobody re-serializes to verify.
 */
#ifndef MSG_H
#define MSG_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/x509.h>

/* The largest message any party accepts, before or after base64. */
#define MSG_MAX (1024 * 1024)

/* Why a message was refused: becomes the Error message's fields. */
struct msg_error {
	char code[32]; /* "malformed", "bad-signature", ... */
	char reason[256]; /* for a person */
	char thumbprint[65]; /* the offending certificate, or "" */
};

struct msg {
	char *type; /* "CertReq" */
	char *rrpid; /* hex */
	char *date; /* RFC 3339, UTC */
	unsigned char *body; /* the signed bytes, as received */
	size_t bodylen;
	json_t *json; /* the parsed body (an object) */
	X509 *signer; /* NULL for an unsigned message */
	STACK_OF(X509) *certs; /* certificates sent with the signature */
	int sealed; /* arrived in a digital envelope */
};

/*
 * Finds our key-exchange certificate and key for a sealed message's "to"
 * thumbprint: 0 and borrowed pointers, or -1 when we have no such key.
 */
typedef int (*msg_key_fn)(
    const char *thumbprint, X509 **cert, EVP_PKEY **key, void *arg);

/*
 * Builds a message. body is borrowed; the function adds "msg", "rrpid" and
 * "date" to a copy. Signed when signer/key are given (chain may be NULL);
 * sealed to seal_to's key when it is not NULL. rrpid NULL makes a fresh one.
 * On success *wire is an xmalloc'd NUL-terminated JSON text.
 */
int msg_build(const char *type, const char *rrpid, json_t *body, X509 *signer,
    EVP_PKEY *key, STACK_OF(X509) *chain, X509 *seal_to, char **wire,
    size_t *wirelen, char *err, size_t errlen);

/*
 * Parses and checks a received message: well-formed envelope, known type,
 * body is a JSON object whose msg/rrpid match the envelope, a signature when
 * the type must be signed, and the signature verifies over the body bytes
 * with the type's SET content type. Opens sealed messages through key_fn (a
 * sealed message with key_fn NULL is refused). It does not judge the signer's
 * certificate: the caller checks *m->signer with its pki for the role it
 * expects. Returns 0, or -1 with e filled in. msg_clear() m either way.
 */
int msg_parse(const void *wire, size_t len, msg_key_fn key_fn, void *arg,
    struct msg *m, struct msg_error *e);

void msg_clear(struct msg *m);

/* The SET content type (NID) a message type is signed with; 0 if unsigned,
 * -1 if the type is unknown. */
int msg_type_nid(const char *type);

/* Fills e (printf-style reason). Returns -1 so callers can `return`. */
int msg_fail(struct msg_error *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The Error message for e, answering the request rrpid (NULL when the
 * request had none that could be read). Signed when signer/key are given.
 * Returns an xmalloc'd wire text.
 */
char *msg_error_wire(const struct msg_error *e, const char *rrpid, X509 *signer,
    EVP_PKEY *key, STACK_OF(X509) *chain, size_t *len);

/*
 * Field readers for message bodies. Each returns 0 or fills e with a
 * "malformed" reason naming the field and returns -1. A NULL default makes
 * the field required.
 */
int msg_str(const struct msg *m, const char *field, const char *def,
    size_t maxlen, const char **out, struct msg_error *e);
/* A string of 1-64 characters from [A-Za-z0-9._-]: ids and names. */
int msg_ident(const struct msg *m, const char *field, const char **out,
    struct msg_error *e);
/* Base64 bytes, at most maxlen once decoded; *out xmalloc'd. */
int msg_bytes(const struct msg *m, const char *field, size_t maxlen,
    unsigned char **out, size_t *outlen, struct msg_error *e);

/* The current time as RFC 3339 UTC ("2026-11-22T10:00:00Z"), xmalloc'd. */
char *msg_now(void);

#endif
