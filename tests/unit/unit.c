/*
 * The unit-test harness: runs each case in a forked child with its own
 * temporary folder, prints "PASS: suite: case" or "FAIL: suite: case" per
 * case and closes with "N passed, N failed".
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

static char tmpdir[256];

const char *
unit_tmpdir(void)
{
	return tmpdir;
}

void
unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(1);
}

static void
remove_tree(const char *path)
{
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		execlp("rm", "rm", "-rf", path, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
}

int
unit_main(const char *suite, const struct unit_case *cases, size_t n)
{
	size_t i, passed = 0, failed = 0;
	const char *base;

	if ((base = getenv("TMPDIR")) == NULL)
		base = "/tmp";
	for (i = 0; i < n; i++) {
		pid_t pid;
		int status;

		snprintf(tmpdir, sizeof(tmpdir), "%s/unit.XXXXXX", base);
		if (mkdtemp(tmpdir) == NULL) {
			fprintf(stderr, "mkdtemp %s: %s\n", tmpdir,
			    strerror(errno));
			return 2;
		}
		fflush(stdout);
		fflush(stderr);
		if ((pid = fork()) == -1) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			cases[i].fn();
			/* exit, not _exit: LeakSanitizer reports at exit, and
			 * a leak fails the case. */
			exit(0);
		}
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("PASS: %s: %s\n", suite, cases[i].name);
			passed++;
			remove_tree(tmpdir);
		} else {
			if (WIFSIGNALED(status))
				fprintf(stderr, "    crashed with signal %d\n",
				    WTERMSIG(status));
			printf("FAIL: %s: %s (files kept in %s)\n", suite,
			    cases[i].name, tmpdir);
			failed++;
		}
		fflush(stdout);
	}
	printf("%zu passed, %zu failed\n", passed, failed);
	return failed ? 1 : 0;
}
