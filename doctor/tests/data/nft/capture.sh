#!/bin/sh
# Regenerates the recorded `nft -j list ruleset` (and iptables-*-save) outputs
# in this directory from the *.nft rulesets and the iptables/ufw scenarios
# below, each loaded into a throw-away network namespace. Needs root, nftables,
# iptables and ufw; never touches the host's firewall or /etc/ufw.
set -eu
cd "$(dirname "$0")"
ns="oc-capture-$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
fresh() { cleanup; ip netns add "$ns"; ip -n "$ns" link set lo up; ip -n "$ns" link add tailscale0 type veth peer name tsp; }
in_ns() { ip netns exec "$ns" "$@"; }

for f in *.nft; do
	name=${f%.nft}
	fresh
	in_ns nft -f "$f"
	in_ns nft -j list ruleset > "$name.json"
done

# iptables-nft: a user chain reached from INPUT.
fresh
for t in iptables ip6tables; do
	in_ns $t -P INPUT DROP
	in_ns $t -A INPUT -i lo -j ACCEPT
	in_ns $t -N extra
	in_ns $t -A extra -p tcp --dport 5432 -j ACCEPT
	in_ns $t -A INPUT -j extra
done
in_ns nft -j list ruleset > iptables_user_chain.json

# ufw, contract-correct, then with one iptables rule beside it. ufw runs in a
# private mount namespace over copies of its configuration.
fresh
tmp=$(mktemp -d)
cp -a /etc/ufw "$tmp/etc"
: > "$tmp/sysctl.conf"
sed "s|^IPT_SYSCTL=.*|IPT_SYSCTL=$tmp/sysctl.conf|" /etc/default/ufw > "$tmp/default"
cat > "$tmp/run.sh" <<EOS
set -e
mount --bind $tmp/etc /etc/ufw
mount --bind $tmp/default /etc/default/ufw
ufw --force reset >/dev/null
ufw default deny incoming >/dev/null
ufw allow in on tailscale0 >/dev/null
ufw allow 41641/udp >/dev/null
ufw --force enable >/dev/null
ufw status verbose > ufw_contract.status
EOS
in_ns unshare -m --propagation private sh "$tmp/run.sh"
in_ns nft -j list ruleset > ufw_contract.json
in_ns iptables-nft-save | grep -v '^#' > ufw_contract.iptables-save
in_ns ip6tables-nft-save | grep -v '^#' > ufw_contract.ip6tables-save
in_ns iptables -I INPUT -p tcp --dport 5432 -j ACCEPT
in_ns nft -j list ruleset > ufw_plus_iptables.json
in_ns iptables-nft-save | grep -v '^#' > ufw_plus_iptables.iptables-save
in_ns ip6tables-nft-save | grep -v '^#' > ufw_plus_iptables.ip6tables-save

# ufw with `allow 22/tcp`, then with `limit 22/tcp` instead, in fresh namespaces.
for rule in allow limit; do
	fresh
	cp -a /etc/ufw/. "$tmp/etc/"
	sed -i "s|^ufw status verbose > .*|ufw $rule 22/tcp >/dev/null|" "$tmp/run.sh"
	in_ns unshare -m --propagation private sh "$tmp/run.sh"
	in_ns nft -j list ruleset > "ufw_${rule}_ssh.json"
	in_ns iptables-nft-save | grep -v '^#' > "ufw_${rule}_ssh.iptables-save"
	in_ns ip6tables-nft-save | grep -v '^#' > "ufw_${rule}_ssh.ip6tables-save"
	sed -i "s|^ufw $rule 22/tcp >/dev/null|ufw status verbose > ufw_contract.status|" "$tmp/run.sh"
done
rm -rf "$tmp"

# Docker's iptables-nft rules for a port published on every address.
fresh
for c in "-t nat -N DOCKER" \
	"-t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER" \
	"-t nat -A DOCKER -i docker0 -j RETURN" \
	"-t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80" \
	"-P FORWARD DROP" \
	"-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" \
	"-A FORWARD -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT"; do
	# shellcheck disable=SC2086
	in_ns iptables-nft $c
done
in_ns nft -j list ruleset > docker_iptables.json
in_ns iptables-nft-save | grep -v '^#' > docker_iptables.iptables-save
in_ns ip6tables-nft-save | grep -v '^#' > docker_iptables.ip6tables-save

# iptables-legacy rules, invisible to nft.
fresh
in_ns iptables-legacy -A INPUT -p tcp --dport 22 -j DROP
in_ns iptables-legacy-save | grep -v '^#' > legacy_filter.iptables-save
