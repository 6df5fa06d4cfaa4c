#!/bin/bash
#
# unicast_ports.sh: a unicast transfer that a firewall stops says which
# port on which host.  With the agent's data port (UDP 56001) blocked, the
# agent hears nothing and the machine fails naming that port on the
# agent's machine; with the server's feedback port (UDP 56002, data_port +
# 1) blocked, the agent hears the announcements but its HELLOs never
# arrive, and the reason names that port on the server.  Before, both gave
# the same "no answer from the agent's receiver" text.  Exit 0 pass, 1
# fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"
command -v nft >/dev/null 2>&1 || al_skip "needs nft (nftables)"

al_server_start
al_agent_start a
al_wait_online a
al_pkg UP "exit 0" --type application
"$FC" scenario create up --package UP --unicast >/dev/null ||
    al_fail "scenario create"

# block PORT: drop UDP to PORT on the loopback the two share.
block()
{
	nft add table inet fcports &&
	nft add chain inet fcports in '{ type filter hook input priority 0; }' &&
	nft add rule inet fcports in udp dport "$1" drop || al_fail "nft"
}
unblock()
{
	nft delete table inet fcports || al_fail "nft delete"
}

block 56001
r=$(al_run up a)
al_wait_state "$r" a failed 40
al_has "$r" a error "heard nothing from this server on its UDP port 56001 .*a firewall on the agent's machine" ||
    al_fail "agent's port blocked: $(al_mstate "$r" a error)"
unblock
al_ok "the agent's data port blocked: '$(al_mstate "$r" a error | cut -c1-90)...'"

block 56002
r=$(al_run up a)
al_wait_state "$r" a failed 40
al_has "$r" a error "hears this server's announcements, but none of its answers reached the server .*UDP port 56002 on this server" ||
    al_fail "server's port blocked: $(al_mstate "$r" a error)"
unblock
al_ok "the server's feedback port blocked: '$(al_mstate "$r" a error | cut -c1-90)...'"

# Open again: the same run succeeds.
r=$(al_run up a)
al_wait_state "$r" a succeeded 40
al_ok "open again: succeeded"
echo "PASS: unicast_ports"
exit 0
