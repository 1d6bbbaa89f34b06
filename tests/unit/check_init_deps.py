#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What slotbox-init maps into every sandbox's init, leader and spare
(each a fork of it). Linked static (meson.build: init_static, argument
"static"): a static PIE that needs no library at all, so that no slot
process maps a shared library. Otherwise, with the static libarchive
(meson.build: init_archive): no libxml2, ICU or libstdc++
(src/init/init_archive_static.c). Reads the binary with readelf; TAP
output."""
import subprocess
import sys

FORBIDDEN = ("libxml2", "libicu", "libstdc++", "libarchive")


def readelf(flag):
    return subprocess.run(["readelf", flag, sys.argv[1]], capture_output=True, text=True,
                          check=True).stdout


needed = [line.split("[", 1)[1].rstrip("]") for line in readelf("-d").splitlines()
          if "(NEEDED)" in line]
fail = False
if len(sys.argv) > 2 and sys.argv[2] == "static":
    heads = readelf("-lh")
    pie = "DYN (" in heads  # a PIE: loaded at a random address
    interp = "INTERP" in heads
    print("1..2")
    ok = not needed and not interp
    print(("ok" if ok else "not ok") + " 1 - static: no library and no loader"
          + ("" if ok else ": needs " + " ".join(needed) + (" and an INTERP" if interp else "")))
    print(("ok" if pie else "not ok") + " 2 - a position-independent executable (ASLR)")
    fail = not ok or not pie
else:
    print("1..2")
    print(("ok" if "libc.so.6" in needed else "not ok") + " 1 - readelf lists its libraries: "
          + " ".join(needed))
    # A sanitizer build's runtime needs libstdc++ itself.
    sanitized = any(n.startswith(("libasan", "libubsan")) for n in needed)
    bad = [n for n in needed if n.startswith(FORBIDDEN)
           and not (sanitized and n.startswith("libstdc++"))]
    print(("not ok" if bad else "ok") + " 2 - none of " + ", ".join(FORBIDDEN)
          + (": found " + " ".join(bad) if bad else ""))
    fail = bool(bad) or "libc.so.6" not in needed
sys.exit(1 if fail else 0)
