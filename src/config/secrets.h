/* SPDX-License-Identifier: Apache-2.0 */
/* secrets.h - named secrets: files of KEY=VALUE lines under a secrets
 * directory, injected into the environment of every command of the
 * profiles that name them.
 *
 * Values live only in the daemon's memory and in the sealed payload memfd
 * of each call. They never appear in API answers, logs, error messages or
 * the state directory: errors name the file and line, never the content. */
#ifndef SLOTBOX_CONFIG_SECRETS_H
#define SLOTBOX_CONFIG_SECRETS_H

#include <stddef.h>

#include "common/err.h"

#define SB_SECRETS_DEFAULT_DIR "/etc/slotbox/secrets"
#define SB_SECRET_FILE_MAX (64 * 1024)

struct sb_secret_env {
	char **keys, **values; /* n pairs, owned; wiped on free */
	size_t n;
};

/* Read the secrets `names` (n_names of them) from dir into out. A later
 * file's KEY replaces an earlier one's. Fails, naming the file and line,
 * on a missing, unreadable or non-regular file, one not owned by root or
 * with any group or other permission bit (readable or writable),
 * or a line that is not KEY=VALUE (blank lines and # comments are fine). */
int sb_secrets_load(const char *dir, char *const *names, size_t n_names,
		    struct sb_secret_env *out, struct sb_err *err);

/* Zero the values and free everything. */
void sb_secrets_free(struct sb_secret_env *s);

#endif
