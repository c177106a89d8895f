/*
 * The SQLite store: each daemon owns one database. store_open() sets the
 * durability pragmas, brings the schema up to date through numbered
 * migrations, and keeps a cache of prepared statements. The store also keeps
 * the replies to requests, keyed by RRPID, so that a repeated request gets
 * the same answer (SET's idempotency rule) and never a second state change.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>

#include <sqlite3.h>

struct store;

/*
 * Opens or creates the database at path (mode 0600): journal_mode=WAL,
 * synchronous=FULL (durable commits on money paths), foreign_keys=ON,
 * busy_timeout 5000 ms. Then brings the schema up to date: migrations[i] is
 * the SQL (one or more statements, no BEGIN/COMMIT) that takes the schema
 * from version i to i+1 (PRAGMA user_version); each runs in its own
 * transaction together with the version bump, so a failing migration leaves
 * the previous version intact. A database whose version is newer than
 * nmigrations is refused ("made by a newer version"). A file that is not a
 * database is refused with a clear reason. The module's own table for
 * idempotent replies (store_replies) is created too, outside the caller's
 * migrations. Returns NULL with the reason in err on failure.
 */
struct store *store_open(const char *path, const char *const *migrations,
    size_t nmigrations, char *err, size_t errlen);
/* Finalizes the cached statements and closes; an open transaction is rolled
 * back. NULL is fine. */
void store_close(struct store *);
/* The connection, borrowed: for sqlite3_errmsg(), sqlite3_changes() etc. */
sqlite3 *store_db(struct store *);
/* The schema version (PRAGMA user_version) after the migrations. */
int store_version(struct store *);

/* BEGIN IMMEDIATE; 0 or -1 (logged with sqlite3_errmsg). */
int store_begin(struct store *);
/* COMMIT; 0 or -1 (logged). When the commit fails the transaction is rolled
 * back, so nothing of it remains. */
int store_commit(struct store *);
/* Safe to call when no transaction is open. */
void store_rollback(struct store *);

/*
 * A prepared statement cached by its SQL text, reset and with bindings
 * cleared, ready to bind. The store owns it: never finalize it. Step it to
 * SQLITE_DONE or sqlite3_reset() it when done (an unfinished statement keeps
 * a read transaction open). One use at a time: the next store_prepare() of
 * the same text resets it. NULL on a SQL error (logged).
 */
sqlite3_stmt *store_prepare(struct store *, const char *sql);
/* Statements without results (one or more); 0 or -1 (logged). */
int store_exec(struct store *, const char *sql);

/*
 * Idempotent replies (SET's RRPID rule): a repeated request with the same
 * RRPID and the same bytes gets the stored reply again; the same RRPID with
 * different bytes is a conflict (an Error for the caller to send).
 */
enum store_replay {
	STORE_REPLAY_NONE = 0,
	STORE_REPLAY_FOUND = 1,
	STORE_REPLAY_CONFLICT = 2
};

/*
 * Returns a store_replay value, or -1 on a database error (logged). On FOUND,
 * *status and an xmalloc'd copy of the reply in *reply (the caller frees it)
 * and *replylen; otherwise *reply is NULL.
 */
int store_reply_find(struct store *, const char *rrpid, const void *req,
    size_t reqlen, int *status, unsigned char **reply, size_t *replylen);
/*
 * Saves a reply for rrpid (stores the SHA-256 of the request bytes, not the
 * bytes). Call it inside the same transaction as the state change the
 * request made, so both commit together. 0, or -1 (logged) on a database
 * error or when a reply for rrpid is already saved.
 */
int store_reply_save(struct store *, const char *rrpid, const void *req,
    size_t reqlen, int status, const void *reply, size_t replylen);

#endif
