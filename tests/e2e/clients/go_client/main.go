// A Go net/http client for the end-to-end tests: POSTs a JSON body to
// a URL over TLS, trusting one CA file, and prints the protocol, the
// status and the body. net/http speaks HTTP/2 over TLS by default.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: go_client URL CA_FILE JSON [HEADER:VALUE...]")
		os.Exit(2)
	}
	url, caFile, body := os.Args[1], os.Args[2], os.Args[3]

	ca, err := os.ReadFile(caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}

	req, err := http.NewRequest("POST", url, bytes.NewBufferString(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range os.Args[4:] {
		if k, v, ok := bytes.Cut([]byte(h), []byte(":")); ok {
			req.Header.Set(string(k), string(bytes.TrimSpace(v)))
		}
	}

	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Proto, resp.StatusCode)
	fmt.Println(string(out))
}
