#!/bin/sh
# make-test-certs.sh DIR: a throw-away CA and a server certificate for the
# SPICE test server's TLS port (--tls-dir DIR).  Subject of the server
# certificate: O=gst-spice test, CN=localhost; names localhost and
# 127.0.0.1.  Valid for two days.
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/O=gst-spice test/CN=gst-spice test CA" \
  -keyout ca-key.pem -out ca-cert.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/O=gst-spice test/CN=localhost" \
  -keyout server-key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
openssl x509 -req -in server.csr -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial \
  -days 2 -extfile server.ext -out server-cert.pem 2>/dev/null
# a CA that did not sign the server's certificate
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/O=someone else/CN=other CA" \
  -keyout other-ca-key.pem -out other-ca-cert.pem 2>/dev/null
