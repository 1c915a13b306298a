// Command etcd is the upstream etcd server, built from its pinned module for the local kind node
// image (go install refuses etcd's module because of its replace directives).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
