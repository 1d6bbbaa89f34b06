/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_proc.h - exec on a terminal (exec -t / -it), shared with cmd_slot.c. */
#ifndef SLOTBOX_CLI_CMD_PROC_H
#define SLOTBOX_CLI_CMD_PROC_H

#include <stdbool.h>

#include "cli/cli.h"

struct cli_tty_exec {
	const char *command;	/* the bash command line */
	const char *cwd;	/* may be NULL */
	const char *const *env; /* KEY=VALUE, NULL-terminated */
	bool forward_stdin;	/* -i: our stdin goes to it, raw on a tty */
};

/* Run x on a pseudo-terminal in slot as a process, wired to this
 * terminal; the command's exit status (see cmd_proc.c). */
int cli_exec_tty(struct cli *cli, const char *slot,
		 const struct cli_tty_exec *x);

#endif
