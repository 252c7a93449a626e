// SPDX-License-Identifier: MIT
/*
 * The cost of a probed TLS call: an in-process TLS client and server
 * joined by a memory BIO pair (no sockets, no other process), the
 * client writing SIZE bytes and the server reading them, N times.
 * Prints ns per SSL call (one write and one read per round), so runs
 * with and without probes on libssl can be compared.
 *
 *   bio_pair [N] [SIZE...]      defaults: 200000, 1024 16384
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Room for a full 16 KiB record and its overhead in each direction. */
#define BP_BUF (64 << 10)
#define BP_MAX_SIZE 16384

static void die(const char *what)
{
	fprintf(stderr, "bio_pair: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* A throwaway P-256 key and self-signed certificate, in memory. */
static void bp_cert(EVP_PKEY **key, X509 **cert)
{
	X509_NAME *name;

	*key = EVP_EC_gen("P-256");
	*cert = X509_new();
	if (!*key || !*cert)
		die("key generation failed");
	ASN1_INTEGER_set(X509_get_serialNumber(*cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(*cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(*cert), 3600);
	X509_set_pubkey(*cert, *key);
	name = X509_get_subject_name(*cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"bench", -1, -1, 0);
	X509_set_issuer_name(*cert, name);
	if (!X509_sign(*cert, *key, EVP_sha256()))
		die("signing failed");
}

static void bp_pair(SSL **client, SSL **server)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	BIO *cb, *sb;
	EVP_PKEY *key;
	X509 *cert;

	bp_cert(&key, &cert);
	if (!sctx || !cctx || !SSL_CTX_use_certificate(sctx, cert) ||
	    !SSL_CTX_use_PrivateKey(sctx, key))
		die("context setup failed");
	*client = SSL_new(cctx);
	*server = SSL_new(sctx);
	if (!BIO_new_bio_pair(&cb, BP_BUF, &sb, BP_BUF))
		die("BIO pair failed");
	SSL_set_bio(*client, cb, cb);
	SSL_set_bio(*server, sb, sb);
	SSL_set_connect_state(*client);
	SSL_set_accept_state(*server);
}

/* Steps both ends until both finished the handshake. */
static void bp_handshake(SSL *c, SSL *s)
{
	int rc, rs, i;

	for (i = 0; i < 100; i++) {
		rc = SSL_do_handshake(c);
		rs = SSL_do_handshake(s);
		if (rc == 1 && rs == 1)
			return;
	}
	die("handshake did not finish");
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* One round: the client writes size bytes, the server reads them. */
static void bp_round(SSL *c, SSL *s, const char *buf, char *in, int size)
{
	int got = 0, n;

	if (SSL_write(c, buf, size) != size)
		die("SSL_write failed");
	while (got < size) {
		n = SSL_read(s, in + got, BP_MAX_SIZE);
		if (n <= 0)
			die("SSL_read failed");
		got += n;
	}
}

int main(int argc, char **argv)
{
	static char buf[BP_MAX_SIZE], in[BP_MAX_SIZE];
	long rounds = argc > 1 ? atol(argv[1]) : 200000;
	const char *def[] = { "1024", "16384" };
	char **sizes = argc > 2 ? argv + 2 : (char **)def;
	int nsizes = argc > 2 ? argc - 2 : 2;
	SSL *c, *s;

	bp_pair(&c, &s);
	bp_handshake(c, s);
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < nsizes; i++) {
		int size = atoi(sizes[i]);
		double t0, t1;

		if (size <= 0 || size > BP_MAX_SIZE)
			die("SIZE must be 1..16384");
		for (long r = 0; r < rounds / 10; r++)	/* warm up */
			bp_round(c, s, buf, in, size);
		t0 = now_ns();
		for (long r = 0; r < rounds; r++)
			bp_round(c, s, buf, in, size);
		t1 = now_ns();
		printf("size=%d rounds=%ld ns_per_call=%.0f\n", size, rounds,
		       (t1 - t0) / (2.0 * rounds));
	}
	return 0;
}
