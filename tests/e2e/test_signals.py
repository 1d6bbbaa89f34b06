# SPDX-License-Identifier: Apache-2.0
"""Commands start with every signal at its default disposition, whatever
the daemon inherited: a daemon started with nohup ignores SIGHUP (and one
started with `&` from a script ignores INT and QUIT), and execve keeps
ignored signals, so without a reset every command of every slot would
ignore them too (an INT trap or a terminal's hangup would never fire)."""
from slotbox import Client

ONE_SLOT = """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
"""


def sig_ignored(client, slot):
    r = client.bash(slot, "grep '^SigIgn:' /proc/self/status")
    assert r.success, r
    return int(r.output.split()[1], 16)


def test_commands_do_not_inherit_the_daemons_ignored_signals(make_daemon):
    d = make_daemon(ONE_SLOT, start=False)
    d.prefix = ["nohup"]  # SIGHUP ignored in slotboxd, as an operator's nohup does
    d.start()
    with Client(d.socket) as c:
        slot = c.acquire("signals", timeout_s=30)
        assert sig_ignored(c, slot) == 0, "a command ignores signals it did not ask to ignore"
        # and a trap on HUP fires
        r = c.bash(slot, "trap 'echo got-hup' HUP; kill -HUP $$; sleep 0.1; echo after")
        assert "got-hup" in r.output, r
