/* SPDX-License-Identifier: Apache-2.0 */
/* term.h - the local terminal for `slotbox exec -it` and `attach`: raw
 * mode restored on every way out, window size, and the signals the
 * interactive loop wakes for (through a self-pipe its poll() watches). */
#ifndef SLOTBOX_CLI_TERM_H
#define SLOTBOX_CLI_TERM_H

#include <stdbool.h>

/* Put fd's terminal in raw mode (no echo, no line editing, no signals
 * from keys: ^C goes to the remote side as a byte). The old settings come
 * back at term_restore(), at exit() and on the signals term_signals_init
 * catches. false when fd is no terminal (nothing changed). */
bool term_raw(int fd);
/* Put the terminal back as term_raw found it (safe to call twice, and
 * from a signal handler). */
void term_restore(void);
/* fd's window size; false when fd is no terminal. */
bool term_size(int fd, int *rows, int *cols);

/* Catch SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGPIPE: each
 * writes a byte to a self-pipe; returns its read end (-1 on failure). */
int term_signals_init(void);
/* Drain the self-pipe: whether the window changed, and the last other
 * signal seen (0 when none). A second such signal before this is called
 * restores the terminal and exits at once (128 + N). */
void term_signals_take(bool *winch, int *fatal);
/* Back to the default dispositions. */
void term_signals_reset(void);

#endif
