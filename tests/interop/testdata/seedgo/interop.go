// This file is not in the guide: it holds what the guide leaves to the
// reader (where the cluster is and which TLS files to use) and the bounded
// run that replaces main's `select {}`. It reads the variables the guide's
// §5 exports for etcdctl, so the program and etcdctl talk to the same
// member with the same certificates:
//
//	ETCDCTL_ENDPOINTS  comma-separated client URLs (the guide's "localhost:2379")
//	ETCDCTL_CACERT     the CA certificate (ca.crt)
//	ETCDCTL_CERT       the client certificate (the guide uses server.crt)
//	ETCDCTL_KEY        its key (server.key)
//
// The bounded run is driven by the test through stdin, so that what it
// prints does not depend on timing:
//
//  1. It waits for a first line: the test sends it once the watch the guide
//     starts in main has delivered a change the test made.
//  2. It calls the guide's PutIfNotExists twice (true, then false) and reads
//     back through a second ConfigStore whose cache is empty, so Get, GetJSON
//     and GetAll go to the server.
//  3. It waits for stdin to close: meanwhile the test changes keys with its
//     own client and checks the guide's watch callback reports them.
//  4. It prints Get results that come from the cache the watch keeps up to
//     date, and returns; main's deferred cancel and Close then run.
//
// Every wait is bounded: with no word from the test for runTimeout the
// program exits with status 3.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"os"
	"strings"
	"time"
)

const runTimeout = 60 * time.Second

func interopEndpoints() []string {
	eps := os.Getenv("ETCDCTL_ENDPOINTS")
	if eps == "" {
		log.Fatal("interop: ETCDCTL_ENDPOINTS is not set")
	}
	return strings.Split(eps, ",")
}

func interopTLS() *tls.Config {
	ca, err := os.ReadFile(os.Getenv("ETCDCTL_CACERT"))
	if err != nil {
		log.Fatalf("interop: ETCDCTL_CACERT: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		log.Fatal("interop: ETCDCTL_CACERT holds no certificate")
	}
	cert, err := tls.LoadX509KeyPair(os.Getenv("ETCDCTL_CERT"), os.Getenv("ETCDCTL_KEY"))
	if err != nil {
		log.Fatalf("interop: ETCDCTL_CERT/ETCDCTL_KEY: %v", err)
	}
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// stdinLines delivers the lines of stdin and is closed at EOF.
func stdinLines() <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// wait returns true for a line and false at EOF, and exits the program
// with status 3 if neither comes within runTimeout.
func wait(lines <-chan string, step string) bool {
	select {
	case _, ok := <-lines:
		return ok
	case <-time.After(runTimeout):
		fmt.Fprintf(os.Stderr, "interop: bounded run: no word from the test within %v at %s\n", runTimeout, step)
		os.Exit(3)
		return false
	}
}

func interopRun(store *ConfigStore) {
	lines := stdinLines()
	if !wait(lines, "step 1") {
		log.Fatal("interop: stdin closed before step 2")
	}

	ok, err := store.PutIfNotExists("lock", "acquired")
	fmt.Println("PutIfNotExists(lock):", ok, err)
	ok, err = store.PutIfNotExists("lock", "acquired")
	fmt.Println("PutIfNotExists(lock):", ok, err)

	fresh, err := NewConfigStore(interopEndpoints(), "/config/api/")
	if err != nil {
		log.Fatal(err)
	}
	defer fresh.Close()
	v, err := fresh.Get("database_url")
	fmt.Println("Fresh Get(database_url):", v, err)
	var settings map[string]interface{}
	err = fresh.GetJSON("settings", &settings)
	fmt.Println("Fresh GetJSON(settings):", settings, err)
	v, err = fresh.Get("missing")
	fmt.Printf("Fresh Get(missing): %q %v\n", v, err)
	all, err := fresh.GetAll()
	fmt.Println("Fresh GetAll:", all, err)

	if wait(lines, "step 3") {
		log.Fatal("interop: expected stdin to close at step 3")
	}
	v, err = store.Get("database_url")
	fmt.Println("Cached Get(database_url):", v, err)
	v, err = store.Get("feature_flag")
	fmt.Printf("Get(feature_flag): %q %v\n", v, err)
}
