// Command etcd is etcd's own server entry point, built from the Go module proxy.
// etcd's root module replaces its submodules with local paths, so `go install` of it fails;
// this wrapper imports the published server module instead.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
