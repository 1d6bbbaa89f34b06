/* SPDX-License-Identifier: Apache-2.0 */
/* dashboard.h - the dashboard page, embedded at build time.
 *
 * gen_dashboard.py turns src/api/dashboard.html into a C array (no HTML
 * is kept in C strings by hand) and derives the page's
 * Content-Security-Policy from it: the sha256 of its one inline script
 * and its one inline style, so nothing else can run or style the page,
 * not even markup that found its way into the DOM. */
#ifndef SLOTBOX_API_DASHBOARD_H
#define SLOTBOX_API_DASHBOARD_H

#include <stddef.h>

extern const unsigned char dashboard_html[];
extern const size_t dashboard_html_len;
extern const char dashboard_csp[];

#endif
