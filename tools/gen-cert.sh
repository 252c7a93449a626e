#!/usr/bin/env bash
# Make a throwaway CA and a server certificate for the end-to-end tests.
# Usage: gen-cert.sh DIR
# Writes DIR/ca.pem, DIR/server.pem and DIR/server.key.
#
# The server certificate also names the real provider hosts, so a client
# can send the real SNI and Host (curl --resolve / --connect-to, an SDK
# with a patched DNS) while the connection still goes to 127.0.0.1.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Short-lived on purpose: the keys live in a test directory.
days=30
sans="IP:127.0.0.1,DNS:localhost,DNS:api.openai.com"
sans="$sans,DNS:api.anthropic.com,DNS:generativelanguage.googleapis.com"

# The CA: self-signed, allowed to sign, nothing else.
openssl req -x509 -newkey rsa:2048 -nodes -days "$days" \
	-subj "/CN=llmtap test CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" \
	-keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null

# The server key and its signing request.
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
	-keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null

# Sign it; clients check subjectAltName, not CN (RFC 6125 section 6.4.4).
cat > "$work/ext.cnf" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$sans
EXT
openssl x509 -req -in "$work/server.csr" -days "$days" \
	-CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
	-extfile "$work/ext.cnf" -out "$work/server.pem" 2>/dev/null

cp "$work/ca.pem" "$work/server.pem" "$work/server.key" "$dir/"
chmod 600 "$dir/server.key"
echo "gen-cert: wrote $dir/ca.pem $dir/server.pem $dir/server.key"
