#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""slotbox-init, linked with the static libarchive (meson.build:
init_archive), must not load libxml2, ICU or libstdc++: every sandbox's
init, leader and spare is a fork of it (src/init/init_archive_static.c).
Reads the binary's DT_NEEDED entries with readelf; TAP output."""
import subprocess
import sys

FORBIDDEN = ("libxml2", "libicu", "libstdc++", "libarchive")

out = subprocess.run(["readelf", "-d", sys.argv[1]], capture_output=True, text=True,
                     check=True).stdout
needed = [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]
print("1..2")
print(("ok" if "libc.so.6" in needed else "not ok") + " 1 - readelf lists its libraries: "
      + " ".join(needed))
# A sanitizer build's runtime needs libstdc++ itself.
sanitized = any(n.startswith(("libasan", "libubsan")) for n in needed)
bad = [n for n in needed if n.startswith(FORBIDDEN)
       and not (sanitized and n.startswith("libstdc++"))]
print(("not ok" if bad else "ok") + " 2 - none of " + ", ".join(FORBIDDEN)
      + (": found " + " ".join(bad) if bad else ""))
sys.exit(1 if bad else 0)
