// Command etcd is the unmodified upstream etcd server, built from its Go module (installing the server
// module directly is refused because of its replace directives) as the storage of the test API server.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
