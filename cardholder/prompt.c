/*
 * What the wallet asks the cardholder, and how it prints what others wrote.
 *
 * The passphrase comes from --passphrase-file FILE or --passphrase-fd N
 * (the first line, without its newline: for scripts), or else from the
 * terminal with echo off. Questions of the registration form are asked only
 * when stdin is a terminal; a script gets a clear error naming the option
 * to give instead. Prompts go to stderr, so stdout carries only results.
 *
 * Text from the CA or the bank (a refusal's reason, the form's policy) is
 * printed through prompt_clean(): control characters could otherwise move
 * the cursor, rewrite what the cardholder sees, or worse.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "errbuf.h"
#include "wallet.h"
#include "xmalloc.h"

#define PROMPT_MAX 1024

/* The terminal settings to restore if a signal arrives while echo is off. */
static struct termios prompt_saved;
static volatile sig_atomic_t prompt_echo_off;

static void
prompt_signal_cb(int sig)
{
	if (prompt_echo_off)
		tcsetattr(STDIN_FILENO, TCSANOW, &prompt_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

int
prompt_interactive(void)
{
	return isatty(STDIN_FILENO);
}

void
prompt_free(char *s)
{
	if (s != NULL)
		freezero_buf(s, strlen(s));
}

/*
 * One line from fd, read a byte at a time so nothing beyond the line is
 * consumed; without the newline (and a CR before it). NULL at end of input
 * before anything was read, or on a read error (errno) or a line too long
 * (errno EMSGSIZE).
 */
static char *
prompt_read_fd(int fd)
{
	char *buf = xmalloc(PROMPT_MAX + 1), c;
	size_t n = 0;
	ssize_t r;

	for (;;) {
		r = read(fd, &c, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 || (r == 0 && n == 0)) {
			freezero_buf(buf, PROMPT_MAX + 1);
			if (r == 0)
				errno = 0;
			return NULL;
		}
		if (r == 0 || c == '\n')
			break;
		if (n == PROMPT_MAX) {
			freezero_buf(buf, PROMPT_MAX + 1);
			errno = EMSGSIZE;
			return NULL;
		}
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return buf;
}

char *
prompt_line(const char *question, int secret)
{
	struct termios t;
	struct sigaction sa, oldint, oldterm;
	char *line;
	int quiet = 0;

	/* Echo goes off before the question shows, so nothing typed in
	 * answer to it is ever echoed. */
	if (secret && tcgetattr(STDIN_FILENO, &prompt_saved) == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = prompt_signal_cb;
		sigaction(SIGINT, &sa, &oldint);
		sigaction(SIGTERM, &sa, &oldterm);
		t = prompt_saved;
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
			quiet = prompt_echo_off = 1;
	}
	fputs(question, stderr);
	fflush(stderr);
	line = prompt_read_fd(STDIN_FILENO);
	if (quiet) {
		tcsetattr(STDIN_FILENO, TCSANOW, &prompt_saved);
		prompt_echo_off = 0;
		sigaction(SIGINT, &oldint, NULL);
		sigaction(SIGTERM, &oldterm, NULL);
		fputc('\n', stderr);
	}
	return line;
}

/* The first line of a file or a descriptor. */
static int
prompt_pass_from(const char *file, int fd, char **out, char *err, size_t errlen)
{
	int myfd = fd;
	char what[64];

	if (file != NULL) {
		if ((myfd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
			errbuf_set(err, errlen, "--passphrase-file %s: %s",
			    file, strerror(errno));
			return -1;
		}
		snprintf(what, sizeof(what), "the passphrase file");
	} else
		snprintf(what, sizeof(what), "descriptor %d", fd);
	*out = prompt_read_fd(myfd);
	if (file != NULL)
		close(myfd);
	if (*out == NULL) {
		errbuf_set(err, errlen,
		    "cannot read the passphrase from %s: %s", what,
		    errno == 0              ? "it is empty"
		        : errno == EMSGSIZE ? "the line is too long"
		                            : strerror(errno));
		return -1;
	}
	if ((*out)[0] == '\0') {
		errbuf_set(err, errlen,
		    "the passphrase read from %s is an empty line", what);
		prompt_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Asks on the terminal, twice when confirm is set. */
static int
prompt_pass_tty(
    const char *question, int confirm, char **out, char *err, size_t errlen)
{
	char *again;

	if ((*out = prompt_line(question, 1)) == NULL) {
		errbuf_set(err, errlen, "no passphrase was typed");
		return -1;
	}
	if (!confirm)
		return 0;
	if ((again = prompt_line("Type it again: ", 1)) == NULL ||
	    strcmp(again, *out) != 0) {
		errbuf_set(err, errlen,
		    "the two passphrases differ; nothing was changed");
		prompt_free(again);
		prompt_free(*out);
		*out = NULL;
		return -1;
	}
	prompt_free(again);
	return 0;
}

int
prompt_passphrase(const struct wallet_opts *o, const char *question,
    int confirm, char **out, int *usage, char *err, size_t errlen)
{
	*out = NULL;
	*usage = 0;
	if (o->pass_file != NULL && o->pass_fd >= 0) {
		*usage = 1;
		errbuf_set(err, errlen,
		    "--passphrase-file and --passphrase-fd exclude each "
		    "other");
		return -1;
	}
	if (o->pass_file != NULL || o->pass_fd >= 0)
		return prompt_pass_from(
		    o->pass_file, o->pass_fd, out, err, errlen);
	if (!prompt_interactive()) {
		*usage = 1;
		errbuf_set(err, errlen,
		    "the wallet's passphrase is needed and this is not a "
		    "terminal: give --passphrase-file FILE or "
		    "--passphrase-fd N");
		return -1;
	}
	return prompt_pass_tty(question, confirm, out, err, errlen);
}

int
prompt_new_passphrase(
    const char *file, char **out, int *usage, char *err, size_t errlen)
{
	*out = NULL;
	*usage = 0;
	if (file != NULL)
		return prompt_pass_from(file, -1, out, err, errlen);
	if (!prompt_interactive()) {
		*usage = 1;
		errbuf_set(err, errlen,
		    "the new passphrase is needed and this is not a "
		    "terminal: give --new-passphrase-file FILE");
		return -1;
	}
	return prompt_pass_tty("New passphrase: ", 1, out, err, errlen);
}

char *
prompt_clean(const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	char *out = xmalloc(strlen(text) + 1), *o = out;

	for (; *s; s++) {
		if (*s == '\n' || *s == '\t')
			*o++ = (char)*s;
		else if (*s < 0x20 || *s == 0x7f)
			*o++ = '?';
		else if (*s == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f) {
			/* A C1 control character in UTF-8. */
			*o++ = '?';
			s++;
		} else
			*o++ = (char)*s;
	}
	*o = '\0';
	return out;
}
