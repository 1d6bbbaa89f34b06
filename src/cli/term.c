/* SPDX-License-Identifier: Apache-2.0 */
/* term.c - raw mode, window size and signals for the interactive CLI. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli/term.h"

static struct termios saved;
static volatile sig_atomic_t saved_fd = -1;
static int pipe_fds[2] = {-1, -1};
static volatile sig_atomic_t got_winch, got_fatal;

static const int caught[] = {SIGWINCH, SIGINT,	SIGTERM,
			     SIGHUP,   SIGQUIT, SIGPIPE};

void term_restore(void)
{
	int fd = saved_fd;
	if (fd < 0)
		return;
	/* TCSAFLUSH would drop typed-ahead input the shell then misses. */
	(void)tcsetattr(fd, TCSADRAIN, &saved);
	saved_fd = -1;
}

bool term_raw(int fd)
{
	static bool registered;
	struct termios t;
	if (!isatty(fd) || tcgetattr(fd, &t) < 0)
		return false;
	saved = t;
	cfmakeraw(&t);
	/* Keep output post-processing off too (the remote pty does it), but
	 * leave reads blocking one byte at a time. */
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (!registered && atexit(term_restore) == 0)
		registered = true;
	saved_fd = fd;
	if (tcsetattr(fd, TCSADRAIN, &t) < 0) {
		saved_fd = -1;
		return false;
	}
	return true;
}

bool term_size(int fd, int *rows, int *cols)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col)
		return false;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return true;
}

static void on_signal(int sig)
{
	int e = errno;
	if (sig == SIGWINCH) {
		got_winch = 1;
	} else if (got_fatal) {
		/* A second one: the loop is stuck (a call that hangs); put
		 * the terminal back and go now. */
		term_restore();
		_exit(128 + sig);
	} else {
		got_fatal = sig;
	}
	char b = (char)sig;
	if (pipe_fds[1] >= 0)
		(void)!write(pipe_fds[1], &b, 1); /* full pipe: already woken */
	errno = e;
}

int term_signals_init(void)
{
	if (pipe_fds[0] < 0 && pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++)
		if (sigaction(caught[i], &sa, NULL) < 0)
			return -1;
	return pipe_fds[0];
}

void term_signals_take(bool *winch, int *fatal)
{
	char buf[64];
	while (read(pipe_fds[0], buf, sizeof buf) > 0)
		;
	*winch = got_winch;
	got_winch = 0;
	*fatal = got_fatal;
	got_fatal = 0;
}

void term_signals_reset(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++)
		(void)sigaction(caught[i], &sa, NULL);
}
