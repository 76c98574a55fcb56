#!/bin/sh
# Smoke test of an installed appliance, in TAP: each line is folded into the
# integration report as its own test case.
echo "1..4"
n=0
t() {
	n=$((n + 1))
	desc=$1
	shift
	if "$@" >/dev/null 2>&1; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; fi
}
t "agent prints its status as JSON" sh -c 'appliance-agent status | grep -q "^{.*}$"'
t "agent writes its state file" sh -c 'appliance-agent status && test -s /var/lib/appliance-agent/status'
t "shared configuration is readable" test -r /etc/appliance/appliance.conf
t "motd is installed" test -s /usr/share/appliance/motd
